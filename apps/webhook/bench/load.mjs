// Throughput load generator for the webhook benchmark, in its own process so it does not share an
// event loop with the webhook: autocannon as fast as it can go, result printed as JSON.
import { readFileSync } from 'node:fs';
import autocannon from 'autocannon';

const [url, bodyFile, rate, seconds, connections] = process.argv.slice(2);
const body = readFileSync(bodyFile);
const overallRate = Number(rate);

const result = await autocannon({
  url,
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body,
  connections: Number(connections),
  duration: Number(seconds),
  ...(overallRate > 0 ? { overallRate } : {}),
});

process.stdout.write(
  JSON.stringify({
    requestsPerSecond: result.requests.average,
    total: result.requests.total,
    failed: result.non2xx + result.errors + result.timeouts,
    p50: result.latency.p50,
    p90: result.latency.p90,
    p99: result.latency.p99,
    max: result.latency.max,
  }) + '\n',
);
