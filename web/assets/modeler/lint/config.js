// The packed bpmnlint configuration bpmn-js-bpmnlint expects ({ config, resolver }), built by hand:
// esbuild has no bpmnlint plugin, so the rules are imported here and resolved from a table.
import gatewayBranchCondition from './gateway-branch-condition.js';
import laneHasUnit from './lane-has-unit.js';
import stepsWithinTimeLimit from './steps-within-time-limit.js';
import taskHasStep from './task-has-step.js';
import userTaskInLane from './user-task-in-lane.js';

const RULES = {
  'user-task-in-lane': userTaskInLane,
  'lane-has-unit': laneHasUnit,
  'task-has-step': taskHasStep,
  'steps-within-time-limit': stepsWithinTimeLimit,
  'gateway-branch-condition': gatewayBranchCondition,
};

const PACKAGE = 'bpmnlint-plugin-motcua';

export const resolver = {
  resolveRule(pkg, ruleName) {
    const rule = pkg === PACKAGE && RULES[ruleName];
    if (!rule) throw new Error(`cannot resolve rule <${pkg}/${ruleName}>`);
    return rule;
  },
  resolveConfig(pkg, configName) {
    throw new Error(`cannot resolve config <${configName}> in <${pkg}>`);
  },
};

export const config = {
  rules: Object.fromEntries(Object.keys(RULES).map((name) => [`motcua/${name}`, 'error'])),
};

export default { config, resolver };
