import { EventEmitter } from 'node:events';
import WebSocket from 'ws';
import { GedgeError, UnavailableError, errorFromBody, unreachableReason } from './errors.ts';
import { EXEC_STDERR, EXEC_STDIN, EXEC_STDOUT, execPath, execServerControlSchema, type ExecClientControl } from './exec-wire.ts';

export interface ExecRequest {
  project?: string;
  command: string[];
  tty?: boolean;
  cols?: number;
  rows?: number;
}

/** Where output goes; given at open, so that nothing arriving with the upgrade is missed. */
export interface ExecHandlers {
  stdout?: (data: Buffer) => void;
  stderr?: (data: Buffer) => void;
  /** The command runs (the agent started it). */
  started?: () => void;
}

export interface ExecExit {
  code: number | null;
  signal: string | null;
}

/** Stdin bytes the client queues before write() asks the caller to wait for 'drain'. */
const HIGH_WATER = 1024 * 1024;

/**
 * One running `gedge exec`, as a client sees it: output to the handlers
 * given at open, write/end for stdin, resize, and `exit`, which resolves
 * with the command's exit or rejects when it could not run or the connection
 * was lost. pause()/resume() hold back output (and so, through the center and
 * the agent, the command) while the caller's sink is full.
 */
export class ExecClient extends EventEmitter {
  readonly exit: Promise<ExecExit>;
  private queued = 0;

  private constructor(
    private readonly ws: WebSocket,
    on: ExecHandlers,
  ) {
    super();
    this.exit = new Promise((resolve, reject) => {
      let outcome: ExecExit | Error | undefined;
      ws.on('message', (data: WebSocket.RawData, isBinary: boolean) => {
        const buf = Buffer.isBuffer(data) ? data : Buffer.concat(Array.isArray(data) ? data : [Buffer.from(data)]);
        if (isBinary) {
          if (buf[0] === EXEC_STDOUT) on.stdout?.(buf.subarray(1));
          else if (buf[0] === EXEC_STDERR) on.stderr?.(buf.subarray(1));
          return;
        }
        const c = execServerControlSchema.safeParse(safeJson(buf.toString()));
        if (!c.success) return;
        if (c.data.type === 'started') on.started?.();
        else if (c.data.type === 'exit') outcome = { code: c.data.code, signal: c.data.signal };
        else outcome = new GedgeError(c.data.message);
      });
      ws.on('error', () => {}); // 'close' follows
      ws.on('close', () => {
        if (outcome instanceof Error) reject(outcome);
        else if (outcome) resolve(outcome);
        else reject(new UnavailableError('the connection to the center was lost before the command ended'));
      });
    });
    // Callers that only want output need not handle a failure twice.
    this.exit.catch(() => {});
  }

  /** Connects; rejects with the center's error (e.g. Forbidden, NotFound) when it refuses. */
  static open(server: string, token: string, instance: string, req: ExecRequest, on: ExecHandlers = {}, ca?: string): Promise<ExecClient> {
    const url = new URL(execPath(instance), server.replace(/^http/, 'ws'));
    if (req.project) url.searchParams.set('project', req.project);
    for (const arg of req.command) url.searchParams.append('command', arg);
    if (req.tty) url.searchParams.set('tty', 'true');
    if (req.cols) url.searchParams.set('cols', String(req.cols));
    if (req.rows) url.searchParams.set('rows', String(req.rows));
    const ws = new WebSocket(url, { headers: { authorization: `Bearer ${token}` }, maxPayload: 4 * 1024 * 1024, ...(ca ? { ca } : {}) });
    return new Promise((resolve, reject) => {
      ws.once('upgrade', (res) => res.socket.setNoDelay(true));
      ws.once('open', () => resolve(new ExecClient(ws, on)));
      ws.once('unexpected-response', (_req, res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => {
          reject(errorFromBody(res.statusCode ?? 500, (safeJson(body) as object | undefined) ?? {}));
          ws.terminate();
        });
      });
      ws.once('error', (cause) => reject(new UnavailableError(`cannot reach the center at ${server}: ${unreachableReason(cause)}`, { cause })));
    });
  }

  /** Sends stdin; false when the caller should wait for 'drain' before writing more. */
  write(data: Buffer): boolean {
    if (this.ws.readyState !== WebSocket.OPEN || data.length === 0) return true;
    this.queued += data.length;
    this.ws.send(Buffer.concat([Buffer.of(EXEC_STDIN), data]), () => {
      const before = this.queued;
      this.queued -= data.length;
      if (before > HIGH_WATER && this.queued <= HIGH_WATER) this.emit('drain');
    });
    return this.queued <= HIGH_WATER;
  }

  /** End of stdin. */
  end(): void {
    this.control({ type: 'eof' });
  }

  resize(cols: number, rows: number): void {
    this.control({ type: 'resize', cols, rows });
  }

  pause(): void {
    this.ws.pause();
  }

  resume(): void {
    this.ws.resume();
  }

  /** Leaves; the center has the agent kill the command. */
  close(): void {
    this.ws.close(1000, 'client closed');
  }

  private control(c: ExecClientControl): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(c));
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
