// Every lane holding human steps names the unit that serves it (type and level, or fromData).
import { extension, isHuman, labelOf, leafLanes, say } from '../motcua.js';

export default function laneHasUnit() {
  function check(node, reporter) {
    if (node.$type !== 'bpmn:Process') return;
    for (const lane of leafLanes(node)) {
      const holdsSteps = (lane.flowNodeRef || []).some(isHuman);
      if (!holdsSteps) continue;
      const unit = extension(lane, 'motcua:Unit');
      const mapped = unit && ((unit.type && unit.level) || unit.fromData);
      if (!mapped) {
        reporter.report(lane.id, say(
          `Làn «${labelOf(lane)}» chưa gắn với loại đơn vị và cấp (Đơn vị xử lý)`,
          `Lane '${labelOf(lane)}' is not mapped to a unit type and level`));
      }
    }
  }
  return { check };
}
