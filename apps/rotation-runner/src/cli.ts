// The rotation-runner CLI program: commander wiring shared by every command, with one exit-code
// convention (exit.ts: 0 ok, 1 stopped safely or check failed, 2 usage, 3 Lease held, 4 cluster error)
// and output through injectable streams.
import { Command, CommanderError } from 'commander';
import { registerBootstrap } from './commands/bootstrap.js';
import { registerFleet } from './commands/fleet.js';
import { registerPlan } from './commands/plan.js';
import { registerRecover } from './commands/recover.js';
import { registerRotate } from './commands/rotate.js';
import { registerCheck, registerStatus } from './commands/status.js';
import { registerValidateBundle } from './commands/validate-bundle.js';
import { EXIT, UsageError } from './exit.js';

export { UsageError };

export interface CommandIO {
  out(text: string): void;
  err(text: string): void;
}

export const EXIT_USAGE = EXIT.usage;

export function buildProgram(io: CommandIO, setExitCode: (code: number) => void): Command {
  const program = new Command('rotator')
    .description("linkerd-rotator: zero-downtime rotation of Linkerd's trust anchor on cert-manager and trust-manager, and recovery after expiry")
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.out(s), writeErr: (s) => io.err(s) })
    .showHelpAfterError('(run with --help for usage)');
  registerBootstrap(program, io, setExitCode);
  registerPlan(program, io, setExitCode);
  registerRotate(program, io, setExitCode);
  registerRecover(program, io, setExitCode);
  registerStatus(program, io, setExitCode);
  registerCheck(program, io, setExitCode);
  registerValidateBundle(program, io, setExitCode);
  registerFleet(program, io, setExitCode);
  // Each command inherits the exit override and output streams.
  for (const command of program.commands) command.exitOverride().configureOutput({ writeOut: (s) => io.out(s), writeErr: (s) => io.err(s) });
  return program;
}

/** Runs the CLI; resolves to the process exit code. */
export async function run(argv: readonly string[], io: CommandIO): Promise<number> {
  let exitCode = 0;
  const program = buildProgram(io, (code) => (exitCode = code));
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return exitCode;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.help' || err.code === 'commander.version') return 0;
      return EXIT_USAGE;
    }
    if (err instanceof UsageError) {
      io.err(`error: ${err.message}\n`);
      return EXIT_USAGE;
    }
    throw err;
  }
}
