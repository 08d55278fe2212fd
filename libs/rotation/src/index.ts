// The rotation engine for linkerd-rotator: state machine, planner, invariants and driver loop.
// Pure over cluster facts; the Kubernetes adapter implements the ports in ./ports.ts.
export * from './snapshot.js';
export * from './state.js';
export * from './rules.js';
export * from './options.js';
export * from './decision.js';
export * from './trust.js';
export * from './invariants.js';
export * from './workloads.js';
export { decide } from './decide.js';
export * from './plan.js';
export * from './ports.js';
export * from './runner.js';
