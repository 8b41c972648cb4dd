import { Compartment, EditorState, Prec } from '@codemirror/state';
import { EditorView, drawSelection, highlightActiveLine, highlightActiveLineGutter, highlightSpecialChars, keymap, lineNumbers } from '@codemirror/view';
import { HighlightStyle, bracketMatching, indentOnInput, syntaxHighlighting } from '@codemirror/language';
import { defaultKeymap, history, historyKeymap } from '@codemirror/commands';
import { diagnosticCount, lintGutter, lintKeymap, setDiagnostics, type Diagnostic } from '@codemirror/lint';
import { yaml } from '@codemirror/lang-yaml';
import { tags } from '@lezer/highlight';

/**
 * The CodeMirror side of the YAML editor. Only yaml-editor.tsx imports it,
 * and only with import(), so CodeMirror is a chunk of its own that pages
 * without an editor never load.
 *
 * The setup is CodeMirror's basicSetup without autocompletion, folding,
 * search, multiple cursors and bracket closing (a manifest needs none of
 * them). Tab is deliberately not bound (no indentWithTab): in a page, Tab
 * must move the focus on, or keyboard users are trapped in the editor.
 * Indenting is Mod-] and Mod-[ (defaultKeymap) and Enter keeps the indent.
 */

export interface LineDiagnostic {
  /** 1-based line of the text. */
  line: number;
  message: string;
}

export interface CmEditor {
  setText(text: string): void;
  setDiagnostics(diagnostics: LineDiagnostic[]): void;
  focusLine(line: number): void;
  focus(): void;
  destroy(): void;
}

export interface CmOptions {
  text: string;
  cursor: number;
  labelId: string;
  describedBy: string;
  onChange: (text: string) => void;
  onSubmit: () => void;
}

// Colours come from the page's variables, so light and dark follow the page.
const theme = EditorView.theme({
  '&': { backgroundColor: 'var(--panel)', color: 'var(--text)', border: '1px solid var(--line)', borderRadius: '6px', maxHeight: '70vh' },
  '&.cm-focused': { outline: '2px solid var(--focus)', outlineOffset: '2px' },
  '.cm-scroller': { fontFamily: "ui-monospace, 'DejaVu Sans Mono', 'Noto Sans Mono CJK KR', monospace", fontSize: '0.9rem', overflow: 'auto' },
  '.cm-content, .cm-gutter': { minHeight: '22em' },
  '.cm-content': { caretColor: 'var(--text)' },
  '.cm-cursor': { borderLeftColor: 'var(--text)' },
  '.cm-gutters': { backgroundColor: 'var(--bg)', color: 'var(--muted)', borderRight: '1px solid var(--line)' },
  '.cm-activeLine, .cm-activeLineGutter': { backgroundColor: 'var(--apply-active-line)' },
});

const highlight = HighlightStyle.define([
  { tag: tags.definition(tags.propertyName), color: 'var(--apply-key)' },
  { tag: [tags.string, tags.special(tags.string)], color: 'var(--apply-string)' },
  { tag: tags.lineComment, color: 'var(--muted)', fontStyle: 'italic' },
  { tag: [tags.meta, tags.keyword, tags.typeName, tags.labelName], color: 'var(--apply-meta)' },
]);

/** Tells CodeMirror's own parts (selection, tooltips, the lint panel) which scheme the page is in. */
function followColorScheme(): { extension: ReturnType<Compartment['of']>; watch: (view: EditorView) => () => void } {
  const scheme = new Compartment();
  const media = matchMedia('(prefers-color-scheme: dark)');
  return {
    extension: scheme.of(EditorView.darkTheme.of(media.matches)),
    watch: (view) => {
      const on = () => view.dispatch({ effects: scheme.reconfigure(EditorView.darkTheme.of(media.matches)) });
      media.addEventListener('change', on);
      return () => media.removeEventListener('change', on);
    },
  };
}

export function createEditor(parent: HTMLElement, o: CmOptions): CmEditor {
  const scheme = followColorScheme();
  const state = EditorState.create({
    doc: o.text,
    selection: { anchor: Math.min(o.cursor, o.text.length) },
    extensions: [
      lineNumbers(),
      highlightActiveLineGutter(),
      highlightSpecialChars(),
      history(),
      drawSelection(),
      indentOnInput(),
      syntaxHighlighting(highlight),
      bracketMatching(),
      highlightActiveLine(),
      Prec.highest(keymap.of([{ key: 'Mod-Enter', run: () => (o.onSubmit(), true) }])),
      keymap.of([...defaultKeymap, ...historyKeymap, ...lintKeymap]),
      yaml(),
      lintGutter(),
      theme,
      scheme.extension,
      EditorView.contentAttributes.of({ 'aria-labelledby': o.labelId, 'aria-describedby': o.describedBy }),
      EditorView.contentAttributes.of((view) => ({ 'aria-invalid': diagnosticCount(view.state) > 0 ? 'true' : 'false' })),
      EditorView.updateListener.of((u) => u.docChanged && o.onChange(u.state.doc.toString())),
    ],
  });
  const view = new EditorView({ state, parent });
  const unwatch = scheme.watch(view);
  const lineAt = (n: number) => view.state.doc.line(Math.min(Math.max(1, n), view.state.doc.lines));
  return {
    // A whole-document change, so a template replacing the draft can be undone.
    setText: (text) => {
      if (text !== view.state.doc.toString()) view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: text } });
    },
    setDiagnostics: (list) => {
      const diagnostics: Diagnostic[] = list.map((d) => {
        const line = lineAt(d.line);
        return { from: line.from, to: line.to, severity: 'error', message: d.message };
      });
      view.dispatch(setDiagnostics(view.state, diagnostics));
    },
    focusLine: (n) => {
      const line = lineAt(n);
      view.dispatch({ selection: { anchor: line.from }, effects: EditorView.scrollIntoView(line.from, { y: 'center' }) });
      view.focus();
    },
    focus: () => view.focus(),
    destroy: () => {
      unwatch();
      view.destroy();
    },
  };
}
