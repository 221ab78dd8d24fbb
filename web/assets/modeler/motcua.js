// Reading the motcua vocabulary (urn:motcua:bpmn:1) off bpmn-moddle business objects.
// Shared by the properties panel and the lint rules so both read the diagram the same way
// the engine does (engine/extensions.py).

export const HUMAN_TASKS = ['bpmn:UserTask', 'bpmn:ManualTask', 'bpmn:Task'];
export const MINUTES_PER_DAY = 480;

export function isHuman(bo) {
  return !!bo && HUMAN_TASKS.includes(bo.$type);
}

export function extensions(bo, type) {
  const values = (bo && bo.extensionElements && bo.extensionElements.values) || [];
  return values.filter((value) => value.$type === type);
}

export function extension(bo, type) {
  return extensions(bo, type)[0];
}

// The process a shape stands for: a participant's process, or the process itself.
export function processOf(bo) {
  if (!bo) return null;
  if (bo.$type === 'bpmn:Participant') return bo.processRef || null;
  if (bo.$type === 'bpmn:Process') return bo;
  return null;
}

const NUMBER = /^\d+(\.\d+)?$/;

export function isNumber(text) {
  return NUMBER.test(String(text == null ? '' : text).trim());
}

// A step's share of time in working minutes (paused steps count nothing), or null if unreadable.
export function stepMinutes(step) {
  if (!step) return null;
  if (step.clock === 'paused') return 0;
  if (step.days != null && step.days !== '' && isNumber(step.days)) return Math.round(parseFloat(step.days) * MINUTES_PER_DAY);
  if (step.hours != null && step.hours !== '' && isNumber(step.hours)) return Math.round(parseFloat(step.hours) * 60);
  return null;
}

// Leaf lanes of a process, however deeply nested in child lane sets.
export function leafLanes(process) {
  const out = [];
  const visit = (laneSet) => {
    for (const lane of (laneSet && laneSet.lanes) || []) {
      if (lane.childLaneSet && (lane.childLaneSet.lanes || []).length) visit(lane.childLaneSet);
      else out.push(lane);
    }
  };
  for (const laneSet of process.laneSets || []) visit(laneSet);
  return out;
}

// Vietnamese or English, by the page's language (lint messages cannot reach bpmn-js's translate with arguments).
export function say(vi, en) {
  const lang = (typeof document !== 'undefined' && document.documentElement.lang) || 'vi';
  return lang.startsWith('vi') ? vi : en;
}

export function labelOf(bo) {
  return ((bo && bo.name) || '').replace(/\s+/g, ' ').trim() || (bo && bo.id) || '';
}
