// Open-loop load generator for the webhook benchmark: sends requests evenly spaced at a fixed rate
// over keep-alive HTTPS and measures each latency from its scheduled send time (no coordinated
// omission, sub-millisecond resolution); runs in its own process and prints JSON, with its own
// event-loop delay: a late send or a late read here counts as the webhook's latency.
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setTimeout } from 'node:timers';
import { URL } from 'node:url';

const [url, bodyFile, rate, seconds, connections] = process.argv.slice(2);
const body = readFileSync(bodyFile);
const target = new URL(url);
const agent = new Agent({ keepAlive: true, maxSockets: Number(connections), rejectUnauthorized: false });
const intervalNs = 1e9 / Number(rate);
const total = Math.round(Number(rate) * Number(seconds));
const latencies = [];
let failed = 0;
let done = 0;

function send(scheduledNs) {
  const req = request(
    { host: target.hostname, port: target.port, path: target.pathname, method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': body.length } },
    (res) => {
      res.resume();
      res.on('end', () => {
        if (res.statusCode !== 200) failed++;
        latencies.push(Number(process.hrtime.bigint() - scheduledNs) / 1e6);
        finish();
      });
    },
  );
  req.on('error', () => {
    failed++;
    finish();
  });
  req.end(body);
}

function finish() {
  if (++done < total) return;
  latencies.sort((a, b) => a - b);
  const pct = (p) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] ?? NaN;
  const elapsed = Number(process.hrtime.bigint() - start) / 1e9;
  loopDelay.disable();
  const generatorLoopDelay = { p99: loopDelay.percentile(99) / 1e6, max: loopDelay.max / 1e6 };
  process.stdout.write(JSON.stringify({ requestsPerSecond: total / elapsed, total, failed, p50: pct(50), p90: pct(90), p99: pct(99), max: latencies[latencies.length - 1], generatorLoopDelay }) + '\n');
  agent.destroy();
}

const loopDelay = monitorEventLoopDelay({ resolution: 1 });
loopDelay.enable();
const start = process.hrtime.bigint();
let sent = 0;
function tick() {
  const now = process.hrtime.bigint();
  while (sent < total && start + BigInt(Math.round(sent * intervalNs)) <= now) {
    send(start + BigInt(Math.round(sent * intervalNs)));
    sent++;
  }
  if (sent < total) setTimeout(tick, Math.max(0, Number(start + BigInt(Math.round(sent * intervalNs)) - process.hrtime.bigint()) / 1e6 - 0.2));
}
tick();
