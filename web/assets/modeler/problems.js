// Pointing at what is wrong: the server's problems ({element_id, line, message}) as a list under
// the canvas and as red outlines with a numbered badge on the elements themselves.
const OVERLAY = 'mc-problems';
const MARKER = 'mc-error';

let marked = [];

function escape(text) {
  const div = document.createElement('div');
  div.textContent = text == null ? '' : String(text);
  return div.innerHTML;
}

// The shape that shows an element: itself, or the participant of a process.
function shapeFor(modeler, id) {
  if (!id) return null;
  const registry = modeler.get('elementRegistry');
  const direct = registry.get(id);
  if (direct) return direct;
  return registry.find((e) => e.businessObject && e.businessObject.processRef && e.businessObject.processRef.id === id) || null;
}

export function clearProblems(modeler) {
  const canvas = modeler.get('canvas');
  modeler.get('overlays').remove({ type: OVERLAY });
  for (const id of marked) {
    if (modeler.get('elementRegistry').get(id)) canvas.removeMarker(id, MARKER);
  }
  marked = [];
  const box = document.getElementById('mc-problems');
  if (box) box.hidden = true;
}

function focus(modeler, shape) {
  if (!shape) return;
  const canvas = modeler.get('canvas');
  if (shape.waypoints || shape.width < 2000) canvas.scrollToElement(shape, { top: 120, bottom: 120, left: 200, right: 200 });
  modeler.get('selection').select(shape);
}

export function showProblems(modeler, problems, warnings, { messages, title, ok = false, link = null }) {
  clearProblems(modeler);
  const box = document.getElementById('mc-problems');
  const head = document.getElementById('mc-problems-head');
  const list = document.getElementById('mc-problems-list');
  box.hidden = false;
  box.classList.toggle('mc-ok', ok && !problems.length);
  head.innerHTML = escape(title) + (link ? ` <a href="${escape(link)}">${escape(messages.openVersion)}</a>` : '');
  list.innerHTML = '';
  const perShape = new Map();
  const entries = [...problems.map((p) => ({ ...p, kind: 'error' })), ...(warnings || []).map((w) => ({ ...w, kind: 'warning' }))];
  entries.forEach((problem, index) => {
    const shape = shapeFor(modeler, problem.element_id);
    const item = document.createElement('li');
    item.className = problem.kind === 'warning' ? 'mc-warning' : 'mc-error-item';
    item.dataset.elementId = problem.element_id || '';
    const where = [problem.element_id ? `<code>${escape(problem.element_id)}</code>` : '',
      problem.line ? `${escape(messages.line)} ${escape(problem.line)}` : ''].filter(Boolean).join(', ');
    const prefix = problem.kind === 'warning' ? `${escape(messages.warnings)}: ` : '';
    item.innerHTML = `${where ? `${where}: ` : ''}${prefix}${escape(problem.message)}`;
    if (shape) {
      item.innerHTML = `<a role="button" tabindex="0">${item.innerHTML}</a>`;
      item.firstChild.addEventListener('click', () => focus(modeler, shape));
      if (problem.kind === 'error') {
        if (!perShape.has(shape.id)) perShape.set(shape.id, []);
        perShape.get(shape.id).push(index + 1);
      }
    }
    list.appendChild(item);
  });
  const canvas = modeler.get('canvas');
  const overlays = modeler.get('overlays');
  for (const [id, numbers] of perShape) {
    const shape = modeler.get('elementRegistry').get(id);
    canvas.addMarker(id, MARKER);
    marked.push(id);
    const texts = numbers.map((n) => escape(entries[n - 1].message)).join('<br>');
    const position = shape.waypoints ? { top: -9, left: -9 } : { top: -9, right: 9 };
    overlays.add(id, OVERLAY, {
      position,
      html: `<div class="mc-error-wrap" data-element-id="${escape(id)}"><div class="mc-error-badge" tabindex="0">${numbers.join(',')}</div><div class="mc-error-tip">${texts}</div></div>`,
    });
  }
}
