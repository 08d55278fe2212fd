// Turns `go test -json` output (stdin) into a jest-style result file so `npm test` can report one
// closing line over every test run; prints failing tests' output as it goes.
import { writeFileSync } from 'node:fs';
import readline from 'node:readline';

const out = process.argv[2];
let passed = 0;
let failed = 0;
let skipped = 0;
const output = new Map();
const rl = readline.createInterface({ input: process.stdin });
for await (const line of rl) {
  let ev;
  try {
    ev = JSON.parse(line);
  } catch {
    process.stdout.write(`${line}\n`);
    continue;
  }
  const key = `${ev.Package} ${ev.Test ?? ''}`;
  if (ev.Action === 'output') output.set(key, (output.get(key) ?? '') + ev.Output);
  if (!ev.Test) {
    if (ev.Action === 'fail') {
      failed++;
      process.stdout.write(`FAIL ${ev.Package}\n${output.get(key) ?? ''}`);
    } else if (ev.Action === 'pass') process.stdout.write(`ok   ${ev.Package}\n`);
    continue;
  }
  if (ev.Action === 'pass') passed++;
  if (ev.Action === 'skip') skipped++;
  if (ev.Action === 'fail') {
    failed++;
    process.stdout.write(`--- FAIL ${key}\n${output.get(key) ?? ''}`);
  }
}
console.log(`go: ${passed} passed, ${failed} failed, ${skipped} skipped`);
writeFileSync(out, JSON.stringify({ numPassedTests: passed, numFailedTests: failed, numRuntimeErrorTestSuites: 0, numPendingTests: skipped, numTodoTests: 0 }));
