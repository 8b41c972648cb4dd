import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { unreachableReason } from './errors.ts';
import { ApiClient } from './api-client.ts';

/** A port nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const { port } = s.address() as net.AddressInfo;
  await new Promise((resolve) => s.close(resolve));
  return port;
}

test("a failed connection is reported with its innermost reason, not fetch's \"fetch failed\"", async () => {
  const port = await closedPort();
  const err = await fetch(`http://127.0.0.1:${port}/`).catch((e: unknown) => e);
  assert.match(unreachableReason(err), new RegExp(`ECONNREFUSED 127\\.0\\.0\\.1:${port}`));
  assert.equal(unreachableReason('plain'), 'plain');
});

test('the API client says why the center cannot be reached', async () => {
  const port = await closedPort();
  await assert.rejects(new ApiClient(`https://127.0.0.1:${port}`, 'token').raw('GET', '/healthz'), (err: Error) => {
    assert.match(err.message, new RegExp(`^cannot reach the center at https://127\\.0\\.0\\.1:${port}: connect ECONNREFUSED`));
    return true;
  });
});
