import net from 'node:net';
import type { Instance, Node, Resource } from '../core/index.ts';
import { LinkEmulator } from '../sim/net/link-emulator.ts';
import { reapWorkloads, removeDir, startAgentProcess, startCenterProcess, type AgentHandle, type CenterHandle, type CenterOptions } from './processes.ts';
import { waitFor } from './wait-for.ts';

export interface PlatformOptions extends CenterOptions {
  /** Agents to start: each gets its own site (tier cloud or region when the site's name starts so, else edge). */
  agents: { name: string; site: string; viaLink?: boolean; cpu?: number; memoryMiB?: number; mqtt?: boolean; args?: string[] }[];
  /**
   * Put each agent's probe responder behind its own LinkEmulator (its "access
   * link"): the agent listens for probes on a free port and advertises the
   * emulator's. Peers' probes to it then cross that link, so its delay shows
   * in what they measure. Off: agents probe each other directly.
   */
  accessLinks?: boolean;
}

export interface Platform {
  center: CenterHandle;
  agents: Map<string, AgentHandle>;
  /** Link emulators between an agent and the center, for agents started with viaLink. */
  links: Map<string, LinkEmulator>;
  /** Link emulators in front of each agent's probe responder, with `accessLinks`. */
  accessLinks: Map<string, LinkEmulator>;
  /**
   * Sets the one-way delay of a site's agents' access links and center links.
   * A probe from a to b crosses only b's access link (both ways), so with
   * delays d_a and d_b: a->b measures about 2*d_b, b->a about 2*d_a, and the
   * SiteLink (the mean of the two directions) about d_a + d_b. An agent's round
   * trip to the center (over its center link, with viaLink) is about 2*d_a.
   */
  setSiteDelay(site: string, oneWayMs: number): void;
  startAgent(name: string): Promise<AgentHandle>;
  readyNodes(): Promise<string[]>;
  instances(selector?: string): Promise<Instance[]>;
  close(): Promise<void>;
}

async function stablePort(ports: Map<string, number>, name: string): Promise<string> {
  const port = ports.get(name) ?? (await freePort());
  ports.set(name, port);
  return `127.0.0.1:${port}`;
}

/** A real center and real agents (separate processes) on 127.0.0.1, with sites and joined nodes. */
export async function startPlatform(o: PlatformOptions): Promise<Platform> {
  const center = await startCenterProcess(o);
  const api = center.api;
  const sites = [...new Set(o.agents.map((a) => a.site))];
  await api.apply(
    sites
      .map((s) => ({ apiVersion: 'gedge.io/v1', kind: 'Site', metadata: { name: s }, spec: { tier: s.startsWith('cloud') ? 'cloud' : s.startsWith('region') ? 'region' : 'edge' } }))
      .map((d) => JSON.stringify(d))
      .join('\n---\n'),
  );
  const agents = new Map<string, AgentHandle>();
  const links = new Map<string, LinkEmulator>();
  const accessLinks = new Map<string, LinkEmulator>();
  const probePorts = new Map<string, number>();
  // Each agent's broker keeps its port across restarts, so devices reconnect to the same address.
  const mqttPorts = new Map<string, number>();
  const specs = new Map(o.agents.map((a) => [a.name, a]));

  const startAgent = async (name: string): Promise<AgentHandle> => {
    const spec = specs.get(name)!;
    const prev = agents.get(name);
    let via = center.url;
    if (spec.viaLink) {
      let link = links.get(name);
      if (!link) {
        link = await LinkEmulator.start({ upstreamPort: center.port });
        links.set(name, link);
      }
      via = `https://127.0.0.1:${link.port}`;
    }
    let probe: { probeListen: string; probeAdvertise: string } | undefined;
    if (o.accessLinks) {
      // The same port across restarts, so the emulator in front keeps pointing at the agent.
      const port = probePorts.get(name) ?? (await freePort());
      probePorts.set(name, port);
      let access = accessLinks.get(name);
      if (!access) {
        access = await LinkEmulator.start({ upstreamPort: port });
        accessLinks.set(name, access);
      }
      probe = { probeListen: `127.0.0.1:${port}`, probeAdvertise: `127.0.0.1:${access.port}` };
    }
    const joinToken = prev ? undefined : (await api.createToken({ site: spec.site })).token;
    const h = await startAgentProcess({ center: via, name, site: spec.site, joinToken, caPin: center.caPin, dataDir: prev?.dataDir, cpu: spec.cpu, memoryMiB: spec.memoryMiB, args: spec.args, mqtt: spec.mqtt ? await stablePort(mqttPorts, name) : undefined, ...probe });
    agents.set(name, h);
    return h;
  };

  const platform: Platform = {
    center,
    agents,
    links,
    accessLinks,
    setSiteDelay(site, oneWayMs) {
      for (const a of o.agents.filter((x) => x.site === site)) {
        accessLinks.get(a.name)?.setDelay(oneWayMs);
        links.get(a.name)?.setDelay(oneWayMs);
      }
    },
    startAgent,
    async readyNodes() {
      return ((await api.list<Node>('Node')).items).filter((n) => n.status?.phase === 'Ready').map((n) => n.metadata.name);
    },
    async instances(selector) {
      return (await api.list<Instance>('Instance', { selector })).items;
    },
    async close() {
      await Promise.all([...agents.values()].map((a) => a.process.stop()));
      // A killed agent's workloads outlive it, as on a real node; the test's node goes away with it.
      await Promise.all([...agents.values()].map((a) => reapWorkloads(a.dataDir)));
      await center.process.stop();
      await Promise.all([...links.values(), ...accessLinks.values()].map((l) => l.close()));
      for (const a of agents.values()) removeDir(a.dataDir);
      removeDir(center.dataDir);
    },
  };
  try {
    for (const a of o.agents) await startAgent(a.name);
    await waitFor(async () => (await platform.readyNodes()).length === o.agents.length, 30_000, 'every node Ready');
  } catch (e) {
    await platform.close();
    throw e;
  }
  return platform;
}

/** A port free right now on 127.0.0.1 (for a process that must be told its port up front). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/** A service manifest for tests: a real process (node -e ...) with an optional HTTP port and readiness probe. */
export function testService(name: string, o: { replicas?: number; script?: string; http?: boolean; tiers?: string[]; nodeSelector?: Record<string, string> } = {}): Resource {
  const script = o.script ?? (o.http ? HTTP_SCRIPT : 'setInterval(() => {}, 1000)');
  return {
    apiVersion: 'gedge.io/v1',
    kind: 'Service',
    metadata: { name, labels: { app: name } },
    spec: {
      replicas: o.replicas ?? 1,
      placement: { ...(o.tiers ? { tiers: o.tiers } : {}), ...(o.nodeSelector ? { nodeSelector: o.nodeSelector } : {}) },
      template: {
        command: [process.execPath, '-e', script],
        ports: o.http ? [{ name: 'http' }] : [],
        ...(o.http ? { readiness: { http: { port: 'http', path: '/' }, period: '200ms' } } : {}),
      },
    },
  } as unknown as Resource;
}

const HTTP_SCRIPT = `require('http').createServer((q, s) => s.end(process.env.GEDGE_INSTANCE)).listen(Number(process.env.PORT), '127.0.0.1'); process.on('SIGTERM', () => process.exit(0));`;
