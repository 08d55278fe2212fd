// Entry point of `npm run rotator -- <command>` (and the CronJob): runs the commander program in
// cli.ts against the real process streams and exits with its code.
import { run } from './cli.js';

run(process.argv.slice(2), {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
}).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`rotator failed: ${(err as Error).message}\n`);
    process.exitCode = 1;
  },
);
