// Draws docs/img/benchmarks.svg from bench/results/*.json: every figure that
// has a goal and a peer measured in the same run, as how many times better
// than the peer gedge is (throughput: ours / peer; latency and time:
// peer / ours), on a log scale, green where the goal is met. No dependencies:
// `npm run plots` after `npm run bench -- NAME`.
import { readdirSync, readFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const resultsDir = join(root, 'bench', 'results');
const out = join(root, 'docs', 'img', 'benchmarks.svg');

/** Units where more is better; every other unit (ms, us, s) is a time, where less is. */
const MORE_IS_BETTER = /\/s|msg\/cpu-s|%/;

/** Whether the figure meets its goal: `<= N unit`, `>= N unit`, `<= N unit (...)`. */
function meets(m) {
  const g = /^(<=|>=)\s*([\d.]+)/.exec(m.goal ?? '');
  if (!g) return undefined;
  const n = Number(g[2]);
  return g[1] === '<=' ? m.ours <= n : m.ours >= n;
}

const rows = [];
for (const file of readdirSync(resultsDir).filter((f) => f.endsWith('.json')).sort()) {
  const { suite, at, metrics } = JSON.parse(readFileSync(join(resultsDir, file), 'utf8'));
  for (const m of metrics) {
    if (typeof m.peer !== 'number' || typeof m.ours !== 'number' || !m.peer || !m.ours) continue;
    if (!m.goal || m.goal === 'report' || m.peerName === 'ours') continue;
    const better = MORE_IS_BETTER.test(m.unit) ? m.ours / m.peer : m.peer / m.ours;
    rows.push({ label: `${suite}: ${m.name}`, peer: m.peerName, better, ok: meets(m), at: at.slice(0, 10) });
  }
}

const W = 1180;
const LEFT = 560;
const ROW = 26;
const TOP = 56;
const H = TOP + rows.length * ROW + 48;
// Log scale from 1/4x to 64x; 1x (as good as the peer) is the reference line.
const [LO, HI] = [Math.log2(1 / 4), Math.log2(64)];
const x = (v) => LEFT + ((Math.min(HI, Math.max(LO, Math.log2(v))) - LO) / (HI - LO)) * (W - LEFT - 220);
const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const fmt = (v) => (v >= 10 ? v.toFixed(0) : v.toFixed(2).replace(/\.?0+$/, ''));

const parts = [
  `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="DejaVu Sans, Arial, sans-serif" font-size="12">`,
  `<rect width="${W}" height="${H}" fill="#fff"/>`,
  `<text x="12" y="22" font-size="15" font-weight="bold">gedge against the peer measured in the same run (times better; log scale)</text>`,
  `<text x="12" y="40" fill="#555">Throughput: ours / peer. Latency and time: peer / ours. Green: the figure meets its goal; red: it misses it (a goal may be absolute, as the control loop's 10 ms; BENCHMARKS.md).</text>`,
];
for (const t of [0.25, 0.5, 1, 2, 4, 8, 16, 32, 64]) {
  parts.push(`<line x1="${x(t)}" y1="${TOP - 6}" x2="${x(t)}" y2="${TOP + rows.length * ROW}" stroke="${t === 1 ? '#333' : '#ddd'}" stroke-width="${t === 1 ? 1.5 : 1}"/>`);
  parts.push(`<text x="${x(t)}" y="${TOP + rows.length * ROW + 16}" text-anchor="middle" fill="#555">${t}x</text>`);
}
rows.forEach((r, i) => {
  const y = TOP + i * ROW;
  const colour = r.ok === undefined ? '#888' : r.ok ? '#2e7d32' : '#c62828';
  const [from, to] = [x(Math.min(1, r.better)), x(Math.max(1, r.better))];
  parts.push(`<text x="${LEFT - 8}" y="${y + 16}" text-anchor="end">${esc(r.label.length > 84 ? `${r.label.slice(0, 81)}...` : r.label)}</text>`);
  parts.push(`<rect x="${from}" y="${y + 5}" width="${Math.max(1, to - from)}" height="${ROW - 10}" fill="${colour}"/>`);
  parts.push(`<text x="${to + 4}" y="${y + 16}" fill="#333">${fmt(r.better)}x vs ${esc(r.peer)}</text>`);
});
parts.push(`<text x="12" y="${H - 10}" fill="#777">From bench/results/*.json (${[...new Set(rows.map((r) => r.at))].sort().join(', ')}); 2 cores, see BENCHMARKS.md for the runs and the machine.</text>`);
parts.push('</svg>');

mkdirSync(join(root, 'docs', 'img'), { recursive: true });
writeFileSync(out, `${parts.join('\n')}\n`);
console.log(`wrote ${out}: ${rows.length} figures`);
