/**
 * A small seeded PRNG, so a simulation is a pure function of its seed (no
 * Math.random). mulberry32: 32 bits of state, good enough for traffic, and
 * cheap enough to run one stream per approach.
 */
export type Rng = () => number;

/** Uniform in [0, 1). */
export function mulberry32(seed: number): Rng {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A seed for one stream, mixed from the run's seed and the stream's keys
 * (an intersection, an approach), so streams do not overlap and adding an
 * intersection does not shift the draws of the others.
 */
export function streamSeed(seed: number, ...keys: (number | string)[]): number {
  let h = (seed ^ 0x9e3779b9) >>> 0;
  for (const k of keys) {
    const s = String(k);
    for (let i = 0; i < s.length; i++) h = fmix(h ^ s.charCodeAt(i));
    h = fmix(h ^ 0x2f);
  }
  return h;
}

/** murmur3's finaliser: every input bit affects every output bit. */
function fmix(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/**
 * A Poisson draw (Knuth's method). Means above 30 are split into parts, so
 * e^-mean never underflows; the number of draws depends only on the stream
 * and the mean, never on anything else in the model.
 */
export function poisson(rng: Rng, mean: number): number {
  if (!(mean > 0)) return 0;
  let n = 0;
  let left = mean;
  while (left > 0) {
    const part = Math.min(left, 30);
    left -= part;
    const limit = Math.exp(-part);
    let p = rng();
    while (p > limit) {
      n++;
      p *= rng();
    }
  }
  return n;
}
