// Every human step sits in a lane: the lane says which unit does the work.
import { isHuman, labelOf, leafLanes, say } from '../motcua.js';

export default function userTaskInLane() {
  function check(node, reporter) {
    if (node.$type !== 'bpmn:Process') return;
    const inLane = new Set();
    for (const lane of leafLanes(node)) {
      for (const ref of lane.flowNodeRef || []) inLane.add(ref.id);
    }
    for (const element of node.flowElements || []) {
      if (isHuman(element) && !inLane.has(element.id)) {
        reporter.report(element.id, say(
          `Bước «${labelOf(element)}» không nằm trong làn nào: kéo nó vào làn của đơn vị thực hiện`,
          `Step '${labelOf(element)}' is not in a lane: move it into the lane of the unit that does it`));
      }
    }
  }
  return { check };
}
