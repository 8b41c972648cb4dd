import assert from 'node:assert/strict';
import { appendFile, mkdir, readdir, readFile, stat, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CURRENT_LOG, RotatingLog, readLog } from './log-files.ts';
import { makeTempDir, waitFor } from './test-helpers.ts';

describe('RotatingLog and readLog', () => {
  let root: string;
  let cleanup: () => Promise<void>;
  let seq = 0;
  before(async () => ({ dir: root, cleanup } = await makeTempDir('gedge-logs-')));
  after(async () => cleanup());
  const freshDir = (): string => join(root, `log-${++seq}`);
  const noAbort = new AbortController().signal;

  async function readAllOf(dir: string, tailBytes: number): Promise<string> {
    let text = '';
    for await (const chunk of readLog(dir, { tailBytes, follow: false, signal: noAbort })) text += chunk;
    return text;
  }
  /** What the rotated files and current.log hold, oldest first. */
  async function keptText(dir: string): Promise<string> {
    const files = (await logFiles(dir)).sort((a, b) => order(b) - order(a));
    const parts = await Promise.all(files.map((file) => readFile(join(dir, file), 'utf8')));
    return parts.join('');
  }
  /** The log files, without their time indexes. */
  const logFiles = async (dir: string): Promise<string[]> => (await readdir(dir)).filter((f) => !f.endsWith('.idx'));
  const order = (file: string): number => (file === CURRENT_LOG ? 0 : Number(file.slice(CURRENT_LOG.length + 1)));

  it('rotation keeps at most keep+1 files, each within maxBytes, holding the newest output', async () => {
    const dir = freshDir();
    const log = new RotatingLog(dir, { maxBytes: 100, keep: 2 });
    let written = '';
    for (let i = 0; i < 60; i++) {
      const line = `line ${String(i).padStart(3, '0')}\n`;
      log.write(line);
      written += line;
    }
    const big = 'B'.repeat(250); // larger than a whole file: split across files
    log.write(big);
    written += big;
    log.write('end\n');
    written += 'end\n';
    await log.close();

    const files = await logFiles(dir);
    assert.ok(files.length <= 3, `files: ${files.join(', ')}`);
    for (const file of files) {
      assert.ok([CURRENT_LOG, `${CURRENT_LOG}.1`, `${CURRENT_LOG}.2`].includes(file), file);
      assert.ok((await stat(join(dir, file))).size <= 100, `${file} is over maxBytes`);
    }
    const kept = await keptText(dir);
    assert.ok(kept.length > 0 && written.endsWith(kept), 'the kept files are the newest contiguous output');
  });

  it('keeps lines whole when a write fits an empty file', async () => {
    const dir = freshDir();
    const log = new RotatingLog(dir, { maxBytes: 20, keep: 5 });
    for (let i = 0; i < 10; i++) log.write(`message ${i}\n`); // 10 bytes each
    await log.close();
    for (const file of await logFiles(dir)) {
      const text = await readFile(join(dir, file), 'utf8');
      assert.match(text, /^(message \d\n)+$/, `${file}: ${JSON.stringify(text)}`);
    }
  });

  it('tail reaches into the rotated file when current.log is shorter', async () => {
    const dir = freshDir();
    const log = new RotatingLog(dir, { maxBytes: 100, keep: 3 });
    let written = '';
    for (let i = 0; i < 35; i++) {
      const line = `row ${String(i).padStart(4, '0')}\n`; // 9 bytes
      log.write(line);
      written += line;
    }
    await log.close();
    const current = await readFile(join(dir, CURRENT_LOG), 'utf8');
    assert.ok(current.length < 150, 'the test needs a short current.log');
    assert.equal(await readAllOf(dir, 150), written.slice(-150));
    assert.equal(await readAllOf(dir, 0), current, 'tail 0 is the whole current file');
    assert.equal(await readAllOf(dir, current.length), current);
    assert.equal(await readAllOf(dir, 100_000), written, 'a tail longer than the log is everything kept');
  });

  it('reads nothing from a log that does not exist yet', async () => {
    assert.equal(await readAllOf(freshDir(), 100), '');
  });

  it('follow sees appended data and survives rotation', async () => {
    const dir = freshDir();
    const log = new RotatingLog(dir, { maxBytes: 64, keep: 1 });
    const abort = new AbortController();
    let seen = '';
    const reading = (async () => {
      for await (const chunk of readLog(dir, { tailBytes: 0, follow: true, signal: abort.signal, pollMs: 10 })) seen += chunk;
    })();
    let written = '';
    for (let batch = 0; batch < 12; batch++) {
      // At most one rotation per batch, and the reader catches up before the
      // next: two rotations within one poll would lose a file by design.
      for (let i = 0; i < 3; i++) {
        const line = `batch ${String(batch).padStart(2, '0')} line ${i}\n`; // 19 bytes
        log.write(line);
        written += line;
      }
      await waitFor(() => seen.length >= written.length, 5000, `batch ${batch}`);
    }
    await log.close();
    abort.abort();
    await reading;
    assert.equal(seen, written, 'nothing lost or repeated across rotations');
    assert.ok((await logFiles(dir)).includes(`${CURRENT_LOG}.1`), 'the log did rotate');
  });

  it('follow starts over when the file is truncated in place', async () => {
    const dir = freshDir();
    await mkdir(dir);
    await appendFile(join(dir, CURRENT_LOG), 'old content that is long\n');
    const abort = new AbortController();
    let seen = '';
    const reading = (async () => {
      for await (const chunk of readLog(dir, { tailBytes: 0, follow: true, signal: abort.signal, pollMs: 10 })) seen += chunk;
    })();
    await waitFor(() => seen.includes('long'), 5000, 'the old content');
    await truncate(join(dir, CURRENT_LOG), 0);
    await appendFile(join(dir, CURRENT_LOG), 'new\n');
    await waitFor(() => seen.endsWith('new\n'), 5000, 'the new content');
    abort.abort();
    await reading;
  });

  it('decodes UTF-8 characters split across writes and reads', async () => {
    const dir = freshDir();
    const text = 'héllo € 日本語 🎉\n';
    const bytes = Buffer.from(text);
    const log = new RotatingLog(dir, { maxBytes: 1024, keep: 1 });
    for (let i = 0; i < bytes.length; i += 2) log.write(bytes.subarray(i, i + 2)); // splits most characters
    await log.close();
    assert.equal(await readFile(join(dir, CURRENT_LOG), 'utf8'), text);

    // A follower that has read up to the middle of a character must not emit U+FFFD.
    const followed = freshDir();
    await mkdir(followed);
    const euro = Buffer.from('€');
    await appendFile(join(followed, CURRENT_LOG), Buffer.concat([Buffer.from('price: '), euro.subarray(0, 1)]));
    const abort = new AbortController();
    const chunks: string[] = [];
    const iterator = readLog(followed, { tailBytes: 0, follow: true, signal: abort.signal, pollMs: 10 })[Symbol.asyncIterator]();
    const first = await iterator.next();
    chunks.push(first.done ? '' : first.value); // the reader now holds half of '€'
    await appendFile(join(followed, CURRENT_LOG), Buffer.concat([euro.subarray(1), Buffer.from('5\n')]));
    while (!chunks.join('').endsWith('\n')) {
      const next = await iterator.next();
      if (next.done) break;
      chunks.push(next.value);
    }
    abort.abort();
    await iterator.return?.();
    assert.deepEqual(chunks, ['price: ', '€5\n']);

    // A tail that starts inside a character skips its remaining bytes.
    const tailed = freshDir();
    await mkdir(tailed);
    await appendFile(join(tailed, CURRENT_LOG), 'x€y');
    assert.equal(await readAllOf(tailed, 3), 'y');
  });
});
