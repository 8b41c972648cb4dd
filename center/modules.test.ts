import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { startCenter } from './center.ts';

test("a center whose port is taken does not start: the error is the listener's; the modules that started are stopped, so the same data dir starts next", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'gedge-center-modules-'));
  const squatter = net.createServer();
  await new Promise<void>((resolve) => squatter.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    squatter.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const { port } = squatter.address() as net.AddressInfo;
  const log = pino({ level: 'silent' });
  await assert.rejects(startCenter({ dataDir: dir, host: '127.0.0.1', port }, log), (err: Error) => {
    assert.match(err.message, /EADDRINUSE/);
    assert.doesNotMatch(err.message, /module "/, 'the operator sees the cause, not the module machinery');
    return true;
  });
  // The store, the CA and the rest were closed in reverse order: nothing holds the data dir.
  const center = await startCenter({ dataDir: dir, host: '127.0.0.1', port: 0 }, log);
  try {
    assert.deepEqual(
      center.modules().map((m) => m.state),
      center.modules().map(() => 'running'),
    );
    assert.match(center.adminToken ?? '', /^gdg_/, 'the failed start made no admin token nobody was shown: this one does');
  } finally {
    await center.close();
  }
  assert.deepEqual(new Set(center.modules().map((m) => m.state)), new Set(['stopped']));
});
