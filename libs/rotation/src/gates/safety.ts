// Gate `promotion-safe` / `retirement-safe` / a roll's own gate: holds an action that invariant
// checks I1 and I2 refuse, naming what fails, instead of emitting it.
import type { Action, Decision, GateName } from '../decision.js';
import { checkActionSafety, describeViolation } from '../invariants.js';
import { gate, MAX_LISTED, type DecideContext } from '../phases/context.js';

/** Undefined when `action` keeps I1 and I2; else a gate named `name` listing the violations. */
export function safetyGate(context: DecideContext, action: Action, name: GateName): Decision | undefined {
  const violations = checkActionSafety(action, context);
  if (violations.length === 0) return undefined;
  return gate(context, {
    name,
    summary: `holding ${action.kind}: ${violations.length} invariant check(s) fail; it would break trust between proxies`,
    missing: violations.slice(0, MAX_LISTED).map(describeViolation),
    watch: ['pods', 'bundles', 'injector', 'issuer'],
  });
}
