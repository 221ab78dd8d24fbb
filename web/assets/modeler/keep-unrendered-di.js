// bpmn-js rebuilds every plane from the shapes it drew when it saves (BpmnDiOrdering), so
// diagram data it could not draw is lost: shapes of a process no participant refers to
// (MIWG B.1.0, B.2.0), an edge without bpmnElement (C.7.0). Designers' saves must keep
// everything they read, so those DI elements are put back after the reordering.
const AFTER_ORDERING = 1500; // BpmnDiOrdering runs at 2000

function KeepUnrenderedDi(eventBus, elementRegistry) {
  let kept = [];

  eventBus.on('import.done', ({ error }) => {
    kept = [];
    if (error) return;
    const drawn = new Set(elementRegistry.getAll().map((element) => element.di).filter(Boolean));
    const definitions = elementRegistry.getAll().map((e) => e.businessObject).find(Boolean);
    let root = definitions;
    while (root && root.$parent) root = root.$parent;
    for (const diagram of (root && root.diagrams) || []) {
      const plane = diagram.plane;
      const lost = ((plane && plane.planeElement) || []).filter((di) => !drawn.has(di));
      if (lost.length) kept.push([plane, lost]);
    }
  });

  eventBus.on('saveXML.start', AFTER_ORDERING, () => {
    for (const [plane, lost] of kept) {
      const present = new Set(plane.get('planeElement'));
      for (const di of lost) {
        if (!present.has(di)) {
          di.$parent = plane;
          plane.get('planeElement').push(di);
        }
      }
    }
  });
}

KeepUnrenderedDi.$inject = ['eventBus', 'elementRegistry'];

export default {
  __init__: ['keepUnrenderedDi'],
  keepUnrenderedDi: ['type', KeepUnrenderedDi],
};
