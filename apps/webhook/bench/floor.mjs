// The floor for bench:webhook: a bare node:https server on the same certificate, flags and keep-alive
// as the webhook, that reads each request body in full and answers with a fixed AdmissionReview of
// the webhook's size. No express, no parsing, no decision, no per-request metrics: what Node's HTTP
// and TLS alone cost at a given rate on this machine, measured beside the webhook in the same run.
// With --express, the same answer goes through express as the webhook's server uses it (x-powered-by
// and ETag off, express.raw() for the body, res.status(200).json()): what express alone costs.
// It takes the webhook's flags it needs (and ignores the rest) and serves /readyz and /metrics
// (prom-client's default metrics only: GC and event-loop delay, as the bench scrapes them).
import { Buffer } from 'node:buffer';
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { parseArgs } from 'node:util';
import express from 'express';
import { Registry, collectDefaultMetrics } from 'prom-client';

const { values } = parseArgs({
  strict: false,
  options: {
    'tls-cert-file': { type: 'string' },
    'tls-key-file': { type: 'string' },
    port: { type: 'string' },
    'metrics-port': { type: 'string' },
    'bind-address': { type: 'string', default: '127.0.0.1' },
    'metrics-bind-address': { type: 'string', default: '127.0.0.1' },
    express: { type: 'boolean', default: false },
  },
});
for (const flag of ['tls-cert-file', 'tls-key-file', 'port', 'metrics-port']) {
  if (typeof values[flag] !== 'string') {
    process.stderr.write(`floor.mjs: --${flag} is required\n`);
    process.exit(2);
  }
}

// The webhook's answer to the bench's requests (admissionResponse of an allowed update), byte for byte in size.
const fixed = { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: 'bench', allowed: true } };
const answer = JSON.stringify(fixed);
const bare = (req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    Buffer.concat(chunks); // as express.raw() does: the webhook gets the body as one buffer
    res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(answer) }).end(answer);
  });
};
const app = express();
app.disable('x-powered-by');
app.disable('etag');
app.post('/validate', express.raw({ type: () => true, limit: 3 * 1024 * 1024 }), (_req, res) => {
  res.status(200).json(fixed);
});

const https = createHttpsServer({ cert: readFileSync(values['tls-cert-file']), key: readFileSync(values['tls-key-file']), minVersion: 'TLSv1.2' }, values.express ? app : bare);
https.keepAliveTimeout = 65_000;

const registry = new Registry();
collectDefaultMetrics({ register: registry });
const plain = createHttpServer((req, res) => {
  if (req.url === '/readyz') res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
  else if (req.url === '/metrics') void registry.metrics().then((text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text));
  else res.writeHead(404).end();
});

https.listen(Number(values.port), values['bind-address']);
plain.listen(Number(values['metrics-port']), values['metrics-bind-address']);
process.once('SIGTERM', () => process.exit(0));
