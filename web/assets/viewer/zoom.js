// The zoom buttons beside a diagram: fit, in, out.
export function bindZoom(root, canvas) {
  root.querySelectorAll("[data-diagram-zoom]").forEach((button) => {
    button.addEventListener("click", () => {
      const how = button.dataset.diagramZoom;
      if (how === "fit") canvas.zoom("fit-viewport", "auto");
      else canvas.zoom(canvas.zoom() * (how === "in" ? 1.25 : 0.8));
    });
  });
}
