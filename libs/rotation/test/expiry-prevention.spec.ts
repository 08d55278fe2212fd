// Issue 15, "Never get there": a scheduled run starts a rotation on its own when the active anchor
// ends within the time a rotation needs, even with no prepared anchor waiting, and a rotation that
// starts too close to that end cannot be cross-signed (X ends with the old anchor).
import { chooseStrategy, decide, expiryMarginOf, formatDuration, initialState, resolveOptions, rotationNeedMs } from '../src/index.js';
import type { Decision } from '../src/index.js';
import { anchor, HOUR, snapshot, T0 } from './builders.js';

const DAY = 24 * HOUR;
/** A young active anchor (no --only-if-older-than would rotate it) ending `left` after T0, nothing prepared waiting. */
function endingIn(left: number) {
  const active = { ...anchor('A', { notBefore: T0 - DAY }), notAfter: T0 + left, crossSignable: true as const };
  return snapshot({ active, previous: active, prepared: { revision: 1, issuing: 'absent', anchor: active } });
}
const started = (d: Decision) => (d.kind === 'action' && d.action.kind === 'record-transition' ? d : undefined);

describe('the time a rotation needs', () => {
  it('is five phase deadlines, one leaf lifetime and the clock skew; the margin is twice that unless --expiry-margin sets it', () => {
    const o = resolveOptions({});
    expect(rotationNeedMs(o)).toBe(5 * 30 * 60_000 + DAY + 20_000);
    expect(formatDuration(expiryMarginOf(o))).toBe('2d5h40s');
    expect(expiryMarginOf(resolveOptions({ expiryMarginMs: 3 * DAY }))).toBe(3 * DAY);
    // the cross-sign margin is not part of it: pods relying on X are restarted before X ends either way
    expect(rotationNeedMs(resolveOptions({ phaseTimeoutMs: HOUR, leafLifetimeMs: HOUR, crossSignMarginMs: 300 * DAY }))).toBe(6 * HOUR + 20_000);
    expect(() => resolveOptions({ expiryMarginMs: -1 })).toThrow(/expected expiryMarginMs to be a non-negative duration, found -1; fix --expiry-margin/);
    expect(() => resolveOptions({ phaseTimeoutMs: Number.NaN })).toThrow(/expected phaseTimeoutMs to be a non-negative number/);
  });
});

describe('a scheduled run (start if-due) and the active anchor\'s end', () => {
  const o = resolveOptions({});
  const margin = expiryMarginOf(o);

  it('starts a rotation once the active anchor ends within the margin, though it is young and no prepared anchor waits', () => {
    const d = started(decide(endingIn(margin), initialState(), o));
    expect(d?.action).toMatchObject({ kind: 'record-transition', from: 'Idle', to: 'Prepare' });
    expect(d?.summary).toMatch(/ends 2026-03-03T17:00:40.000Z, within the expiry margin 2d5h40s a rotation needs \(--expiry-margin\)/);
    expect(d?.state.rotation).toMatchObject({ strategy: 'cross-signed' });
  });

  it('control: one second outside the margin, nothing is due', () => {
    expect(decide(endingIn(margin + 1000), initialState(), o)).toMatchObject({ kind: 'done', summary: expect.stringMatching(/no rotation due/) });
  });

  it('honours --expiry-margin, and start policy never still only resumes', () => {
    const wider = resolveOptions({ expiryMarginMs: 30 * DAY });
    expect(started(decide(endingIn(20 * DAY), initialState(), wider))).toBeDefined();
    expect(decide(endingIn(20 * DAY), initialState(), o).kind).toBe('done');
    expect(decide(endingIn(HOUR), initialState(), resolveOptions({ start: 'never' })).kind).toBe('done');
  });

  it('uses strategy restart, saying why, when the anchor ends before a cross-signed rotation could finish', () => {
    const need = rotationNeedMs(o);
    const d = started(decide(endingIn(need - 1000), initialState(), o));
    expect(d?.state.rotation).toMatchObject({
      strategy: 'restart',
      strategyNote: expect.stringMatching(/it ends .*, in 1d2h30m19s, sooner than the 1d2h30m20s a cross-signed rotation needs .*cannot outlive it\); using strategy restart/),
    });
    const active = endingIn(need + 1000).active!;
    expect(chooseStrategy(active, o, T0)).toEqual({ strategy: 'cross-signed' });
  });
});
