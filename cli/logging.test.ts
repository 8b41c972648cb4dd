import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import pty from 'node-pty';
import { REPO_ROOT, removeDir, waitFor } from '../testkit/index.ts';
import { gedgeArgv } from './launch.ts';

test('on a terminal a center logs readable lines; --log-format json keeps JSON there too', async () => {
  for (const format of ['auto', 'json'] as const) {
    const dir = mkdtempSync(join(tmpdir(), 'gedge-log-format-'));
    const term = pty.spawn(process.execPath, gedgeArgv(['center', '--data-dir', dir, '--port', '0', '--admin-token-file', join(dir, 'admin-token'), '--log-format', format]), { cwd: REPO_ROOT, cols: 200, rows: 40, env: process.env as Record<string, string> });
    let out = '';
    term.onData((d) => (out += d));
    try {
      const line = await waitFor(() => out.split(/\r?\n/).find((l) => l.includes('center listening')), 60_000, `"center listening" in:\n${out}`);
      // eslint-disable-next-line no-control-regex
      const plain = line.replace(/\x1b\[[0-9;]*m/g, '');
      if (format === 'auto') {
        assert.ok(!plain.trimStart().startsWith('{'), plain);
        assert.match(plain, /^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: center listening/);
      } else assert.equal(JSON.parse(plain).msg, 'center listening');
    } finally {
      term.kill();
      removeDir(dir);
    }
  }
});
