import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { probeOnce } from './probe.ts';
import type { Probe } from './probe.ts';

describe('probeOnce', () => {
  let server: http.Server;
  let port: number;
  let closedPort: number;
  before(async () => {
    server = http.createServer((req, res) => {
      if (req.url === '/hang') return; // never answers
      const status = req.url === '/ok' ? 200 : req.url === '/moved' ? 302 : 503;
      res.writeHead(status).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
    const spare = net.createServer();
    await new Promise<void>((resolve) => spare.listen(0, '127.0.0.1', resolve));
    closedPort = (spare.address() as AddressInfo).port;
    await new Promise((resolve) => spare.close(resolve));
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  const httpProbe = (portRef: string | number, path: string): Probe => ({ http: { port: portRef, path }, periodMs: 1000, timeoutMs: 1000 });
  const tcp = (portRef: string | number): Probe => ({ tcp: { port: portRef }, periodMs: 1000, timeoutMs: 1000 });

  it('http: 2xx and 3xx are ready, 5xx is not', async () => {
    assert.equal(await probeOnce(httpProbe(port, '/ok'), {}, 1000), true);
    assert.equal(await probeOnce(httpProbe(port, '/moved'), {}, 1000), true);
    assert.equal(await probeOnce(httpProbe(port, '/broken'), {}, 1000), false);
  });

  it('resolves a named port through the instance ports', async () => {
    assert.equal(await probeOnce(httpProbe('web', '/ok'), { web: port }, 1000), true);
    assert.equal(await probeOnce(tcp('web'), { web: port }, 1000), true);
    assert.equal(await probeOnce(tcp('unknown'), { web: port }, 1000), false);
  });

  it('tcp: a listening port is ready, a closed one is not', async () => {
    assert.equal(await probeOnce(tcp(port), {}, 1000), true);
    assert.equal(await probeOnce(tcp(closedPort), {}, 1000), false);
    assert.equal(await probeOnce(httpProbe(closedPort, '/ok'), {}, 1000), false);
  });

  it('gives up after the timeout', async () => {
    const began = Date.now();
    assert.equal(await probeOnce(httpProbe(port, '/hang'), {}, 100), false);
    assert.ok(Date.now() - began < 1000);
  });
});
