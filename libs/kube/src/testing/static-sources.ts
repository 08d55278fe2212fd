// Test doubles of the caches' interfaces: a fixed snapshot that a test sets, read by the webhook
// and the exporter exactly as they read the informer-backed caches.
import type { ExporterSnapshot, ExporterSource, TrustSnapshot, TrustSnapshotSource } from '../caches/snapshot.js';

/** A snapshot the test sets, synced unless told otherwise. */
class StaticSource<S> {
  constructor(
    private snapshot: S,
    private synced = true,
  ) {}

  current(): S {
    return this.snapshot;
  }

  isSynced(): boolean {
    return this.synced;
  }

  set(snapshot: S, synced = true): void {
    this.snapshot = snapshot;
    this.synced = synced;
  }
}

/** A fixed trust snapshot: for unit tests and offline use. */
export class StaticSnapshotSource extends StaticSource<TrustSnapshot> implements TrustSnapshotSource {}

/** A fixed exporter snapshot, for unit tests. */
export class StaticExporterSource extends StaticSource<ExporterSnapshot> implements ExporterSource {}
