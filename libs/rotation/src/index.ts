// The rotation engine for linkerd-rotator: state machine, planner and driver loop, and the state
// rules the webhook and the exporter share. Pure over cluster facts; libs/kube implements ./ports.ts.
export * from './snapshot.js';
export {
  initialState,
  isRotationPhase,
  isUnderWay,
  parseState,
  serializeState,
  PHASE_DATA_KEY,
  PHASES,
  ROTATION_PHASES,
  STATE_DATA_KEY,
  STATE_VERSION,
  STOP_REASONS,
  type KnownBundle,
  type ParsedState,
  type Phase,
  type RollPhase,
  type RotationPhase,
  type RotationRecord,
  type RotationState,
  type StopReason,
  FLEET_STOP_REASONS,
  type FleetRecord,
  type FleetRotationRecord,
  type FleetStopReason,
} from './state.js';
export { bundleSyncedAt, describePhase, recovering, requiredAnchors, resumePhase, type ResumablePhase } from './rules.js';
export { crossSignWindowOf, DEFAULT_OPTIONS, expiryMarginOf, formatDuration, resolveOptions, rotationNeedMs, type DecideOptions, type StartPolicy, type Strategy } from './options.js';
export { chooseStrategy, crossSignProblems, strategyOf, type StrategyChoice } from './strategy.js';
export { crossSignatureReliance, crossSignatureReliances, type CrossSignatureReliance } from './freshness.js';
export { stalenessOf, stalenessStrategy, type Staleness } from './staleness.js';
export type { Action, Blocker, Decision, Gate, GateName, RotationEvent, WatchSource } from './decision.js';
export { configMapSettledAt, formatAnchors, podTrust, reachableAnchors, trustContext, type PodTrust, type TrustContext } from './trust.js';
export { decide } from './decide.js';
export { issuerSignerProblem } from './gates/issuer-signer.js';
export { unrestartablePods, unrestartableSummary } from './gates/unrestartable.js';
export { plan, type Plan, type PlanStep, type PlanStepKind } from './plan.js';
export type * from './ports.js';
export { decideOptionsOf, runRotation, type Progress, type ProgressEvent, type RunOptions, type RunResult } from './runner.js';
export { objectRefs, type ObjectRefs } from './object-refs.js';
export { diagnoseExpiry, EXPIRY_CASES, recoverRefusal, recoveryPlan, recoversAnchor, type ExpiryCase, type ExpiryDiagnosis, type RecoveryPlan, type RecoveryRestart } from './recovery.js';
export {
  compareFleetAnchors,
  fleetLeafRoutes,
  fleetMayPromote,
  fleetMayRetire,
  fleetTrustsNewAnchor,
  type FleetAnchorComparison,
  type FleetAnchorView,
  type FleetCluster,
  type FleetClusterAnchors,
  type FleetDisagreement,
  type FleetGate,
  type FleetGateName,
  type FleetRotation,
  type FleetRoute,
  type ObservedCluster,
  type UnreachableCluster,
} from './fleet.js';
export { runFleet, type FleetClusterHandle, type FleetHandles, type FleetProgress, type FleetProgressEvent, type FleetRunResult } from './fleet-driver.js';
export { nextFleetStep, planFleet, type FleetClusterPlan, type FleetNext, type FleetPlan, type FleetRead, type FleetReadCluster, type FleetWait } from './fleet-plan.js';
