// Exit codes of the rotation-runner CLI (docs/runner.md) and the error a command throws for a wrong
// invocation. One table, so scripts and the CronJob can tell "stopped safely" from "refused".
export const EXIT = {
  /** Done, nothing due, printed, or healthy. */
  ok: 0,
  /** A rotation or bootstrap stopped in a safe state (deadline, blocker, conflict); `check` found problems. */
  stopped: 1,
  /** Wrong flags, environment or files. */
  usage: 2,
  /** Another run holds the Lease: nothing was written. */
  leaseHeld: 3,
  /** The Kubernetes API refused (permissions) or could not be reached before anything was written. */
  cluster: 4,
} as const;

/** Thrown by a command for a wrong invocation (bad flag value, unreadable file): exit 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}
