import { LruCache } from './lru.js';

describe('LruCache', () => {
  it('evicts the least recently used entry beyond capacity', () => {
    const lru = new LruCache<string, number>(2);
    lru.set('a', 1);
    lru.set('b', 2);
    expect(lru.get('a')).toBe(1); // a is now most recent
    lru.set('c', 3);
    expect(lru.get('b')).toBeUndefined();
    expect(lru.get('a')).toBe(1);
    expect(lru.get('c')).toBe(3);
    expect(lru.size).toBe(2);
  });

  it('computes once per key', () => {
    const lru = new LruCache<string, number>(4);
    let calls = 0;
    const compute = () => ++calls;
    expect(lru.getOrCompute('k', compute)).toBe(1);
    expect(lru.getOrCompute('k', compute)).toBe(1);
    expect(calls).toBe(1);
  });

  it('rejects a non-positive capacity', () => {
    expect(() => new LruCache(0)).toThrow(RangeError);
  });
});
