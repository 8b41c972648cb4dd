import WebSocket from 'ws';
import { AGENT_CONNECT_PATH, centerMessageSchema, type AgentMessage, type CenterMessage } from '../core/index.ts';
import { waitFor } from '../core/wait-for.ts';
import { joinAsNode, type NodeIdentity } from './join-node.ts';

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

  /** Joins `name` at `site` with a join token from the admin: the node's credential and certificate. */
  static join(center: { url: string; ca: string; adminToken: string }, name: string, site: string): Promise<NodeIdentity> {
    return joinAsNode(center, name, site);
  }

  /** Connects as `who` over mutual TLS; rejects with the HTTP status when the center refuses the upgrade. */
  static connect(center: string, who: NodeIdentity): Promise<RawNode> {
    const ws = new WebSocket(new URL(AGENT_CONNECT_PATH, center.replace(/^http/, 'ws')), { headers: { authorization: `Bearer ${who.credential}` }, ...who.tls });
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
