// Test helper: parse a commander command's argv with exactly these environment variables set (the
// chart's ConfigMap contract), restoring the process environment afterwards.
import type { Command } from 'commander';

/** The command's values after parsing `argv` with only `env` in the environment. */
export function optionsWithEnv(command: Command, argv: string[], env: NodeJS.ProcessEnv): Record<string, unknown> {
  const saved = { ...process.env };
  for (const key of Object.keys(process.env)) delete process.env[key];
  Object.assign(process.env, env);
  try {
    command.parse(argv, { from: 'user' });
  } finally {
    for (const key of Object.keys(process.env)) delete process.env[key];
    Object.assign(process.env, saved);
  }
  return command.opts();
}
