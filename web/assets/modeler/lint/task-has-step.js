// Every human step declares its share of the time: days or hours, exactly one of them.
import { extensions, isHuman, isNumber, labelOf, say } from '../motcua.js';

export default function taskHasStep() {
  function check(node, reporter) {
    if (!isHuman(node)) return;
    const steps = extensions(node, 'motcua:Step');
    const name = labelOf(node);
    if (steps.length !== 1) {
      reporter.report(node.id, steps.length
        ? say(`Bước «${name}» khai báo thời hạn nhiều lần`, `Step '${name}' declares its time share more than once`)
        : say(`Bước «${name}» chưa có thời hạn (số ngày hoặc số giờ)`, `Step '${name}' has no time share (days or hours)`));
      return;
    }
    const [step] = steps;
    const days = step.days != null && step.days !== '';
    const hours = step.hours != null && step.hours !== '';
    if (days === hours) {
      reporter.report(node.id, say(`Bước «${name}»: nhập số ngày hoặc số giờ, chỉ một trong hai`,
        `Step '${name}': give days or hours, exactly one of them`));
    } else if (!isNumber(days ? step.days : step.hours)) {
      reporter.report(node.id, say(`Bước «${name}»: thời hạn phải là số không âm`,
        `Step '${name}': the time share must be a non-negative number`));
    }
  }
  return { check };
}
