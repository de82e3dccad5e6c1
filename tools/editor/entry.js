// The few CodeMirror 6 pieces the page uses, exposed as window.BpdrillEditor.
import { EditorView, basicSetup } from "codemirror";
import { keymap } from "@codemirror/view";
import { EditorState, Prec } from "@codemirror/state";
import { indentUnit } from "@codemirror/language";
import { python } from "@codemirror/lang-python";
import { setDiagnostics, lintGutter } from "@codemirror/lint";

// An editor in parent holding text; onChange() after each edit; keys: {"Mod-Enter": fn, "Mod-s": fn}.
export function create(parent, text, { onChange, keys = {}, readOnly = false } = {}) {
  const bindings = Object.entries(keys).map(([key, run]) => ({ key, run: () => { run(); return true; } }));
  return new EditorView({
    parent,
    state: EditorState.create({
      doc: text,
      extensions: [
        Prec.highest(keymap.of(bindings)),
        basicSetup,
        python(),
        indentUnit.of("    "),
        lintGutter(),
        EditorState.readOnly.of(readOnly),
        EditorView.updateListener.of((u) => { if (u.docChanged && onChange) onChange(); }),
      ],
    }),
  });
}

export function text(view) { return view.state.doc.toString(); }

export function replace(view, text) {
  view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: text } });
}

// Diagnoses at their lines: [{line, message, severity}], lines from 1.
export function mark(view, items) {
  const doc = view.state.doc;
  const diagnostics = items
    .filter((d) => d.line >= 1 && d.line <= doc.lines)
    .map((d) => {
      const line = doc.line(d.line);
      return { from: line.from, to: line.to, severity: d.severity || "error", message: d.message };
    });
  view.dispatch(setDiagnostics(view.state, diagnostics));
}
