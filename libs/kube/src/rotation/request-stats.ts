// Counts every request a KubeConfig authenticates (API calls and watches) by verb and resource, so
// the benchmark can show API requests grow with the number of workloads, not with polls.
import type { KubeConfig } from '@kubernetes/client-node';

export interface RequestCount {
  readonly verb: string;
  readonly resource: string;
  readonly count: number;
}

export class RequestStats {
  private readonly counts = new Map<string, number>();
  total = 0;

  record(method: string, url: string): void {
    const key = requestKey(method, url);
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
    this.total++;
  }

  /** Counts per `verb resource`, largest first. */
  byKind(): RequestCount[] {
    return [...this.counts.entries()]
      .map(([key, count]) => {
        const [verb = '', resource = ''] = key.split(' ');
        return { verb, resource, count };
      })
      .sort((a, b) => b.count - a.count || a.resource.localeCompare(b.resource));
  }
}

/**
 * `GET /api/v1/namespaces/x/pods?watch=true` -> `watch pods`; `PATCH /apis/apps/v1/namespaces/x/deployments/web`
 * -> `patch deployments`; subresources keep their suffix (`update certificates/status`).
 */
export function requestKey(method: string, url: string): string {
  const parsed = new URL(url, 'http://localhost');
  const parts = parsed.pathname.split('/').filter(Boolean);
  // /api/v1/... or /apis/<group>/<version>/...
  let rest = parts[0] === 'api' ? parts.slice(2) : parts.slice(3);
  if (rest[0] === 'namespaces' && rest.length >= 3) rest = rest.slice(2);
  const [resource = parts.join('/') || '/', name, sub] = rest;
  const kind = sub ? `${resource}/${sub}` : resource;
  const m = method.toUpperCase();
  let verb: string;
  if (m === 'GET') verb = parsed.searchParams.get('watch') === 'true' ? 'watch' : name ? 'get' : 'list';
  else if (m === 'POST') verb = parsed.searchParams.get('dryRun') ? 'create(dry-run)' : 'create';
  else if (m === 'PUT') verb = 'update';
  else verb = m.toLowerCase();
  return `${verb} ${kind}`;
}

/** Counts every request made with `kc` from now on (the client calls this hook once per request). */
export function countRequests(kc: KubeConfig, stats = new RequestStats()): RequestStats {
  const original = kc.applySecurityAuthentication.bind(kc);
  kc.applySecurityAuthentication = async (context) => {
    stats.record(context.getHttpMethod(), context.getUrl());
    return original(context);
  };
  return stats;
}
