// The persisted state format: round trip, canonical text, and refusal of anything unexpected.
// A damaged or newer state must stop a run, never be guessed at.
import { initialState, parseState, serializeState, STATE_DATA_KEY } from '../src/index.js';
import { sameState } from '../src/state.js';
import { rotating } from './builders.js';

describe('persisted state', () => {
  it('reads a missing ConfigMap or key as a fresh Idle state', () => {
    expect(parseState(undefined)).toEqual({ ok: true, state: initialState() });
    expect(parseState({ other: 'x' })).toEqual({ ok: true, state: initialState() });
  });

  it('round-trips a rotation state through ConfigMap data, with the phase beside it', () => {
    const state = rotating('Promote', { promotedAt: '2026-03-01T12:00:00.000Z', rollBaseline: '2026-03-01T11:00:00.000Z' });
    const data = serializeState(state);
    expect(data.phase).toBe('Promote');
    const parsed = parseState(data);
    expect(parsed.ok && sameState(parsed.state, state)).toBe(true);
  });

  it('reads a v1 state written with per-workload roll markers, and drops them', () => {
    const state = rotating('TrustBoth', { rollBaseline: '2026-03-01T11:00:00.000Z' });
    const written = { ...state, rotation: { ...state.rotation, rolls: { TrustBoth: { 'Deployment/app/web': '2026-03-01T11:00:00.000Z' } } } };
    const parsed = parseState({ [STATE_DATA_KEY]: JSON.stringify(written) });
    expect(parsed).toEqual({ ok: true, state });
    expect(parsed.ok && parsed.state.rotation).not.toHaveProperty('rolls');
    const damaged = { ...state, rotation: { ...state.rotation, rolls: { TrustBoth: { 'Deployment/app/web': 'yesterday' } } } };
    expect(parseState({ [STATE_DATA_KEY]: JSON.stringify(damaged) }).ok).toBe(false);
  });

  it('serializes equal states to equal text whatever the key order', () => {
    const a = rotating('TrustBoth');
    const b = JSON.parse(JSON.stringify(a, Object.keys(a).reverse())) as typeof a;
    expect(serializeState(a)[STATE_DATA_KEY]).toBe(serializeState({ ...b, ...a })[STATE_DATA_KEY]);
    expect(sameState(a, { ...a, phase: 'Promote' })).toBe(false);
  });

  it('refuses text that is not JSON, saying what to do', () => {
    const parsed = parseState({ [STATE_DATA_KEY]: '{nope' });
    expect(parsed.ok).toBe(false);
    expect(!parsed.ok && parsed.message).toMatch(/expected JSON .* found unparsable text .*; restore it/);
  });

  it('refuses another version instead of guessing', () => {
    const parsed = parseState({ [STATE_DATA_KEY]: JSON.stringify({ ...initialState(), version: 2 }) });
    expect(!parsed.ok && parsed.message).toMatch(/expected rotation state version 1, found 2; run the linkerd-rotator release that wrote it/);
  });

  it('refuses a state with a malformed fingerprint or unknown field', () => {
    const bad = rotating('TrustBoth');
    const broken = { ...bad, rotation: { ...bad.rotation, from: { fingerprint: 'A', publicKeyFingerprint: 'x' } } };
    const parsed = parseState({ [STATE_DATA_KEY]: JSON.stringify(broken) });
    expect(!parsed.ok && parsed.message).toMatch(/expected a valid rotation state v1 .*fingerprint/);
    expect(parseState({ [STATE_DATA_KEY]: JSON.stringify({ ...initialState(), extra: 1 }) }).ok).toBe(false);
  });

  it('refuses an unknown phase or stop reason (the enums are bounded)', () => {
    expect(parseState({ [STATE_DATA_KEY]: JSON.stringify({ ...initialState(), phase: 'Rolling' }) }).ok).toBe(false);
    const stopped = { ...initialState(), phase: 'Stopped', stopped: { reason: 'bored', phase: 'Idle', message: '', at: '2026-03-01T12:00:00.000Z' } };
    expect(parseState({ [STATE_DATA_KEY]: JSON.stringify(stopped) }).ok).toBe(false);
  });
});
