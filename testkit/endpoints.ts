import http from 'node:http';
import type { Platform } from './platform.ts';
import { waitFor } from './wait-for.ts';
import type { ResolvedEndpoint } from '../agent/endpoints/endpoints.ts';

/** An agent's endpoint resolver (GS-Link), from its log line. */
export function resolverOf(p: Platform, agent: string): string {
  const line = p.agents.get(agent)?.process.events('endpoints').at(-1);
  if (!line) throw new Error(`${agent} has not logged its endpoint resolver`);
  return String(line.resolver);
}

export type { ResolvedEndpoint };

/** A Service's endpoint port at an agent, as its resolver answers now (undefined: not served there). */
export async function resolveEndpoint(p: Platform, agent: string, service: string, o: { project?: string; port?: string } = {}): Promise<ResolvedEndpoint | undefined> {
  const res = await fetch(`http://${resolverOf(p, agent)}/v1/endpoints/${o.project ?? 'default'}/${service}`);
  if (res.status !== 200) return undefined;
  return ((await res.json()) as { endpoints: ResolvedEndpoint[] }).endpoints.find((e) => e.port === (o.port ?? 'http'));
}

/** Where an agent's endpoint of a Service listens, once it resolves at least `instances` instances. */
export async function endpointAt(p: Platform, agent: string, service: string, o: { instances?: number; project?: string; port?: string; timeoutMs?: number; pollMs?: number } = {}): Promise<{ host: string; port: number }> {
  const address = await waitFor(
    async () => {
      const e = await resolveEndpoint(p, agent, service, o);
      return e && e.instances.length >= (o.instances ?? 1) ? e.address : undefined;
    },
    o.timeoutMs ?? 60_000,
    `${agent} resolves ${o.instances ?? 1} instance(s) of ${service}`,
    o.pollMs,
  );
  const [host, port] = address.split(':');
  return { host: host!, port: Number(port) };
}

/** One HTTP request to an endpoint (on a connection of its own unless `agent` keeps one alive): status and body. */
export function httpRequest(at: { host: string; port: number }, path: string, o: { agent?: http.Agent; method?: string; headers?: Record<string, string>; body?: string; timeoutMs?: number } = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ ...at, path, method: o.method ?? 'GET', headers: o.headers, agent: o.agent ?? false, timeout: o.timeoutMs ?? 15_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end(o.body);
  });
}
