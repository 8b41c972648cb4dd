import { useMemo, useRef, useState } from 'preact/hooks';
import { asApiError, type ApiError } from '../api.ts';
import { useLive } from '../context.ts';
import { useI18n } from '../i18n/index.ts';
import { Card, Page } from '../components/ui.tsx';
import { YamlEditor, type EditorControl } from '../components/yaml-editor.tsx';
import { TEMPLATES } from '../components/apply-templates.ts';
import { APPLY_URL, useDryRun, type Check } from '../components/apply-validation.ts';
import { ErrorList, PlanList, ResultList, diagnosticsOf, type ApplyItem } from '../components/apply-results.tsx';

// Per tab: a reload keeps the draft, a new tab starts from a template.
const DRAFT_KEY = 'gedge.apply.draft';

/**
 * #/apply: a YAML editor checked by the center as one types (a dry run),
 * every problem shown on its line and listed below, then applied with a
 * button or Ctrl/Cmd+Enter.
 */
export function Apply() {
  const { t } = useI18n();
  const live = useLive();
  const [initial] = useState(() => sessionStorage.getItem(DRAFT_KEY) ?? TEMPLATES[0]!.text(t));
  const [text, setText] = useState(initial);
  // Ctrl+Enter can come before the render of the last keystroke: apply what the editor holds.
  const latestText = useRef(initial);
  const [template, setTemplate] = useState('');
  const [again, setAgain] = useState(0);
  const { check, pending } = useDryRun(live.api, text, again);
  const [busy, setBusy] = useState(false);
  const [applied, setApplied] = useState<ApplyItem[] | null>(null);
  const [applyError, setApplyError] = useState<ApiError | null>(null);
  const control = useRef<EditorControl | null>(null);

  const error = applyError ?? (check.state === 'invalid' ? check.error : null);
  const diagnostics = useMemo(() => diagnosticsOf(error), [error]);
  const blocked = busy || check.state === 'invalid' || check.state === 'empty';

  const edit = (next: string) => {
    latestText.current = next;
    setText(next);
    setApplyError(null);
    sessionStorage.setItem(DRAFT_KEY, next);
  };
  const apply = async () => {
    if (blocked) return;
    setBusy(true);
    try {
      const r = await live.api.request<{ items: ApplyItem[] }>('POST', APPLY_URL, latestText.current);
      setApplied(r.items);
      setApplyError(null);
      // The dry run's "will create" is out of date now: ask again.
      setAgain((n) => n + 1);
    } catch (e) {
      setApplied(null);
      setApplyError(asApiError(e));
    } finally {
      setBusy(false);
    }
  };
  const loadTemplate = (id: string) => {
    setTemplate(id);
    const tpl = TEMPLATES.find((x) => x.id === id);
    // Through the editor, so CodeMirror can undo it; its change comes back through edit().
    if (tpl) control.current?.setText(tpl.text(t));
  };

  return (
    <Page title={t('apply.title')}>
      <div class="card apply">
        <div class="apply-bar">
          <label class="apply-template">
            {t('apply.template.label')}
            <select value={template} onChange={(e) => loadTemplate((e.target as HTMLSelectElement).value)}>
              <option value="" disabled>
                {t('apply.template.choose')}
              </option>
              {TEMPLATES.map((x) => (
                <option key={x.id} value={x.id}>
                  {t(x.name)}
                </option>
              ))}
            </select>
          </label>
          <button type="button" class="primary" data-action="apply" disabled={blocked} onClick={() => void apply()}>
            {t(busy ? 'apply.applying' : 'apply.submit')}
          </button>
        </div>
        <h2 id="apply-editor-label">{t('apply.editor.label')}</h2>
        <p id="apply-editor-hint" class="muted apply-hint">
          {t('apply.editor.hint')}
        </p>
        <YamlEditor initial={initial} onChange={edit} onSubmit={() => void apply()} labelId="apply-editor-label" describedBy="apply-editor-hint" diagnostics={diagnostics} control={control} />
        <CheckStatus check={check} pending={pending} />
        <div class="apply-problems" role="alert" data-apply-errors>
          {error && <Problems error={error} fromApply={error === applyError} onLine={(line) => control.current?.focusLine(line)} />}
        </div>
      </div>
      <div role="status" data-apply-result>
        {applied && (
          <Card title={t('apply.result.title')}>
            <ResultList items={applied} />
          </Card>
        )}
      </div>
    </Page>
  );
}

/** The dry run's verdict when it is good (dimmed while a newer check runs); problems are in the alert below. */
function CheckStatus({ check, pending }: { check: Check; pending: boolean }) {
  const { t } = useI18n();
  return (
    <div class="apply-check" role="status" aria-busy={pending}>
      {check.state === 'valid' ? (
        <div class={pending ? 'apply-stale' : undefined}>
          <p class="apply-valid">{t('apply.check.valid')}</p>
          <PlanList items={check.items} />
        </div>
      ) : pending || check.state === 'unknown' ? (
        <p class="muted">{t('apply.check.checking')}</p>
      ) : check.state === 'empty' ? (
        <p class="muted">{t('apply.check.empty')}</p>
      ) : null}
    </div>
  );
}

function Problems({ error, fromApply, onLine }: { error: ApiError; fromApply: boolean; onLine: (line: number) => void }) {
  const { t } = useI18n();
  const summary = fromApply ? t('apply.errors.applyFailed', { message: error.message }) : error.details.length ? t('apply.check.invalid', { n: error.details.length }) : t('apply.check.failed', { message: error.message });
  return (
    <>
      <h3>{t('apply.errors.title')}</h3>
      <p>{summary}</p>
      <ErrorList details={error.details} onLine={onLine} />
    </>
  );
}
