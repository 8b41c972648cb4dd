import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import http from 'node:http';
import net from 'node:net';
import tls from 'node:tls';
import type { Instance, Node, Resource } from '../../core/index.ts';
import { newKeyAndCsr } from '../../core/pki.ts';
import { resolveEndpoint as resolve, resolverOf, startPlatform, testService, waitFor, type ResolvedEndpoint as Resolved } from '../../testkit/index.ts';

/** A Service of HTTP instances that answer with their own name, exposed as an endpoint. */
function exposed(name: string, o: { replicas: number; nodes?: string[]; more?: boolean }): Resource {
  const s = testService(name, { replicas: o.replicas, http: true }) as Resource & { spec: Record<string, unknown> };
  s.spec.endpoint = {};
  s.spec.placement = o.nodes ? { policy: 'pinned', nodes: o.nodes } : { policy: 'spread' };
  if (o.more) (s.spec.template as { ports: { name: string }[] }).ports.push({ name: 'admin' });
  if (o.more) s.spec.endpoint = { ports: ['http'] };
  return s;
}

/**
 * GET / through an address on a connection of its own (an endpoint picks an
 * instance per connection, as a Kubernetes Service does): the name of the
 * instance that answered, or undefined when the request failed.
 */
function ask(address: string): Promise<string | undefined> {
  const [host, port] = address.split(':');
  return new Promise((resolve) => {
    const req = http.get({ host, port: Number(port), path: '/', agent: false, timeout: 5000 }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve(res.statusCode === 200 ? body : undefined));
      res.on('error', () => resolve(undefined));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(undefined));
  });
}

test('an endpoint answers from the nearest ready instance, fails over at once when it dies, reaches other nodes through their gateway, and keeps serving with the center stopped', async () => {
  const p = await startPlatform({ agents: [{ name: 'edge-a-1', site: 'edge-a' }, { name: 'edge-b-1', site: 'edge-b' }] });
  try {
    const api = p.center.api;
    await api.apply([exposed('web', { replicas: 2 }), exposed('far', { replicas: 1, nodes: ['edge-b-1'] })].map((d) => JSON.stringify(d)).join('\n---\n'));
    const web = await waitFor(async () => {
      const all = await p.instances('app=web');
      return all.length === 2 && all.every((i) => i.status?.ready) && new Set(all.map((i) => i.spec.node)).size === 2 ? all : undefined;
    }, 30_000, 'one ready web instance on each node');
    const onA = web.find((i) => i.spec.node === 'edge-a-1')!;
    const onB = web.find((i) => i.spec.node === 'edge-b-1')!;

    // Each site's endpoint answers from its own node's instance.
    const atA = await waitFor(async () => {
      const r = await resolve(p, 'edge-a-1', 'web');
      return r?.instances.length === 2 ? r : undefined;
    }, 15_000, 'edge-a resolves both web instances');
    assert.deepEqual(atA.instances.map((i) => [i.instance, i.local]), [[onA.metadata.name, true], [onB.metadata.name, false]], 'its own instance first');
    const atB = await waitFor(() => resolve(p, 'edge-b-1', 'web'), 15_000, 'edge-b resolves web');
    // The resolver: JSON errors for what it does not answer, and nothing it holds changes.
    const resolver = resolverOf(p, 'edge-a-1');
    for (const [path, method, status] of [['/v1/endpoints/default/nope', 'GET', 404], ['/v1/endpoints/%E0%A4%A', 'GET', 400], ['/v1/endpoints', 'POST', 405], ['/v1/endpoints/default', 'GET', 404], ['/other', 'GET', 404]] as const) {
      const res = await fetch(`http://${resolver}${path}`, { method });
      assert.equal(res.status, status, `${method} ${path}`);
      const body = (await res.json()) as { code: string; message: string; details: unknown[] };
      assert.ok(body.code && body.message && Array.isArray(body.details), `${method} ${path}: {code, message, details}`);
    }
    const all = (await (await fetch(`http://${resolver}/v1/endpoints`)).json()) as { endpoints: Resolved[] };
    assert.deepEqual(all.endpoints.map((e) => `${e.service}/${e.port}`).sort(), ['far/http', 'web/http']);
    for (let i = 0; i < 5; i++) {
      assert.equal(await ask(atA.address), onA.metadata.name);
      assert.equal(await ask(atB.address), onB.metadata.name);
    }

    // A client that sends its request and half-closes still gets the whole answer, on both paths.
    const halfClosed = (address: string) =>
      new Promise<string>((done, fail) => {
        const [host, port] = address.split(':');
        const s = net.connect({ host, port: Number(port) }, () => s.end('GET / HTTP/1.0\r\n\r\n'));
        let got = '';
        s.on('data', (d: Buffer) => (got += d.toString()));
        s.on('close', () => done(got.split('\r\n\r\n')[1] ?? ''));
        s.on('error', fail);
      });
    assert.equal(await halfClosed(atA.address), onA.metadata.name);

    // A Service with no instance at edge-a: its endpoint there reaches edge-b's, through edge-b's gateway.
    const far = await waitFor(async () => (await p.instances('app=far')).find((i) => i.status?.ready), 30_000, 'far ready on edge-b');
    const farAtA = await waitFor(async () => {
      const r = await resolve(p, 'edge-a-1', 'far');
      return r?.instances.length ? r : undefined;
    }, 15_000, 'edge-a resolves far');
    assert.equal(await ask(farAtA.address), far.metadata.name, 'answered by edge-b across the gateway');
    assert.equal(await halfClosed(farAtA.address), far.metadata.name, 'half-closed, across the gateway');

    // Kill edge-a's web instance: while it is down (the agent restarts it), requests through edge-a's endpoint go to edge-b's.
    const answers: (string | undefined)[] = [];
    let asking = true;
    const hammer = (async () => {
      while (asking) answers.push(await ask(atA.address));
    })();
    try {
      await waitFor(() => answers.length >= 5, 10_000, 'requests flowing');
      process.kill(onA.status!.pid!, 'SIGKILL');
      await waitFor(async () => {
        const i = await api.get<Instance>('Instance', onA.metadata.name);
        return (i.status?.restarts ?? 0) >= 1 && i.status?.ready;
      }, 30_000, 'the killed instance restarted and ready again');
      // Passed over for a few seconds after its failure, then first again.
      await waitFor(() => answers.slice(-3).every((a) => a === onA.metadata.name), 15_000, 'back to the local instance');
    } finally {
      asking = false;
      await hammer;
    }
    // One request at a time: only the one in flight when the process died can fail (its connection was to it); every later one is answered.
    assert.ok(answers.filter((a) => a === undefined).length <= 1, `every request but the one in flight at the kill answered (${answers.length} asked)`);
    assert.ok(answers.includes(onB.metadata.name), 'while the local instance was down, edge-b answered');

    // The center gone: the agents resolve from local state, and both paths still answer.
    await p.center.process.stop();
    await waitFor(async () => p.agents.get('edge-a-1')!.process.events('disconnected').length > 0, 15_000, 'edge-a noticed');
    assert.equal(await ask(atA.address), onA.metadata.name);
    assert.equal(await ask(farAtA.address), far.metadata.name, 'across the gateway without the center');
  } finally {
    await p.close();
  }
});

test('the gateway takes only nodes\' certificates, and reaches only the exposed ports of its own node\'s ready instances', async () => {
  const p = await startPlatform({ agents: [{ name: 'edge-a-1', site: 'edge-a' }, { name: 'edge-b-1', site: 'edge-b' }] });
  try {
    const api = p.center.api;
    await api.apply(JSON.stringify(exposed('web', { replicas: 1, nodes: ['edge-b-1'], more: true })));
    await api.apply(JSON.stringify({ ...testService('hidden', { http: true }), spec: { ...(testService('hidden', { http: true }) as Resource & { spec: object }).spec, placement: { policy: 'pinned', nodes: ['edge-b-1'] } } }));
    const web = await waitFor(async () => (await p.instances('app=web')).find((i) => i.status?.ready), 30_000, 'web ready on edge-b');
    const hidden = await waitFor(async () => (await p.instances('app=hidden')).find((i) => i.status?.ready), 30_000, 'hidden ready on edge-b');
    const gateway = await waitFor(async () => (await api.get<Node>('Node', 'edge-b-1')).status?.gateway, 15_000, "edge-b's gateway in its status");
    // edge-a's certificate: a node of the platform, not edge-b.
    const nodeTls = JSON.parse(readFileSync(join(p.agents.get('edge-a-1')!.dataDir, 'pki', 'node.json'), 'utf8')) as { key: string; cert: string; ca: string };
    await waitFor(() => resolve(p, 'edge-a-1', 'web'), 15_000, 'edge-a knows web');

    /** One request line through the gateway with a client certificate; the gateway's first line back, or the handshake's failure. */
    const through = (cred: { key: string; cert: string } | undefined, line: string) =>
      new Promise<string>((done) => {
        const s = tls.connect({ host: gateway.host, port: gateway.port, ca: nodeTls.ca, ...(cred ?? {}), checkServerIdentity: () => undefined });
        let got = '';
        s.on('secureConnect', () => s.write(line));
        s.on('data', (d: Buffer) => {
          got += d.toString();
          if (got.includes('\n')) {
            s.destroy();
            done(got.split('\n')[0]!);
          }
        });
        s.on('error', (e) => done(`error: ${e.message}`));
        s.on('close', () => done(got || 'closed'));
      });
    const req = (instance: string, port: string) => `${JSON.stringify({ project: 'default', instance, port })}\n`;

    assert.equal(await through(nodeTls, req(web.metadata.name, 'http')), 'OK', 'a node reaches an exposed port');
    assert.match(await through(undefined, req(web.metadata.name, 'http')), /^(error|closed)/, 'no certificate: no handshake');
    // A device's certificate comes from the same CA: still refused.
    await api.apply(JSON.stringify({ apiVersion: 'gedge.io/v1', kind: 'Device', metadata: { name: 'meter' }, spec: { site: 'edge-b' } }));
    const { keyPem, csrPem } = await newKeyAndCsr('meter');
    const device = await api.issueDeviceCertificate('default', 'meter', { csr: csrPem });
    assert.match(await through({ key: keyPem, cert: device.certificate }, req(web.metadata.name, 'http')), /^ERR only nodes/);
    assert.match(await through(nodeTls, req(web.metadata.name, 'admin')), /^ERR .*does not serve port "admin"/, 'a port the endpoint does not carry');
    assert.match(await through(nodeTls, req(hidden.metadata.name, 'http')), /^ERR .*does not serve/, 'a Service with no endpoint');
    assert.match(await through(nodeTls, req('no-such-instance', 'http')), /^ERR /);
    assert.match(await through(nodeTls, 'not json\n'), /^ERR the request line is not JSON/);
    assert.match(await through(nodeTls, `${'x'.repeat(2000)}`), /^ERR the request line is longer than 1024 bytes/);
    assert.match(await through(nodeTls, `${JSON.stringify({ project: 'default', instance: 'a'.repeat(1500), port: 'http' })}\n`), /^ERR the request line is longer than 1024 bytes/, 'in one chunk with its newline too');
    assert.match(await through(nodeTls, req(web.metadata.name, 'constructor')), /^ERR .*does not serve port "constructor"/, 'a name every object has is no port');
    // Still serving after all that.
    assert.equal(await through(nodeTls, req(web.metadata.name, 'http')), 'OK');
    // edge-a deleted: its certificate, still within its lifetime, no longer opens edge-b's gateway.
    await api.delete('Node', 'edge-a-1');
    await waitFor(async () => /^ERR edge-a-1 is not a node of the platform/.test(await through(nodeTls, req(web.metadata.name, 'http'))) || undefined, 15_000, "the deleted node's certificate refused");
  } finally {
    await p.close();
  }
});
