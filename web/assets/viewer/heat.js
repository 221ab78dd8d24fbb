// A procedure's heat map: each step filled from green to red, with its median time and late share.
import { addNote, shapeOf } from "./overlay.js";

export function paintHeat(viewer, data) {
  const registry = viewer.get("elementRegistry");
  Object.entries(data.steps).forEach(([id, step]) => {
    const element = shapeOf(viewer, id);
    if (!element) return;
    const shape = registry.getGraphics(id).querySelector(".djs-visual > rect");
    if (shape) {
      shape.style.setProperty("fill", step.fill, "important");
      shape.style.setProperty("stroke", step.stroke, "important");
      shape.style.setProperty("stroke-width", "3px", "important");
    }
    viewer.get("canvas").addMarker(id, "mc-heat");
    addNote(viewer, element, [step.label, step.score === null ? "" : step.level], "mc-note-heat", `${step.name}: ${step.label} · ${step.level}`);
  });
}
