import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { probeOnce } from './probe.ts';
import type { Probe } from './probe.ts';
import { ProcessRuntime } from './process-runtime.ts';
import { template } from './test-helpers.ts';

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
  const httpProbe = (portRef: string | number, path: string): Probe => ({ http: { port: portRef, path }, initialDelay: '0s', period: '1s', timeout: '1s', failureThreshold: 1 });
  const tcp = (portRef: string | number): Probe => ({ tcp: { port: portRef }, initialDelay: '0s', period: '1s', timeout: '1s', failureThreshold: 1 });

  it('http: 2xx and 3xx are ready, 5xx is not', async () => {
    assert.equal(await probeOnce(httpProbe(port, '/ok'), { ports: {} }, 1000), true);
    assert.equal(await probeOnce(httpProbe(port, '/moved'), { ports: {} }, 1000), true);
    assert.equal(await probeOnce(httpProbe(port, '/broken'), { ports: {} }, 1000), false);
  });

  it('resolves a named port through the instance ports', async () => {
    assert.equal(await probeOnce(httpProbe('web', '/ok'), { ports: { web: port } }, 1000), true);
    assert.equal(await probeOnce(tcp('web'), { ports: { web: port } }, 1000), true);
    assert.equal(await probeOnce(tcp('unknown'), { ports: { web: port } }, 1000), false);
  });

  it('tcp: a listening port is ready, a closed one is not', async () => {
    assert.equal(await probeOnce(tcp(port), { ports: {} }, 1000), true);
    assert.equal(await probeOnce(tcp(closedPort), { ports: {} }, 1000), false);
    assert.equal(await probeOnce(httpProbe(closedPort, '/ok'), { ports: {} }, 1000), false);
  });

  it('gives up after the timeout', async () => {
    const began = Date.now();
    assert.equal(await probeOnce(httpProbe(port, '/hang'), { ports: {} }, 100), false);
    assert.ok(Date.now() - began < 1000);
  });

  it('translates a numeric container port to its host port', async () => {
    assert.equal(await probeOnce(tcp(8080), { ports: {}, portMap: { 8080: port } }, 1000), true);
  });

  it('exec: exit 0 passes, anything else fails, a hung command is killed at the timeout', async () => {
    const runtime = new ProcessRuntime();
    const spec = { id: 'default.probe', template: template({ command: ['/bin/true'] }), env: {}, logDir: '/nonexistent', ports: {}, volumes: {} };
    const target = { ports: {}, exec: (command: string[]) => runtime.exec(spec, { command, tty: false }) };
    const exec = (command: string[]): Probe => ({ exec: { command }, initialDelay: '0s', period: '1s', timeout: '1s', failureThreshold: 1 });
    assert.equal(await probeOnce(exec(['/bin/sh', '-c', 'exit 0']), target, 1000), true);
    assert.equal(await probeOnce(exec(['/bin/sh', '-c', 'exit 1']), target, 1000), false);
    assert.equal(await probeOnce(exec(['/nonexistent/probe']), target, 1000), false);
    const began = Date.now();
    assert.equal(await probeOnce(exec(['/bin/sh', '-c', 'sleep 30']), target, 200), false);
    assert.ok(Date.now() - began < 5000, 'the hung probe was killed');
  });
});
