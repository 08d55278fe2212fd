// The rotation-runner CLI program: commander wiring shared by every command, with one exit-code
// convention (0 ok, 1 the check failed, 2 usage error) and output through injectable streams.
import { Command, CommanderError } from 'commander';
import { registerValidateBundle } from './commands/validate-bundle.js';

/** Thrown by a command for a wrong invocation (bad flag value, unreadable file): exit 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export interface CommandIO {
  out(text: string): void;
  err(text: string): void;
}

export const EXIT_USAGE = 2;

export function buildProgram(io: CommandIO, setExitCode: (code: number) => void): Command {
  const program = new Command('rotator')
    .description("linkerd-rotator: zero-downtime rotation of Linkerd's trust anchor on cert-manager and trust-manager")
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.out(s), writeErr: (s) => io.err(s) })
    .showHelpAfterError('(run with --help for usage)');
  registerValidateBundle(program, io, setExitCode);
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
