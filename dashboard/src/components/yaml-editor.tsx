import type { MutableRef } from 'preact/hooks';
import { useEffect, useRef, useState } from 'preact/hooks';
import type { CmEditor, LineDiagnostic } from './yaml-editor-cm.ts';

export type { LineDiagnostic };

/** What the page can do to the editor besides listening: replace the text (a template), put the cursor on a line (the error list). */
export interface EditorControl {
  setText(text: string): void;
  focusLine(line: number): void;
}

type CmModule = typeof import('./yaml-editor-cm.ts');
let loading: Promise<CmModule> | null = null;
// Loaded on first use, once per page load; a failed load is tried again next time.
const loadCodeMirror = () => (loading ??= import('./yaml-editor-cm.ts').catch((e: unknown) => ((loading = null), Promise.reject(e))));

/** Offset of the start of a 1-based line (the textarea's equivalent of CodeMirror's doc.line). */
function offsetOfLine(text: string, line: number): number {
  let at = 0;
  for (let n = 1; n < line; n++) {
    const nl = text.indexOf('\n', at);
    if (nl < 0) break;
    at = nl + 1;
  }
  return at;
}

/**
 * A YAML editor: a plain textarea at once, CodeMirror (loaded on demand) as
 * soon as it has arrived, with the same text, cursor and focus. Diagnostics
 * show on their lines in CodeMirror; the textarea has only the page's list.
 * Ctrl/Cmd+Enter calls onSubmit in both.
 *
 * The text is the editor's own (`initial` is read once): it reports every
 * change, and the page replaces the text only through `control`. Feeding
 * the text back as a prop would race with typing, since a render (and its
 * effect) can carry a value that keystrokes have already overtaken.
 */
export function YamlEditor(props: {
  initial: string;
  onChange: (text: string) => void;
  onSubmit: () => void;
  labelId: string;
  describedBy: string;
  diagnostics: LineDiagnostic[];
  control: MutableRef<EditorControl | null>;
}) {
  const { diagnostics, control } = props;
  const host = useRef<HTMLDivElement>(null);
  const area = useRef<HTMLTextAreaElement>(null);
  const [cm, setCm] = useState<CmEditor | null>(null);
  const text = useRef(props.initial);
  const focusWhenShown = useRef(false);
  // CodeMirror is created once; it calls through this so it always reaches the current props.
  const latest = useRef(props);
  latest.current = props;
  const changed = (next: string) => {
    text.current = next;
    latest.current.onChange(next);
  };

  useEffect(() => {
    let editor: CmEditor | null = null;
    let cancelled = false;
    loadCodeMirror().then(
      ({ createEditor }) => {
        if (cancelled || !host.current) return;
        const ta = area.current;
        focusWhenShown.current = ta !== null && document.activeElement === ta;
        editor = createEditor(host.current, {
          text: text.current,
          cursor: ta?.selectionStart ?? 0,
          labelId: latest.current.labelId,
          describedBy: latest.current.describedBy,
          onChange: changed,
          onSubmit: () => latest.current.onSubmit(),
        });
        setCm(editor);
      },
      // Without CodeMirror the textarea stays: the page still works.
      () => {},
    );
    return () => {
      cancelled = true;
      editor?.destroy();
    };
  }, []);

  // The editor is hidden until this render has removed the textarea: only now can it take the focus.
  useEffect(() => {
    if (cm && focusWhenShown.current) cm.focus();
  }, [cm]);
  useEffect(() => cm?.setDiagnostics(diagnostics), [cm, diagnostics]);
  useEffect(() => {
    control.current = cm ?? {
      setText: (next) => {
        if (area.current) area.current.value = next;
        changed(next);
      },
      focusLine: (line) => {
        const ta = area.current;
        if (!ta) return;
        const at = offsetOfLine(ta.value, line);
        ta.focus();
        ta.setSelectionRange(at, at);
      },
    };
  }, [cm, control]);

  return (
    <div class="apply-editor">
      <div ref={host} hidden={!cm} />
      {!cm && (
        <textarea
          ref={area}
          class="apply-textarea"
          aria-labelledby={props.labelId}
          aria-describedby={props.describedBy}
          aria-invalid={diagnostics.length > 0}
          spellcheck={false}
          rows={16}
          defaultValue={props.initial}
          onInput={(e) => changed((e.target as HTMLTextAreaElement).value)}
          onKeyDown={(e) => {
            if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
              e.preventDefault();
              props.onSubmit();
            }
          }}
        />
      )}
    </div>
  );
}
