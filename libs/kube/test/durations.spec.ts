// The one duration parser (`@linkerd-rotator/kube/durations`): Go's time.ParseDuration grammar, which
// Linkerd's `-identity-issuance-lifetime` and the runner's flags both use; the runner adds `d`.
import { parseDuration } from '../src/durations/index.js';

const HOUR = 3_600_000;

describe('parseDuration, as Go time.ParseDuration', () => {
  it.each([
    ['24h0m0s', 24 * HOUR],
    ['1h30m', 1.5 * HOUR],
    ['1.5h', 1.5 * HOUR],
    ['.5s', 500],
    ['1.s', 1000],
    ['300ms', 300],
    ['1500us', 1.5],
    ['1500µs', 1.5],
    ['1500μs', 1.5],
    ['2000000ns', 2],
    ['+5m', 5 * 60_000],
    ['-1h', -HOUR],
    ['0', 0],
    ['-0', 0],
  ])('%s = %d ms', (text, ms) => expect(parseDuration(text)).toBe(ms));

  it.each(['', ' 24h', '24h ', '24', 'h', '.s', '1d', '1h 30m', '5x', '1H', '3000000h'])('rejects %j, as Go does', (text) => {
    expect(() => parseDuration(text)).toThrow(/expected a Go duration such as 30m, 24h0m0s or 1h30m, found/);
  });

  it('takes days only when asked (the runner flags)', () => {
    expect(parseDuration('2d12h', { days: true })).toBe(60 * HOUR);
    expect(() => parseDuration('2d')).toThrow(/found "2d"/);
  });
});
