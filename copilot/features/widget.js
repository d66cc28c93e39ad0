// Lean Companion: checked tactic suggestions in the Lean infoview.
// Served by the lean-companion proxy through Lean.Widget.getWidgetSource (no Lean library in
// the project). Plain ES module, no build step: React.createElement instead of JSX.
import * as React from 'react';
import { EditorContext } from '@leanprover/infoview';

const e = React.createElement;

function label(s) {
  if (s.verdict === 'closes') return 'closes the goal';
  const n = (s.goalsAfter || []).length;
  return n + (n === 1 ? ' goal left' : ' goals left');
}

function edit(props, s) {
  return {
    documentChanges: [{
      textDocument: { uri: props.uri, version: props.version },
      edits: [{ range: s.range || props.range, newText: s.newText !== undefined ? s.newText : s.tactic }],
    }],
  };
}

export default function LeanCompanionSuggestions(props) {
  const ec = React.useContext(EditorContext);
  const [status, setStatus] = React.useState('');
  const suggestions = props.suggestions || [];
  if (suggestions.length === 0) {
    return e('div', { className: 'ml1' }, 'Lean Companion: no checked suggestion here yet.');
  }
  const apply = async (s) => {
    try {
      await ec.api.applyEdit(edit(props, s));
      setStatus('applied: ' + s.tactic);
    } catch (err) {
      setStatus('could not apply: ' + String(err));
    }
  };
  const rows = suggestions.map((s, i) =>
    e('li', { key: i, className: 'mv1' },
      e('a', {
        className: 'link pointer dim font-code',
        title: 'Checked by Lean: ' + label(s) + ' (source: ' + s.source + ')',
        onClick: () => apply(s),
      }, s.tactic),
      e('span', { className: 'ml2 o-70' }, (s.verdict === 'closes' ? '\u2714 ' : '\u2192 ') + label(s))));
  return e('details', { open: true },
    e('summary', { className: 'mv2 pointer' }, 'Lean Companion suggestions (checked by Lean)'),
    e('ul', { className: 'list pl2' }, rows),
    status ? e('div', { className: 'o-70' }, status) : null);
}
