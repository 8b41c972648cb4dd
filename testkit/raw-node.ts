import WebSocket from 'ws';
import { AGENT_CONNECT_PATH, centerMessageSchema, type AgentMessage, type CenterMessage } from '../core/index.ts';
import { waitFor } from '../core/wait-for.ts';

/**
 * A node that speaks the agent protocol by hand, for tests that act as a
 * misbehaving or hostile agent: it joins like `gedge agent` does, then sends
 * whatever the test writes, and records what the center sends and how the
 * connection ends.
 */
export class RawNode {
  readonly received: CenterMessage[] = [];
  closed: { code: number; reason: string } | undefined;

  private constructor(private readonly ws: WebSocket) {
    ws.on('message', (data) => {
      const parsed = centerMessageSchema.safeParse(JSON.parse(data.toString()));
      if (parsed.success) this.received.push(parsed.data);
    });
    ws.on('close', (code, reason) => (this.closed = { code, reason: reason.toString() }));
  }

  /** Joins `name` at `site` with a join token from the admin, and returns the node credential. */
  static async join(center: string, adminToken: string, name: string, site: string): Promise<string> {
    const call = async (path: string, token: string, body: unknown) => {
      const res = await fetch(new URL(path, center), { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
      const json = (await res.json()) as Record<string, unknown>;
      if (!res.ok) throw new Error(`${path}: ${res.status} ${JSON.stringify(json)}`);
      return json;
    };
    const join = (await call('/api/v1/tokens', adminToken, { kind: 'join', site })).token as string;
    return (await call('/api/v1/join', join, { name, capacity: { cpu: 1, memoryMiB: 512, diskMiB: 0 } })).credential as string;
  }

  /** Connects with `credential`; rejects with the HTTP status when the center refuses the upgrade. */
  static connect(center: string, credential: string): Promise<RawNode> {
    const ws = new WebSocket(new URL(AGENT_CONNECT_PATH, center.replace(/^http/, 'ws')), { headers: { authorization: `Bearer ${credential}` } });
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(new RawNode(ws)));
      ws.once('unexpected-response', (_req, res) => reject(Object.assign(new Error(`refused: ${res.statusCode}`), { status: res.statusCode })));
      ws.once('error', reject);
    });
  }

  /** Says hello and waits for the catch-up to end. */
  async hello(lastRevision = 0, probe?: { host: string; port: number }): Promise<void> {
    this.send({ t: 'hello', lastRevision, agent: { version: 'raw', os: 'linux', arch: 'x64', pid: 1 }, capacity: { cpu: 1, memoryMiB: 512, diskMiB: 0, accelerators: {} }, ...(probe ? { probe } : {}) });
    await waitFor(() => this.received.some((m) => m.t === 'synced'), 10_000, 'the catch-up');
  }

  send(msg: AgentMessage): void {
    this.ws.send(JSON.stringify(msg));
  }

  /** Sends a ping and waits for its pong: every message sent before it has been read by the center. */
  async roundTrip(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.ws.once('pong', () => resolve());
      this.ws.ping();
    });
  }

  close(): void {
    this.ws.close();
  }
}
