// A dossier on its diagram: steps done (green), open (blue, outlined), the path taken (coloured flows),
// and under each step the unit and the working time it took.
import { addNote, shapeOf } from "./overlay.js";

export function markProgress(viewer, data, texts) {
  const canvas = viewer.get("canvas");
  const registry = viewer.get("elementRegistry");
  const mark = (id, marker) => { if (registry.get(id)) canvas.addMarker(id, marker); };
  data.passed.forEach((id) => mark(id, "mc-passed"));
  data.path.forEach((id) => mark(id, "mc-path"));
  data.completed.forEach((id) => mark(id, "mc-done"));
  data.current.forEach((id) => mark(id, "mc-current"));
  Object.entries(data.steps).forEach(([id, step]) => {
    const element = shapeOf(viewer, id);
    if (!element) return;
    const passes = step.passes > 1 ? ` · ${step.passes_text}` : "";
    const units = step.units.join(", ");
    addNote(viewer, element, [`${step.label}${passes}`, units],
      step.current ? "mc-note-current" : "mc-note-done", `${step.name}: ${step.time} · ${units}`);
  });
}

export function fillStepTable(body, data) {
  if (!body) return;
  data.order.map((id) => data.steps[id]).forEach((step) => {
    const row = document.createElement("tr");
    const status = step.current ? body.dataset.currentText : body.dataset.doneText;
    [step.name, step.units.join(", "), String(step.passes), step.time, status].forEach((text) => {
      const cell = document.createElement("td");
      cell.textContent = text;
      row.appendChild(cell);
    });
    body.appendChild(row);
  });
}
