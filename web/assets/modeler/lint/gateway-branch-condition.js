// A deciding gateway's every branch has a condition or is its default flow.
import { labelOf, say } from '../motcua.js';

const DECIDING = ['bpmn:ExclusiveGateway', 'bpmn:InclusiveGateway'];

export default function gatewayBranchCondition() {
  function check(node, reporter) {
    if (!DECIDING.includes(node.$type)) return;
    const outgoing = node.outgoing || [];
    if (outgoing.length < 2) return;
    for (const flow of outgoing) {
      if (node.default && node.default.id === flow.id) continue;
      const body = flow.conditionExpression && (flow.conditionExpression.body || '').trim();
      if (!body) {
        reporter.report(flow.id, say(
          `Nhánh «${labelOf(flow)}» của «${labelOf(node)}» chưa có điều kiện và không phải nhánh mặc định`,
          `Branch '${labelOf(flow)}' of '${labelOf(node)}' has no condition and is not the default`));
      }
    }
  }
  return { check };
}
