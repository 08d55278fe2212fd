// Durations as Go writes them (`@linkerd-rotator/kube/durations`): the one parser for what Go programs
// and their flags take, time.ParseDuration's grammar exactly. Linkerd's identity controller reads
// `-identity-issuance-lifetime` with it; the runner's flags are Go durations too, plus `d` for days.

const NS_PER_MS = 1_000_000;
/** Go's units, in nanoseconds (`µs` is U+00B5, `μs` U+03BC; Go takes both). */
const UNITS: Record<string, number> = { ns: 1, us: 1e3, 'µs': 1e3, 'μs': 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };
const DAY_NS = 24 * 3600e9;
/** time.Duration is an int64 of nanoseconds (2^63 - 1): about 2562047h. */
const MAX_NS = 2 ** 63 - 1;

export interface DurationOptions {
  /** Also take `d` (24h), which Go does not: the runner's flags (`--cross-sign-margin 7d`). */
  readonly days?: boolean;
}

/**
 * Milliseconds of a Go duration (`24h0m0s`, `1h30m`, `1.5h`, `300ms`, `-1h`, `0`), read as
 * time.ParseDuration does: a sign, then one or more decimal numbers each with a unit; no spaces.
 * Throws a message naming the text when Go would refuse it.
 */
export function parseDuration(text: string, options: DurationOptions = {}): number {
  const refuse = () => new Error(`expected a Go duration such as 30m, 24h0m0s or 1h30m${options.days ? ' (or d for days)' : ''}, found "${text}"`);
  let rest = text;
  let sign = 1;
  if (rest.startsWith('-') || rest.startsWith('+')) {
    sign = rest.startsWith('-') ? -1 : 1;
    rest = rest.slice(1);
  }
  if (rest === '0') return 0;
  if (rest === '') throw refuse();
  let total = 0;
  const part = /^(\d*)(?:\.(\d*))?([^\d.]*)/;
  while (rest !== '') {
    const m = part.exec(rest) as RegExpExecArray;
    const [whole, int = '', fraction, unit = ''] = m;
    if (int === '' && !fraction) throw refuse();
    const ns = unit === 'd' && options.days ? DAY_NS : UNITS[unit];
    if (ns === undefined) throw refuse();
    total += Number(`${int || '0'}.${fraction || '0'}`) * ns;
    rest = rest.slice(whole.length);
  }
  if (total > MAX_NS) throw refuse();
  return (sign * total) / NS_PER_MS || 0;
}
