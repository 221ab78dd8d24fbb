// A small text box straddling the bottom edge of a diagram element; text only (never HTML from the server).
// Two short lines at most, centred, so that in narrow lanes it covers as little as possible of its neighbours.
export function addNote(viewer, element, lines, className, title) {
  const box = document.createElement("div");
  box.className = `mc-note ${className || ""}`;
  lines.filter(Boolean).forEach((line, index) => {
    const row = document.createElement("div");
    row.className = index === 0 ? "mc-note-main" : "mc-note-sub";
    row.textContent = line;
    box.appendChild(row);
  });
  if (title) box.title = title;
  viewer.get("overlays").add(element.id, "mc-note", {
    position: { top: element.height - 6, left: element.width / 2 },
    scale: { min: 0.8 }, // never shrink the words below a readable size when a wide diagram is fitted
    html: box,
  });
}

export function shapeOf(viewer, id) {
  const element = viewer.get("elementRegistry").get(id);
  return element && !element.waypoints ? element : null;
}
