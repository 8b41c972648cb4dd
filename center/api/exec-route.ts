import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { BadRequestError, EXEC_STDIN, GedgeError, execClientControlSchema, parseOrThrow, type ExecServerControl } from '../../core/index.ts';
import type { TokenHolds } from '../auth/token-holds.ts';
import type { Authenticator } from '../auth/authenticator.ts';
import { ADMIN_OR_USER, type Caller } from '../auth/access.ts';
import { AgentOfflineError } from '../errors.ts';
import type { AgentHub, ExecHandle, UpgradeRoute } from '../hub/agent-hub.ts';
import type { Instances, PlacedInstance } from '../services/instances.ts';
import { execQuerySchema } from './instance-queries.ts';

const PATH = /^\/api\/v1\/instances\/([^/]+)\/exec$/;
/** Stdin waits (the client's socket is paused) while this much is queued for the agent. */
const STDIN_HIGH = 1024 * 1024;
const STDIN_LOW = 256 * 1024;

interface ExecTarget extends PlacedInstance {
  command: string[];
  tty: boolean;
  cols?: number;
  rows?: number;
  /** Who asked, for the audit events. */
  who: string;
}

/**
 * `gedge exec`: a WebSocket between the client and the instance's agent
 * (over the agent's own connection; the center never dials an edge). Every
 * check runs before the upgrade and fails as a JSON error; every exec leaves
 * an `Exec` event naming the token and the command, and an `ExecEnded` event
 * with the outcome. Frames: see core/exec-wire.ts.
 */
export function execUpgradeRoute(instances: Instances, hub: AgentHub, access: { holds: TokenHolds; auth: Authenticator }, logger: Logger): UpgradeRoute {
  const wss = new WebSocketServer({ noServer: true, maxPayload: 1024 * 1024 });
  return (req, socket, head) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const m = PATH.exec(url.pathname);
    if (!m) return false;
    socket.on('error', () => {}); // a client that resets mid-check is nothing to report
    void (async () => {
      const token = await access.auth.token(req.socket.remoteAddress, req.headers.authorization, ADMIN_OR_USER);
      const target = await checkExec(instances, hub, token, m[1]!, url.searchParams);
      await audit(instances, target, 'Exec', `${target.who} runs ${commandLine(target.command)}${target.tty ? ' (tty)' : ''}`, 'Normal');
      wss.handleUpgrade(req, socket, head, (ws) => {
        // Revoking the token ends the session (and so the command) at once.
        ws.once('close', access.holds.hold(token, () => socket.destroy()));
        bridge(ws, instances, hub, target, logger);
      });
    })().catch((err: unknown) => refuse(socket, err, logger));
    return true;
  };
}

/** The same URL without an upgrade: the same checks, then a 400 saying what is missing (and the OpenAPI entry). */
export function registerExecRoute(app: FastifyInstance, instances: Instances, hub: AgentHub): void {
  app.get('/api/v1/instances/:name/exec', { config: { auth: ADMIN_OR_USER } }, async (req) => {
    const url = new URL(req.url, 'http://x');
    await checkExec(instances, hub, req.token!, PATH.exec(url.pathname)?.[1] ?? '', url.searchParams);
    throw new BadRequestError('exec needs a WebSocket upgrade', { details: [{ path: 'upgrade', message: 'connect with a WebSocket client (gedge exec)' }] });
  });
}

async function checkExec(instances: Instances, hub: AgentHub, token: Caller, rawName: string, params: URLSearchParams): Promise<ExecTarget> {
  const raw: Record<string, unknown> = {};
  for (const key of new Set(params.keys())) raw[key] = key === 'command' ? params.getAll(key) : params.get(key);
  raw.command ??= [];
  const q = parseOrThrow(execQuerySchema, raw, 'query', 'query');
  let name: string;
  try {
    name = decodeURIComponent(rawName);
  } catch {
    throw new BadRequestError('malformed instance name', { details: [{ path: 'name', message: 'bad percent-encoding' }] });
  }
  const at = await instances.placed(token, q.project, name, { running: true });
  const node = at.node;
  if (!hub.isConnected(node)) throw new AgentOfflineError(`the agent of node "${node}" is not connected`, { details: [{ path: 'spec.node', message: `${node} is offline` }] });
  const who = `token ${token.id} (${token.kind}${token.description ? `, "${token.description}"` : ''})`;
  return { ...at, command: q.command, tty: q.tty === 'true', cols: q.cols, rows: q.rows, who };
}

function bridge(ws: WebSocket, instances: Instances, hub: AgentHub, t: ExecTarget, logger: Logger): void {
  (ws as unknown as { _socket?: { setNoDelay?: (v: boolean) => void } })._socket?.setNoDelay?.(true);
  let ended = false;
  const end = (outcome: string, type: 'Normal' | 'Warning') => {
    if (ended) return;
    ended = true;
    void audit(instances, t, 'ExecEnded', `${t.who}: ${commandLine(t.command)}: ${outcome}`, type).catch((err: unknown) => logger.error({ err }, 'cannot record the end of an exec'));
  };
  const control = (c: ExecServerControl) => {
    if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(c));
  };
  let handle: ExecHandle | undefined;
  const fail = (message: string) => {
    end(`failed: ${message}`, 'Warning');
    control({ type: 'error', message });
    ws.close(1000, 'failed');
  };
  try {
    handle = hub.openExec(t.node, { project: t.project, instance: t.name, command: t.command, tty: t.tty, cols: t.cols, rows: t.rows }, {
      started: () => control({ type: 'started' }),
      output: (fd, data) => {
        // Acknowledged once written to the client's socket: a slow client holds the command back.
        if (ws.readyState === ws.OPEN) ws.send(Buffer.concat([Buffer.of(fd), data]), (err) => !err && handle?.ack(data.length));
      },
      exit: (code, signal) => {
        end(signal ? `killed by ${signal}` : `exit code ${code}`, 'Normal');
        control({ type: 'exit', code, signal });
        ws.close(1000, 'exited');
      },
      error: fail,
    });
  } catch (err) {
    return fail((err as Error).message);
  }
  const h = handle;
  let throttle: NodeJS.Timeout | undefined;
  ws.on('message', (data: RawData, isBinary: boolean) => {
    if (isBinary) {
      const buf = Buffer.isBuffer(data) ? data : Buffer.concat(Array.isArray(data) ? data : [Buffer.from(data)]);
      if (buf[0] !== EXEC_STDIN) return fail(`binary frames must start with channel ${EXEC_STDIN} (stdin)`);
      h.stdin(buf.subarray(1));
      if (!throttle && h.backlog() > STDIN_HIGH) {
        ws.pause();
        throttle = setInterval(() => {
          if (h.backlog() > STDIN_LOW) return;
          clearInterval(throttle);
          throttle = undefined;
          ws.resume();
        }, 20);
      }
      return;
    }
    const c = execClientControlSchema.safeParse(safeJson(data.toString()));
    if (!c.success) return fail('malformed control frame: expected {"type":"resize","cols","rows"} or {"type":"eof"}');
    if (c.data.type === 'resize') h.resize(c.data.cols, c.data.rows);
    else h.eof();
  });
  ws.on('close', () => {
    clearInterval(throttle);
    h.close();
    end('the client disconnected', 'Normal');
  });
  ws.on('error', () => {});
}

function audit(instances: Instances, t: ExecTarget, reason: string, message: string, type: 'Normal' | 'Warning'): Promise<void> {
  return instances.audit(t, { reason, message, type, source: 'center/exec' });
}

/** The command as a shell would read it back. */
function commandLine(argv: string[]): string {
  return argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}

function refuse(socket: Duplex, err: unknown, logger: Logger): void {
  const e = err instanceof GedgeError ? err : new GedgeError('internal error', { cause: err });
  if (!(err instanceof GedgeError)) logger.error({ err }, 'exec request failed');
  const body = JSON.stringify(e.toJSON());
  socket.end(`HTTP/1.1 ${e.status} ${STATUS_CODES[e.status] ?? 'Error'}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
