import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { GedgeEvent, Instance, Resource, Service } from '../../core/index.ts';
import { spawnGedge, startPlatform, waitFor, type Platform } from '../../testkit/index.ts';
import { Podman } from '../runtime/podman.ts';
import { deriveImage, ensureTestImage } from '../runtime/test-image.ts';
import { requirePodman } from '../runtime/container-test-helpers.ts';

/**
 * Rollouts of container image revisions across two edge sites, on real
 * podman, through real center and agent processes: a healthy revision rolls
 * out site by site; a crash-looping one is rolled back on its own. A sampler
 * watches the store throughout: the service never has fewer than
 * replicas - maxUnavailable ready instances.
 */

const REPLICAS = 4;
const FLOOR = REPLICAS - 1;
const SITES = ['edge-a', 'edge-b'];

const server = (version: string) =>
  `require('http').createServer((q, s) => s.end('${version} ' + process.env.GEDGE_INSTANCE)).listen(Number(process.env.PORT), '0.0.0.0'); process.on('SIGTERM', () => process.exit(0));`;

function webService(image: string): Resource {
  return {
    apiVersion: 'gedge.io/v1',
    kind: 'Service',
    metadata: { name: 'web', labels: { app: 'web' } },
    spec: {
      replicas: REPLICAS,
      maxSurge: 1,
      maxUnavailable: 1,
      placement: { tiers: ['edge'], policy: 'spread' },
      rollout: { progressDeadline: '1m', maxRestarts: 2 },
      template: {
        runtime: 'container',
        image,
        ports: [{ name: 'http' }],
        readiness: { http: { port: 'http', path: '/' }, period: '200ms', failureThreshold: 1 },
        resources: { cpu: 0.1, memoryMiB: 64 },
        stopGracePeriod: '2s',
      },
    },
  } as unknown as Resource;
}

describe('container rollouts across two edge sites', { skip: requirePodman() }, () => {
  let p: Platform;
  const images: Record<string, string> = {};
  const samples: Array<{ ready: number; oldBySite: Record<string, number> }> = [];
  let sampling = true;
  let sampler: Promise<void> | undefined;
  let currentImage = '';

  before(async () => {
    const podman = new Podman(join(tmpdir(), 'gedge-podman'));
    const base = await ensureTestImage(podman);
    images.v1 = await deriveImage(podman, base, 'localhost/gedge-web:v1', [process.execPath, '-e', server('v1')]);
    images.v2 = await deriveImage(podman, base, 'localhost/gedge-web:v2', [process.execPath, '-e', server('v2')]);
    images.broken = await deriveImage(podman, base, 'localhost/gedge-web:broken', ['/bin/sh', '-c', 'echo boom; exit 1']);
    p = await startPlatform({ heartbeatMs: 300, agents: SITES.map((site) => ({ name: `${site}-1`, site, cpu: 4, memoryMiB: 4096 })) });
  });
  after(async () => {
    sampling = false;
    await sampler;
    await p?.close();
  });

  const instances = async (): Promise<Instance[]> => (await p.center.api.list<Instance>('Instance', { selector: 'app=web' })).items;
  const siteOf = (i: Instance): string => (i.spec.node ?? '').replace(/-1$/, '');
  const serves = async (i: Instance): Promise<string> => (await (await fetch(`http://127.0.0.1:${i.status!.ports.http}/`)).text()).split(' ')[0]!;

  /** Records, every 100 ms, the ready count and each site's instances not of the current image. */
  function startSampling(): void {
    sampler = (async () => {
      while (sampling) {
        const all = await instances().catch(() => undefined);
        if (all) {
          const oldBySite: Record<string, number> = {};
          for (const i of all) if (i.spec.template.image !== currentImage) oldBySite[siteOf(i)] = (oldBySite[siteOf(i)] ?? 0) + 1;
          samples.push({ ready: all.filter((i) => i.status?.ready).length, oldBySite });
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
  }

  async function rolloutStatus(): Promise<{ code: number | null; out: string }> {
    const cli = spawnGedge('cli', ['rollout', 'status', 'web', '--timeout', '3m'], { GEDGE_SERVER: p.center.url, GEDGE_TOKEN: p.center.adminToken, GEDGE_CA_FILE: p.center.caFile, GEDGE_CONFIG: '/nonexistent/gedge-config' });
    let err = '';
    cli.proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    const code = await cli.exited;
    return { code, out: cli.lines.map((l) => l.msg ?? '').join('\n') + err };
  }

  const reasons = async (): Promise<string[]> =>
    ((await p.center.api.list<GedgeEvent>('Event', { selector: 'gedge.io/involved-kind=Service,gedge.io/involved-name=web' })).items as GedgeEvent[])
      .sort((a, b) => (a.metadata.revision ?? 0) - (b.metadata.revision ?? 0))
      .map((e) => `${e.spec.reason}: ${e.spec.message}`);

  it('runs revision 1 on both sites', async () => {
    currentImage = images.v1!;
    await p.center.api.apply(JSON.stringify(webService(images.v1!)));
    const all = await waitFor(async () => {
      const list = await instances();
      return list.length === REPLICAS && list.every((i) => i.status?.phase === 'Running' && i.status.ready) ? list : undefined;
    }, 90_000, '4 web containers Running and ready');
    assert.deepEqual([...new Set(all.map(siteOf))].sort(), SITES, 'spread over both sites');
    for (const i of all) assert.equal(await serves(i), 'v1');
    startSampling();
  });

  it('a healthy new image rolls out site by site and completes', async () => {
    currentImage = images.v2!;
    const from = samples.length;
    await p.center.api.apply(JSON.stringify(webService(images.v2!)));
    const status = await rolloutStatus();
    assert.equal(status.code, 0, status.out);
    assert.match(status.out, /revision 2: Complete/);
    const all = await instances();
    assert.equal(all.length, REPLICAS);
    for (const i of all) assert.equal(await serves(i), 'v2');
    const during = samples.slice(from);
    assert.ok(during.every((s) => s.ready >= FLOOR), `ready fell below ${FLOOR}: ${during.map((s) => s.ready).join(',')}`);
    // Site by site: edge-b keeps all its old instances while edge-a still has any.
    assert.ok(during.every((s) => !s.oldBySite['edge-a'] || s.oldBySite['edge-b'] === 2), 'edge-b was touched before edge-a was done');
    const story = await reasons();
    const i = (r: RegExp) => story.findIndex((s) => r.test(s));
    assert.ok(i(/RolloutStarted: rolling out revision 2 \(image localhost\/gedge-web:v2\)/) >= 0, story.join('\n'));
    assert.ok(i(/RolloutSiteDone: revision 2: site edge-a updated/) > i(/RolloutStarted: rolling out revision 2/), story.join('\n'));
    assert.ok(i(/RolloutComplete: revision 2 rolled out: 4\/4 ready/) > i(/RolloutSiteDone: revision 2/), story.join('\n'));
  });

  it('a crash-looping image is rolled back automatically and the service never drops below its floor', async () => {
    const from = samples.length;
    currentImage = images.v2!; // the broken revision's instances count as "new" only while they exist
    await p.center.api.apply(JSON.stringify(webService(images.broken!)));
    const status = await rolloutStatus();
    assert.equal(status.code, 1, status.out);
    assert.match(status.out, /rolled back/);
    const svc = await p.center.api.get<Service>('Service', 'web');
    assert.equal(svc.spec.template.image, images.v2, 'the last good image is back in the spec');
    assert.equal(svc.status?.rollout?.phase, 'RolledBack');
    const settled = await waitFor(async () => {
      const list = await instances();
      return list.length === REPLICAS && list.every((x) => x.spec.template.image === images.v2 && x.status?.ready) ? list : undefined;
    }, 60_000, 'only v2 instances, all ready');
    for (const x of settled) assert.equal(await serves(x), 'v2');
    const during = samples.slice(from);
    assert.ok(during.length > 0 && during.every((s) => s.ready >= FLOOR), `ready fell below ${FLOOR}: ${during.map((s) => s.ready).join(',')}`);
    const story = await reasons();
    const i = (r: RegExp) => story.findIndex((s) => r.test(s));
    assert.ok(i(/RolloutStarted: rolling out revision 3 \(image localhost\/gedge-web:broken\)/) >= 0, story.join('\n'));
    assert.ok(i(/RolloutFailed: revision 3 failed its health gate: instance .* (restarted \d+ times without becoming ready|failed)/) > 0, story.join('\n'));
    assert.ok(i(/RolledBack: rolled back from revision 3 to revision 2/) > i(/RolloutFailed/), story.join('\n'));

    const history = spawnGedge('cli', ['rollout', 'history', 'web'], { GEDGE_SERVER: p.center.url, GEDGE_TOKEN: p.center.adminToken, GEDGE_CA_FILE: p.center.caFile, GEDGE_CONFIG: '/nonexistent/gedge-config' });
    assert.equal(await history.exited, 0);
    const table = history.lines.map((l) => l.msg ?? '').join('\n');
    assert.match(table, /^1\s+\S+\s+container\s+image localhost\/gedge-web:v1$/m);
    assert.match(table, /^3\s+\S+\s+container\s+image localhost\/gedge-web:broken$/m);
    assert.match(table, /^2\s+\*\s+\S+\s+container\s+image localhost\/gedge-web:v2$/m);
  });
});
