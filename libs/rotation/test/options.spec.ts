// resolveOptions: defaults and the values that cannot work, refused with what to fix.
// These are the numbers the CLI flags map to.
import { DEFAULT_OPTIONS, resolveOptions } from '../src/index.js';

describe('resolveOptions', () => {
  it('fills defaults: if-due start, 5 concurrent rollouts, 24h leaves, 20s skew', () => {
    const o = resolveOptions({});
    expect(o).toEqual(DEFAULT_OPTIONS);
    expect(o.leafLifetimeMs).toBe(86_400_000);
  });

  it('ignores undefined overrides (parsed CLI flags that were not given)', () => {
    expect(resolveOptions({ maxConcurrentRollouts: undefined }).maxConcurrentRollouts).toBe(5);
  });

  it.each([
    [{ maxConcurrentRollouts: 0 }, /maxConcurrentRollouts to be a whole number of at least 1, found 0/],
    [{ maxConcurrentRollouts: 1.5 }, /maxConcurrentRollouts/],
    [{ leafLifetimeMs: -1 }, /leafLifetimeMs to be a non-negative number/],
    [{ maxActiveAgeMs: -5 }, /maxActiveAgeMs .* --only-if-older-than/],
  ])('rejects %p', (bad, message) => {
    expect(() => resolveOptions(bad)).toThrow(message);
  });
});
