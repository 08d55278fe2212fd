// EventRecorder: each rotation event becomes a Kubernetes Event on the state ConfigMap (release
// namespace) and on the prepared anchor's Certificate (trust namespace), where `kubectl describe`
// shows it. Best effort: a failed Event is logged, never a reason to stop a rotation.
import type { CoreV1Event, V1ObjectReference } from '@kubernetes/client-node';
import type { EventRecorder, RotationEvent } from '@linkerd-rotator/rotation';
import type { AdapterContext } from './context.js';

/** Events API limit on `message`. */
const MAX_MESSAGE = 1024;

export function eventFor(involved: V1ObjectReference, event: RotationEvent, at: number, instance: string): CoreV1Event {
  const time = new Date(Math.floor(at / 1000) * 1000);
  return {
    apiVersion: 'v1',
    kind: 'Event',
    metadata: { generateName: `${involved.name}.`, namespace: involved.namespace },
    involvedObject: involved,
    type: event.type,
    reason: event.reason,
    message: event.message.length > MAX_MESSAGE ? `${event.message.slice(0, MAX_MESSAGE - 3)}...` : event.message,
    source: { component: 'linkerd-rotator' },
    reportingComponent: 'linkerd-rotator',
    reportingInstance: instance.slice(0, 128),
    firstTimestamp: time,
    lastTimestamp: time,
    count: 1,
  };
}

export class KubeEventRecorder implements EventRecorder {
  constructor(
    private readonly ctx: AdapterContext,
    private readonly about: {
      readonly stateNamespace: string;
      /** This run's identity (`reportingInstance`). */
      readonly instance: string;
      /** The state ConfigMap's uid, once read. */
      readonly stateUid: () => string | undefined;
    },
  ) {}

  async record(event: RotationEvent): Promise<void> {
    const n = this.ctx.names;
    const uid = this.about.stateUid();
    const targets: V1ObjectReference[] = [
      { apiVersion: 'v1', kind: 'ConfigMap', namespace: this.about.stateNamespace, name: n.stateConfigMap, ...(uid ? { uid } : {}) },
      { apiVersion: 'cert-manager.io/v1', kind: 'Certificate', namespace: n.trustNamespace, name: n.preparedAnchorCertificate },
    ];
    await Promise.all(
      targets.map(async (involved) => {
        const namespace = involved.namespace as string;
        try {
          // A single attempt: Events are informational and must not hold the run.
          await this.ctx.core.createNamespacedEvent({ namespace, body: eventFor(involved, event, this.ctx.now(), this.about.instance) });
        } catch (err) {
          this.ctx.logger.warn({ namespace, reason: event.reason, error: (err as Error).message.split('\n')[0] }, 'could not record a Kubernetes Event');
        }
      }),
    );
  }
}
