/** Plane geometry for the topology drawings: link curves and where their labels fit. */

export interface Point {
  x: number;
  y: number;
}

export interface Rect {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

export interface CurveInput<T> {
  item: T;
  from: Point;
  to: Point;
  /** Sideways bend as a fraction of the length (negative: to the other side). */
  bend: number;
  /** The label to place on the curve, or null for none. */
  text: string | null;
}

export interface Routed<T> {
  item: T;
  d: string;
  /** Where the label goes, or null when it is left out. */
  label: Point | null;
  text: string | null;
}

export const LABEL_H = 15;
/** How many lines up or down a name may move from its marker. */
const MAX_LINES = 6;
/** Where along a curve a label may go, best first. */
const SPOTS = [0.5, 0.4, 0.6, 0.3, 0.7, 0.22, 0.78];

const overlaps = (a: Rect, b: Rect) => a.x0 < b.x1 && b.x0 < a.x1 && a.y0 < b.y1 && b.y0 < a.y1;
const r = (n: number) => Math.round(n * 10) / 10;

/** A box of `width` x `height` centred on p. */
export function around(p: Point, width: number, height: number): Rect {
  return { x0: p.x - width / 2, y0: p.y - height / 2, x1: p.x + width / 2, y1: p.y + height / 2 };
}

/** Rough width of a label in the drawings' 11-13 px font, enough to keep labels apart. */
function textWidth(text: string, px = 12): number {
  return text.length * px * 0.6 + 6;
}

/**
 * Quadratic curves, and a label spot on each that covers no obstacle (site
 * boxes, markers, names) and no label placed before it; a label with no free
 * spot is left out (the link table still says it), as is one on a curve
 * shorter than `minLength`.
 */
export function routeCurves<T>(inputs: CurveInput<T>[], obstacles: Rect[], minLength = 0): Routed<T>[] {
  const placed: Rect[] = [];
  return inputs.map(({ item, from: a, to: b, bend, text }) => {
    const dx = b.x - a.x;
    const dy = b.y - a.y;
    const c = { x: (a.x + b.x) / 2 - dy * bend, y: (a.y + b.y) / 2 + dx * bend };
    const d = `M${r(a.x)},${r(a.y)} Q${r(c.x)},${r(c.y)} ${r(b.x)},${r(b.y)}`;
    if (text === null || Math.hypot(dx, dy) < minLength) return { item, d, label: null, text };
    const width = textWidth(text, 11.5);
    for (const s of SPOTS) {
      const p = { x: (1 - s) ** 2 * a.x + 2 * (1 - s) * s * c.x + s ** 2 * b.x, y: (1 - s) ** 2 * a.y + 2 * (1 - s) * s * c.y + s ** 2 * b.y };
      const box = around(p, width, LABEL_H);
      if (obstacles.some((o) => overlaps(o, box)) || placed.some((o) => overlaps(o, box))) continue;
      placed.push(box);
      return { item, d, label: p, text };
    }
    return { item, d, label: null, text };
  });
}

/**
 * Name labels beside their marker, right or left, on the nearest line up or
 * down where they cover no marker (`obstacles`) and no label placed before
 * them; with no room within a few lines, right of the marker regardless.
 */
export function placeNames<T>(items: { item: T; at: Point; radius: number; text: string }[], obstacles: Rect[]): Map<T, Rect> {
  const out = new Map<T, Rect>();
  const taken = [...obstacles];
  for (const { item, at, radius, text } of [...items].sort((a, b) => a.at.y - b.at.y)) {
    const w = textWidth(text);
    const right = at.x + radius + 4;
    const left = at.x - radius - 4 - w;
    const box = (x0: number, dy: number) => ({ x0, y0: at.y + dy - LABEL_H / 2, x1: x0 + w, y1: at.y + dy + LABEL_H / 2 });
    // Candidates sit clear of their own marker, so every marker can be an obstacle.
    const free = (b: Rect) => !taken.some((o) => overlaps(o, b));
    let chosen: Rect | undefined;
    for (let k = 0; k <= 2 * MAX_LINES && !chosen; k++) {
      const dy = (k % 2 ? -1 : 1) * Math.ceil(k / 2) * LABEL_H;
      chosen = [box(right, dy), box(left, dy)].find(free);
    }
    chosen ??= box(right, 0);
    taken.push(chosen);
    out.set(item, chosen);
  }
  return out;
}

