// Decides, when the spec file loads, whether the kind tier can run here: it needs a Docker engine
// (`docker info` succeeding), not just the CLI. Without one every test is skipped with a message,
// unless KIND_TIER_REQUIRED=1 (CI), where a missing engine is a failure rather than a silent skip.
import { spawnSync } from 'node:child_process';

export type DockerProbe = { ok: true; serverVersion: string } | { ok: false; reason: string };

export function probeDocker(): DockerProbe {
  const r = spawnSync('docker', ['info', '--format', '{{.ServerVersion}}'], { encoding: 'utf8', timeout: 30_000 });
  if (r.error) {
    const code = (r.error as NodeJS.ErrnoException).code;
    return { ok: false, reason: code === 'ENOENT' ? 'docker: command not found' : r.error.message };
  }
  if (r.status !== 0) {
    const out = `${r.stderr ?? ''}\n${r.stdout ?? ''}`.replace(/\s+/g, ' ').trim();
    return { ok: false, reason: out || `exit code ${r.status ?? r.signal}` };
  }
  return { ok: true, serverVersion: r.stdout.trim() };
}

export type KindTierDecision = { run: true; serverVersion: string } | { run: false; required: boolean; message: string };

export function decideKindTier(probe: DockerProbe = probeDocker()): KindTierDecision {
  const required = process.env['KIND_TIER_REQUIRED'] === '1';
  if (process.env['KIND_TIER'] === 'off' && !required) {
    return { run: false, required, message: 'kind tier skipped: KIND_TIER=off' };
  }
  if (probe.ok) return { run: true, serverVersion: probe.serverVersion };
  return {
    run: false,
    required,
    message:
      `kind tier skipped: no Docker engine (docker info failed: ${probe.reason}). ` +
      "Run it with `npm run test:kind` on a host with Docker and internet; see README 'kind tier'",
  };
}
