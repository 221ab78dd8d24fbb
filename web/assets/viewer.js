// Read-only procedure diagrams: a dossier's progress and a procedure's heat map.
// Every element with [data-bpmn-viewer] gets a bpmn-js NavigatedViewer that loads
// the BPMN from data-xml-url and what to mark from data-overlay-url (JSON).
import NavigatedViewer from "bpmn-js/lib/NavigatedViewer";
import "bpmn-js/dist/assets/diagram-js.css";
import "bpmn-js/dist/assets/bpmn-js.css";
import "bpmn-js/dist/assets/bpmn-font/css/bpmn-embedded.css";
import "./viewer/viewer.css";
import { markProgress, fillStepTable } from "./viewer/progress.js";
import { paintHeat } from "./viewer/heat.js";
import { bindZoom } from "./viewer/zoom.js";

async function fetchOk(url, accept) {
  const response = await fetch(url, { headers: { Accept: accept }, credentials: "same-origin" });
  if (!response.ok) throw new Error(`${url}: ${response.status}`);
  return response;
}

async function show(container) {
  const status = container.querySelector(".mc-diagram-status");
  try {
    const [xml, overlay] = await Promise.all([
      fetchOk(container.dataset.xmlUrl, "application/xml").then((r) => r.text()),
      fetchOk(container.dataset.overlayUrl, "application/json").then((r) => r.json()),
    ]);
    if (status) status.remove();
    const viewer = new NavigatedViewer({ container });
    await viewer.importXML(xml);
    const canvas = viewer.get("canvas");
    canvas.zoom("fit-viewport", "auto");
    if (overlay.kind === "progress") {
      markProgress(viewer, overlay, container.dataset);
      fillStepTable(document.querySelector("[data-diagram-steps]"), overlay);
    } else if (overlay.kind === "heat") {
      paintHeat(viewer, overlay);
    }
    bindZoom(document, canvas);
    // Printing changes the box's size: fit the diagram again, and once more back on screen.
    const refit = () => { canvas.resized(); canvas.zoom("fit-viewport", "auto"); };
    window.matchMedia("print").addEventListener("change", refit);
    window.addEventListener("beforeprint", refit);
    window.addEventListener("afterprint", refit);
    container.dataset.ready = "true";
  } catch (error) {
    console.error(error);
    container.textContent = container.dataset.errorText || "Error";
    container.classList.add("mc-diagram-error");
    container.dataset.ready = "error";
  }
}

function start() {
  document.querySelectorAll("[data-bpmn-viewer]").forEach((container) => show(container));
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
else start();
