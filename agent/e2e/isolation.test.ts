import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ApiClient, type Instance } from '../../core/index.ts';
import { startPlatform, waitFor } from '../../testkit/index.ts';
import { Podman } from '../runtime/podman.ts';
import { ensureTestImage } from '../runtime/test-image.ts';
import { TEST_PODMAN_DIR, requirePodman } from '../runtime/container-test-helpers.ts';

const service = (name: string, project: string, script: string) =>
  JSON.stringify({
    apiVersion: 'gedge.io/v1',
    kind: 'Service',
    metadata: { name, project },
    spec: { replicas: 1, placement: { nodeSelector: { 'gedge.io/site': 'edge-a' } }, template: { command: ['sh', '-c', script], volumes: [{ name: 'data' }] } },
  });

/** An instance's log, read until it contains `until`. */
const logUntil = (api: ApiClient, instance: string, project: string, until: string): Promise<string> =>
  waitFor(async () => {
    let text = '';
    for await (const chunk of api.logs(instance, { project })) text += chunk;
    return text.includes(until) ? text : undefined;
  }, 30_000, `${instance}'s output up to "${until}"`);

/**
 * A project's user cannot own the node: its process workload runs as an
 * unprivileged user of its project, which can write its own volume but
 * cannot read the agent's credential and state, another project's volume,
 * or list the agent's data dir (the attack of issue 17, observation 1).
 */
test("a project's workload runs unprivileged and reaches only its own project's files", async () => {
  if (process.getuid?.() !== 0) return; // isolation needs a root agent; elsewhere the agent says it cannot isolate
  const p = await startPlatform({ heartbeatMs: 300, agents: [{ name: 'node-a', site: 'edge-a' }] });
  try {
    const api = p.center.api;
    await api.apply(['p1', 'p2'].map((name) => JSON.stringify({ apiVersion: 'gedge.io/v1', kind: 'Project', metadata: { name }, spec: {} })).join('\n---\n'));
    await api.apply(service('keeper', 'p2', 'echo p2-secret > "$VOLUME_DATA/secret" && echo written && exec sleep 600'));
    const logsOf = async (project: string, svc: string, until: string) => {
      const inst = await waitFor(async () => (await api.list<Instance>('Instance', { project, selector: `gedge.io/service=${svc}` })).items.find((i) => i.status?.phase === 'Running' || i.status?.phase === 'Succeeded'), 20_000, `${svc} started`);
      return logUntil(api, inst.metadata.name, project, until);
    };
    assert.match(await logsOf('p2', 'keeper', 'written'), /written/);

    // The attack, applied with a user token of p1 only.
    const user = await api.createToken({ kind: 'user', projects: ['p1'] });
    const p1 = new ApiClient(p.center.url, user.token, p.center.ca);
    const data = p.agents.get('node-a')!.dataDir;
    await p1.apply(
      service(
        'attacker',
        'p1',
        [
          'echo "uid=$(id -u)"',
          'echo mine > "$VOLUME_DATA/f" && echo "own volume: $(cat "$VOLUME_DATA/f")"',
          `cat ${data}/identity.json 2>&1 | head -c 300`,
          `cat ${data}/state.db 2>&1 | head -c 100 | tr -cd '[:print:]\\n'`,
          `ls ${data} 2>&1`,
          `cat ${data}/volumes/p2.keeper/data/secret 2>&1`,
          `ls ${data}/homes/p2 2>&1`,
          'echo "home=$HOME"',
          'echo finished; exec sleep 600',
        ].join('; '),
      ),
    );
    const out = await logsOf('p1', 'attacker', 'finished');
    const uid = Number(/uid=(\d+)/.exec(out)?.[1]);
    assert.ok(uid >= 200_000, `runs as its project's user, not root: ${out}`);
    assert.match(out, /own volume: mine/, 'it writes its own volume');
    assert.ok(!out.includes('gdg_'), `no credential leaked: ${out}`);
    assert.ok(!out.includes('p2-secret'), `no other project's data: ${out}`);
    assert.ok(!out.includes('SQLite'), `no agent state: ${out}`);
    assert.ok((out.match(/Permission denied/g) ?? []).length >= 5, `every attempt refused: ${out}`);
    assert.match(out, new RegExp(`home=${data}/homes/p1`));
  } finally {
    await p.close();
  }
});

/**
 * Containers too: in a user namespace whose root is the project's
 * unprivileged user on the host (the container's init and the files it
 * writes belong to that user), no capabilities, no privilege gained through
 * setuid binaries; it still writes its own volume.
 */
test("a project's container runs as its project's user with no capabilities", { skip: process.getuid?.() !== 0 ? 'needs a root agent' : requirePodman() }, async () => {
  const image = await ensureTestImage(new Podman(TEST_PODMAN_DIR));
  const p = await startPlatform({ heartbeatMs: 300, agents: [{ name: 'node-a', site: 'edge-a' }] });
  try {
    const api = p.center.api;
    await api.apply(
      JSON.stringify({
        apiVersion: 'gedge.io/v1',
        kind: 'Service',
        metadata: { name: 'boxed' },
        spec: {
          replicas: 1,
          placement: { nodeSelector: { 'gedge.io/site': 'edge-a' } },
          template: {
            runtime: 'container',
            image,
            command: ['/bin/sh', '-c', 'echo "uid=$(id -u)"; cat /proc/self/uid_map; grep -E "^Cap(Eff|Prm)|^NoNewPrivs" /proc/self/status; echo x > /data/f && echo "volume: $(cat /data/f)"; echo finished; exec sleep 600'],
            volumes: [{ name: 'data', mountPath: '/data' }],
          },
        },
      }),
    );
    const inst = await waitFor(async () => (await api.list<Instance>('Instance', { selector: 'gedge.io/service=boxed' })).items.find((i) => i.status?.phase === 'Running'), 60_000, 'the container running');
    const out = await logUntil(api, inst.metadata.name, 'default', 'finished');
    assert.match(out, /uid=0\n/, `root inside: ${out}`);
    const uid = Number(/^\s*0\s+(\d+)\s+1\s*$/m.exec(out)?.[1]);
    assert.ok(uid >= 200_000, `root inside is the project's unprivileged user outside: ${out}`);
    const status = await readFile(`/proc/${inst.status!.pid}/status`, 'utf8');
    assert.match(status, new RegExp(`^Uid:\\s+${uid}\\s`, 'm'), `the container's init runs as that user on the host: ${status}`);
    assert.equal((await stat(join(p.agents.get('node-a')!.dataDir, 'volumes', 'default.boxed', 'data', 'f'))).uid, uid, 'what it writes is that user\'s');
    assert.match(out, /CapPrm:\s+0+\n/, `no capabilities: ${out}`);
    assert.match(out, /CapEff:\s+0+\n/, `no capabilities: ${out}`);
    assert.match(out, /NoNewPrivs:\s+1/, `no new privileges: ${out}`);
    assert.match(out, /volume: x/, 'it writes its own volume');
  } finally {
    await p.close();
  }
});
