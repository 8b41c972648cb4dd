import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { readdir, readFile, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { CURRENT_LOG, RotatingLog, readLog } from './log-files.ts';
import { INDEX_PERIOD_MS, offsetSince, readIndex, indexPath, type IndexEntry } from './log-index.ts';

describe('log time index', () => {
  const dirs: string[] = [];
  const freshDir = () => {
    const d = mkdtempSync(join(tmpdir(), 'gedge-logidx-'));
    dirs.push(d);
    return d;
  };
  after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

  const read = async (dir: string, since: number, tailBytes = 0) => {
    let text = '';
    for await (const c of readLog(dir, { tailBytes, follow: false, since, signal: new AbortController().signal })) text += c;
    return text;
  };

  it('golden: where output since a time starts', () => {
    const entries: IndexEntry[] = [
      { offset: 0, at: 1000 },
      { offset: 100, at: 2500 },
      { offset: 200, at: 5000 },
    ];
    const file = { size: 300, mtimeMs: 5200 };
    const cases: [number, number][] = [
      [0, 0],
      [1000, 0],
      [1500, 0], // inside the period that began at 1000
      [2000, 100], // that period is over; the next entry is at 2500
      [3000, 100],
      [4000, 200],
      [5500, 200],
      [6000, 300], // after the last period: nothing
    ];
    for (const [since, want] of cases) assert.equal(offsetSince(entries, since, file), want, `since ${since}`);
    assert.equal(offsetSince([], 6000, file), 300, 'no index, modified before: all older');
    assert.equal(offsetSince([], 5000, file), 0, 'no index, modified after: all newer');
  });

  it('property: never drops output written since the time, includes at most one period before it', () => {
    const writes = fc.array(fc.record({ gap: fc.nat(2500), len: fc.integer({ min: 1, max: 50 }) }), { minLength: 1, maxLength: 60 });
    fc.assert(
      fc.property(writes, fc.nat(200_000), (ws, sinceRaw) => {
        // What RotatingLog's writer does, without the disk: an entry before a write when a period has passed.
        let t = 1000;
        let offset = 0;
        let lastAt = -Infinity;
        const entries: IndexEntry[] = [];
        const placed = ws.map((w) => {
          t += w.gap;
          if (t - lastAt >= INDEX_PERIOD_MS) entries.push({ offset, at: (lastAt = t) });
          const at = { t, offset };
          offset += w.len;
          return at;
        });
        const since = 1000 + (sinceRaw % (t - 1000 + 3000));
        const start = offsetSince(entries, since, { size: offset, mtimeMs: t });
        for (const w of placed) {
          if (w.t >= since) assert.ok(w.offset >= start, `a write at ${w.t} >= ${since} was dropped`);
          if (w.offset >= start) assert.ok(w.t > since - INDEX_PERIOD_MS, `a write at ${w.t} is more than a period before ${since}`);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('RotatingLog writes an entry per period, rotates indexes with their files, and readLog starts at the time', async () => {
    const dir = freshDir();
    let clock = 1_000_000;
    const now = () => clock;
    // Old output, several files' worth, all at one time: one entry per file.
    let log = new RotatingLog(dir, { maxBytes: 100, keep: 5, now });
    for (let i = 0; i < 12; i++) log.write(`old ${String(i).padStart(2, '0')} ${'.'.repeat(12)}\n`); // 20 bytes each
    await log.close();
    const files = (await readdir(dir)).sort();
    assert.ok(files.includes(`${CURRENT_LOG}.2`), `rotated: ${files.join(' ')}`);
    for (const f of files.filter((n) => !n.endsWith('.idx'))) {
      const entries = await readIndex(indexPath(join(dir, f)));
      assert.deepEqual(entries, [{ offset: 0, at: clock }], `${f}: one entry, at its start`);
    }
    // Five seconds later (a new writer, as after an agent restart), new output.
    clock += 5000;
    log = new RotatingLog(dir, { maxBytes: 100, keep: 5, now });
    for (let i = 0; i < 3; i++) log.write(`new ${i}\n`);
    await log.close();

    assert.equal(await read(dir, clock), 'new 0\nnew 1\nnew 2\n', 'since the new output: only it');
    assert.equal(await read(dir, clock + INDEX_PERIOD_MS), '', 'after it: nothing');
    const everything = await read(dir, 0);
    assert.ok(everything.startsWith('old ') && everything.endsWith('new 2\n'), 'since long ago: every file kept');
    assert.equal(await read(dir, 0, 12), 'new 1\nnew 2\n', 'tailBytes caps what since selects');
    assert.match(await readFile(indexPath(join(dir, CURRENT_LOG)), 'utf8'), /^\d+ \d+\n(\d+ \d+\n)*$/);
  });

  it('a log written before indexing counts by its modification time', async () => {
    const dir = freshDir();
    const log = new RotatingLog(dir, {});
    log.write('legacy\n');
    await log.close();
    rmSync(indexPath(join(dir, CURRENT_LOG)));
    const t = new Date('2026-01-01T00:00:00Z');
    await utimes(join(dir, CURRENT_LOG), t, t);
    assert.equal(await read(dir, t.getTime() + 1), '');
    assert.equal(await read(dir, t.getTime() - 1), 'legacy\n');
  });
});
