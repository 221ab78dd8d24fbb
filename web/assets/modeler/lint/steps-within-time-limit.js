// The slowest path through the process, adding up step shares, fits in the legal time limit.
// Same reading as the server (engine/validation.py): loops are cut at their back edge, parallel
// branches count as alternatives, paused steps count nothing, a limit of 0 means one working day.
import { MINUTES_PER_DAY, extension, isHuman, isNumber, labelOf, say, stepMinutes } from '../motcua.js';

function graph(process) {
  const nodes = new Map();
  const edges = new Map();
  for (const element of process.flowElements || []) {
    if (element.$type === 'bpmn:SequenceFlow') continue;
    nodes.set(element.id, element);
    edges.set(element.id, []);
  }
  for (const element of process.flowElements || []) {
    if (element.$type !== 'bpmn:SequenceFlow' || !element.sourceRef || !element.targetRef) continue;
    if (edges.has(element.sourceRef.id) && nodes.has(element.targetRef.id)) edges.get(element.sourceRef.id).push(element.targetRef.id);
  }
  return { nodes, edges };
}

// Longest weighted path from the start events with back edges removed (iterative DFS, no recursion).
export function slowestPath(process) {
  const { nodes, edges } = graph(process);
  const weight = (id) => (isHuman(nodes.get(id)) ? stepMinutes(extension(nodes.get(id), 'motcua:Step')) || 0 : 0);
  const starts = [...nodes.values()].filter((n) => n.$type === 'bpmn:StartEvent').map((n) => n.id);
  const state = new Map(); // 1 on stack, 2 done
  const order = [];
  const back = new Set();
  for (const start of starts) {
    if (state.get(start)) continue;
    const stack = [[start, 0]];
    state.set(start, 1);
    while (stack.length) {
      const top = stack[stack.length - 1];
      const next = edges.get(top[0])[top[1]++];
      if (next === undefined) { state.set(top[0], 2); order.push(top[0]); stack.pop(); continue; }
      if (state.get(next) === 1) { back.add(top[0] + '>' + next); continue; }
      if (!state.get(next)) { state.set(next, 1); stack.push([next, 0]); }
    }
  }
  order.reverse(); // topological order of the acyclic remainder
  const best = new Map();
  const via = new Map();
  for (const id of order) {
    if (!best.has(id)) best.set(id, weight(id));
    for (const next of edges.get(id)) {
      if (back.has(id + '>' + next)) continue;
      const total = best.get(id) + weight(next);
      if (!best.has(next) || total > best.get(next)) { best.set(next, total); via.set(next, id); }
    }
  }
  let end = null;
  for (const [id, total] of best) if (end === null || total > best.get(end)) end = id;
  const path = [];
  for (let id = end; id != null; id = via.get(id)) path.unshift(id);
  return { minutes: end === null ? 0 : best.get(end), path: path.filter((id) => weight(id) > 0).map((id) => nodes.get(id)) };
}

function days(minutes) {
  return String(Math.round((minutes / MINUTES_PER_DAY) * 100) / 100).replace('.', say(',', '.'));
}

export default function stepsWithinTimeLimit() {
  function check(node, reporter) {
    if (node.$type !== 'bpmn:Process') return;
    const procedure = extension(node, 'motcua:Procedure');
    if (!procedure || !isNumber(procedure.timeLimitDays)) {
      reporter.report(node.id, say('Quy trình chưa có mã thủ tục và thời hạn giải quyết (số ngày làm việc)',
        'The process has no procedure code and time limit (working days)'));
      return;
    }
    const limit = Math.max(parseFloat(procedure.timeLimitDays) * MINUTES_PER_DAY, MINUTES_PER_DAY * (parseFloat(procedure.timeLimitDays) === 0 ? 1 : 0));
    const { minutes, path } = slowestPath(node);
    if (minutes > limit) {
      const steps = path.map(labelOf).join(' → ');
      const message = say(
        `Tổng thời hạn các bước trên đường chậm nhất (${days(minutes)} ngày: ${steps}) vượt thời hạn giải quyết ${days(limit)} ngày`,
        `The steps on the slowest path take ${days(minutes)} days (${steps}), more than the time limit of ${days(limit)} days`);
      reporter.report(node.id, message);
      for (const step of path) reporter.report(step.id, message);
    }
  }
  return { check };
}
