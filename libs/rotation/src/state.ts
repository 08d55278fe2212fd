// The rotation state persisted in the release namespace's ConfigMap: phases, fingerprints, markers.
// Versioned and zod-validated on read, so a damaged or newer state stops the run instead of guessing.
import { z } from 'zod';

export const PHASES = ['Idle', 'Prepare', 'TrustBoth', 'Promote', 'Retire', 'Done', 'Stopped', 'Recover'] as const;
export type Phase = (typeof PHASES)[number];

/** Phases in which a rotation is under way (a stop keeps the phase it stopped in). */
export const ROTATION_PHASES = ['Prepare', 'TrustBoth', 'Promote', 'Retire'] as const;
export type RotationPhase = (typeof ROTATION_PHASES)[number];

/** The expiry incidents `recover` recovers from (recovery.ts `diagnoseExpiry` tells them). */
export const INCIDENTS = ['issuer-expired', 'anchor-expired', 'both-expired', 'active-anchor-missing'] as const;
export type Incident = (typeof INCIDENTS)[number];

/** Every reason a run can stop for; bounded so metrics and alerts can match on it. */
export const STOP_REASONS = [
  'lease-held',
  'lease-lost',
  'state-invalid',
  'state-conflict',
  'deadline',
  'action-failed',
  'invariant-violation',
  'cannot-adopt',
  'anchor-secret-missing',
  'active-anchor-changed',
  'prepared-anchor-changed',
  'prepared-anchor-unstable',
  'prepared-key-unchanged',
  'prepared-renewal-failed',
  'issuer-not-chained',
  'identity-rejected-issuer',
  'issuer-chained-elsewhere',
  'issuer-signer-not-active',
  'identity-pods-missing',
  'pods-not-restartable',
  'half-finished-rotation',
  'rotation-state-lost',
] as const;
export type StopReason = (typeof STOP_REASONS)[number];

export const STATE_VERSION = 1;
/** ConfigMap data key holding the JSON state; `phase` is copied beside it for `kubectl get -o yaml` readers. */
export const STATE_DATA_KEY = 'state.json';
export const PHASE_DATA_KEY = 'phase';

const fingerprint = z.string().regex(/^[0-9a-f]{64}$/, 'a lower-case hex SHA-256 fingerprint');
const time = z.iso.datetime({ offset: true });

const anchorRef = z.strictObject({ fingerprint, publicKeyFingerprint: fingerprint });

const knownBundle = z.strictObject({
  anchors: z.array(fingerprint),
  /** First time any target ConfigMap was seen holding this bundle. */
  firstSeenAt: time,
  /** First time every target ConfigMap was seen holding it (used to infer configMapKeyRef trust). */
  syncedAt: time.optional(),
});

/** The rotation strategies (options.ts `Strategy`); a state without one is a `restart` rotation. */
const strategy = z.enum(['cross-signed', 'restart']);

const rotation = z.strictObject({
  id: z.string().min(1),
  /** Absent in states written before strategies: `restart`. */
  strategy: strategy.optional(),
  /** Why the rotation uses `restart` when `cross-signed` was asked for. */
  strategyNote: z.string().optional(),
  from: anchorRef,
  /** Undefined until Prepare has a prepared anchor with a new key. */
  to: anchorRef.optional(),
  startedAt: time,
  phaseStartedAt: time,
  /** `status.revision` of the prepared Certificate when the rotation started. */
  preparedRevisionAtStart: z.number().int().min(0),
  prepareRequests: z.number().int().min(0),
  prepareRequestedAt: time.optional(),
  /** Targets given up because cert-manager replaced them before promotion. */
  retargets: z.array(z.strictObject({ fingerprint, at: time })),
  /** Restarts at or after this time count as rolls of the current phase. */
  rollBaseline: time.optional(),
  /** The bundle (sha256) the baseline was taken for; a different synced bundle starts a new baseline. */
  rollBundle: z.string().optional(),
  promotedAt: time.optional(),
  issuerRenewals: z.number().int().min(0),
  /** The identity controller's first IssuerUpdated for an issuer chained to `to`. */
  issuerUpdatedAt: time.optional(),
  /** When every identity pod was seen started after that IssuerUpdated: every leaf issued since chains to `to`. */
  identityFreshAt: time.optional(),
  /**
   * When the long gate this rotation is parked on opens (cross-signed: old-leaves-expired); a later
   * scheduled run resumes then. `status`, `check` and the exporter count a stuck phase from here.
   */
  waitingUntil: time.optional(),
  /**
   * Phase Recover (`recover`, docs/rotation.md "Recover"): the expiry incident it recovers from
   * (recovery.ts `diagnoseExpiry`). `from` is the anchor that stopped working, `to` the new one.
   */
  recovery: z.enum(INCIDENTS).optional(),
});

/**
 * The rotation as stored. States written before the roll markers were dropped carry `rolls` (per
 * phase, workload key -> restartedAt): nothing ever read it, so it is still accepted and dropped.
 */
const storedRotation = rotation
  .extend({ rolls: z.partialRecord(z.enum(['TrustBoth', 'Promote', 'Retire']), z.record(z.string(), time)).optional() })
  .transform(({ rolls: _dropped, ...record }) => record);

const stopped = z.strictObject({
  reason: z.enum(STOP_REASONS),
  /** The phase to resume in. */
  phase: z.enum(['Idle', 'Prepare', 'TrustBoth', 'Promote', 'Retire', 'Done', 'Recover']),
  message: z.string(),
  at: time,
  gate: z.string().optional(),
});

const lastRotation = z.strictObject({
  id: z.string(),
  from: fingerprint,
  to: fingerprint,
  startedAt: time,
  finishedAt: time,
  strategy: strategy.optional(),
});

/** A cluster of a fleet rotation, as the primary's fleet record last saw it (docs/multicluster.md). */
const fleetClusterRecord = z.strictObject({
  phase: z.enum(PHASES),
  /** When its identity was seen running the issuer under B (its rotation's identityFreshAt). */
  identityFreshAt: time.optional(),
});

/** Reasons the fleet driver stops that are the fleet's, not one cluster's engine. */
export const FLEET_STOP_REASONS = ['cluster-unreachable', 'fleet-mismatch', 'cluster-stopped', 'deadline', 'lease-held', 'lease-lost', 'state-invalid', 'action-failed'] as const;
export type FleetStopReason = (typeof FLEET_STOP_REASONS)[number];

/** The fleet's rotation, in the primary's state: one A, one B generated once, one X minted once. */
const fleetRotation = z.strictObject({
  id: z.string().min(1),
  strategy,
  from: fingerprint,
  /** B: the primary's prepared anchor, once its cert-manager issued it. */
  to: fingerprint.optional(),
  /** X's fingerprint (cross-signed), once the primary's promotion minted it. */
  crossSignature: fingerprint.optional(),
  /** The least advanced phase of the fleet's clusters. */
  phase: z.enum(PHASES),
  startedAt: time,
  /** Every cluster of the rotation, by kubeconfig context, the primary first. */
  clusters: z.record(z.string(), fleetClusterRecord),
  /** The last stop of the fleet driver, naming the cluster. */
  stopped: z.strictObject({ reason: z.enum(FLEET_STOP_REASONS), cluster: z.string(), message: z.string(), at: time }).optional(),
});

/**
 * A cluster driven by the fleet driver (`rotator fleet run`). In the primary it carries the fleet's
 * rotation; in a member it names the primary. The single-cluster runner refuses a state with it.
 */
const fleetRecord = z.strictObject({
  role: z.enum(['primary', 'member']),
  primary: z.string().min(1),
  rotation: fleetRotation.optional(),
});

const rotationStateSchema = z.strictObject({
  version: z.literal(STATE_VERSION),
  phase: z.enum(PHASES),
  rotation: storedRotation.optional(),
  stopped: stopped.optional(),
  last: lastRotation.optional(),
  knownBundles: z.record(z.string(), knownBundle),
  fleet: fleetRecord.optional(),
});

export type RotationState = z.output<typeof rotationStateSchema>;
export type RotationRecord = z.output<typeof rotation>;
export type KnownBundle = z.infer<typeof knownBundle>;
export type FleetRecord = z.output<typeof fleetRecord>;
export type FleetRotationRecord = z.output<typeof fleetRotation>;
/** The phases that restart workloads. */
export type RollPhase = 'TrustBoth' | 'Promote' | 'Retire';

export function initialState(): RotationState {
  return { version: STATE_VERSION, phase: 'Idle', knownBundles: {} };
}

export type ParsedState = { ok: true; state: RotationState } | { ok: false; message: string };

/**
 * Reads the state from a ConfigMap's data; a missing ConfigMap or key is a fresh Idle state.
 * Anything else that does not validate is refused with what was expected and what to do.
 */
export function parseState(data: Readonly<Record<string, string>> | undefined): ParsedState {
  const text = data?.[STATE_DATA_KEY];
  if (text === undefined) return { ok: true, state: initialState() };
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    return {
      ok: false,
      message: `expected JSON in the state ConfigMap key ${STATE_DATA_KEY}, found unparsable text (${(error as Error).message}); restore it from the last Event or delete the key only if no rotation is in progress`,
    };
  }
  const version = (json as { version?: unknown } | null)?.version;
  if (version !== STATE_VERSION) {
    return {
      ok: false,
      message: `expected rotation state version ${STATE_VERSION}, found ${JSON.stringify(version)}; run the linkerd-rotator release that wrote it, or upgrade this one`,
    };
  }
  const parsed = rotationStateSchema.safeParse(json);
  if (!parsed.success) {
    return {
      ok: false,
      message: `expected a valid rotation state v${STATE_VERSION} in ${STATE_DATA_KEY}, found: ${z.prettifyError(parsed.error).replace(/\n/g, '; ')}; repair the ConfigMap or delete the key only if no rotation is in progress`,
    };
  }
  return { ok: true, state: parsed.data };
}

/** The ConfigMap data for a state; keys are sorted so equal states serialize equally. */
export function serializeState(state: RotationState): Record<string, string> {
  return { [PHASE_DATA_KEY]: state.phase, [STATE_DATA_KEY]: canonicalJson(state) };
}

export function sameState(a: RotationState, b: RotationState): boolean {
  return canonicalJson(a) === canonicalJson(b);
}

function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      return Object.fromEntries(
        Object.entries(v as Record<string, unknown>)
          .filter(([, x]) => x !== undefined)
          .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
      );
    }
    return v;
  });
}

export function iso(ms: number): string {
  return new Date(ms).toISOString();
}

export function ms(isoTime: string): number {
  return Date.parse(isoTime);
}

export function isRotationPhase(phase: Phase): phase is RotationPhase {
  return (ROTATION_PHASES as readonly string[]).includes(phase);
}

/** A rotation or a recovery (phase Recover) is under way: a run resumes it, and nothing new starts. */
export function isUnderWay(phase: Phase): boolean {
  return isRotationPhase(phase) || phase === 'Recover';
}
