import type { ApiError, ErrorDetail } from '../api.ts';
import { useI18n } from '../i18n/index.ts';
import { href } from '../router.ts';
import { Badge } from './ui.tsx';
import { DEFAULT_PROJECT } from './work-model.tsx';

/** One object of POST /api/v1/apply's answer (center/api/resource-routes.ts); dry runs leave out revision. */
export interface ApplyItem {
  action: 'created' | 'configured' | 'unchanged';
  kind: string;
  name: string;
  project?: string;
  revision?: number;
}

export const label = (i: ApplyItem) => `${i.kind} ${i.project ? `${i.project}/` : ''}${i.name}`;

/** The dashboard page of an applied object, for the kinds that have one. */
export function objectHref(i: ApplyItem): string | null {
  const project = i.project ?? DEFAULT_PROJECT;
  switch (i.kind) {
    case 'Service':
      return href('services', project, i.name);
    case 'Device':
      return href('devices', project, i.name);
    case 'Rule':
      return href('rules', project, i.name);
    case 'Node':
      return href('nodes', i.name);
    case 'Site':
      return href('topology', i.name);
    default:
      return null;
  }
}

/** What a dry run says applying would do. */
export function PlanList({ items }: { items: ApplyItem[] }) {
  const { t } = useI18n();
  return (
    <ul class="apply-plan">
      {items.map((i) => (
        <li key={label(i)}>{t(`apply.plan.${i.action}`, { object: label(i) })}</li>
      ))}
    </ul>
  );
}

/** What was applied, each linked to its page. */
export function ResultList({ items }: { items: ApplyItem[] }) {
  const { t } = useI18n();
  return (
    <ul class="apply-result">
      {items.map((i) => {
        const link = objectHref(i);
        return (
          <li key={label(i)}>
            <Badge value={i.action === 'unchanged' ? 'Normal' : 'Ready'} label={t(`apply.result.${i.action}`)} /> {link ? <a href={link}>{label(i)}</a> : label(i)}
          </li>
        );
      })}
    </ul>
  );
}

/**
 * Every problem the center reported; one with a line is a button that puts
 * the cursor on it. The list is the whole story for problems without a line
 * (and for everything while the plain textarea stands in for the editor).
 */
export function ErrorList({ details, onLine }: { details: ErrorDetail[]; onLine: (line: number) => void }) {
  const { t } = useI18n();
  return (
    <ul class="apply-errors">
      {details.map((d, n) => (
        <li key={`${n}:${d.path}`}>
          {d.line !== undefined ? (
            <button type="button" class="apply-error-line" onClick={() => onLine(d.line!)}>
              {t('apply.errors.line', { line: d.line, path: d.path, message: d.message })}
            </button>
          ) : (
            t('apply.errors.noLine', { path: d.path, message: d.message })
          )}
        </li>
      ))}
    </ul>
  );
}

/** `error` as the editor's inline diagnostics: those with a line, as `path: message`. */
export function diagnosticsOf(error: ApiError | null) {
  return (error?.details ?? []).filter((d) => d.line !== undefined).map((d) => ({ line: d.line!, message: `${d.path}: ${d.message}` }));
}
