import { EXEC_CHUNK, EXEC_WINDOW, type AgentMessage, type CenterMessage } from '../core/index.ts';
import type { ExecOptions, ExecSession } from './runtime/runtime.ts';

type ExecMessage = Extract<CenterMessage, { t: `exec.${string}` }>;

interface Stream {
  session?: ExecSession;
  /** What arrived while the command was starting, replayed once it runs. */
  early: ExecMessage[];
  /** Output bytes sent and not yet acknowledged by the center. */
  unacked: number;
  paused: boolean;
}

/**
 * Serves `gedge exec` streams from the center: runs the command in the
 * instance (`workloads.exec`), relays stdin, resize and EOF to it and its
 * output back in bounded chunks. Output pauses while more than EXEC_WINDOW
 * bytes are unacknowledged, so a slow client holds the command back instead
 * of filling memory. A lost connection kills every command (closeAll).
 */
export class ExecRelay {
  private readonly streams = new Map<number, Stream>();

  constructor(
    private readonly exec: (instanceId: string, opts: ExecOptions) => Promise<ExecSession>,
    private readonly send: (m: AgentMessage) => boolean,
  ) {}

  handle(m: ExecMessage): void {
    if (m.t === 'exec.open') return void this.open(m);
    const s = this.streams.get(m.stream);
    if (!s) return;
    if (!s.session && m.t !== 'exec.close') return void s.early.push(m);
    this.apply(m.stream, s, m);
  }

  closeAll(): void {
    for (const s of this.streams.values()) s.session?.kill();
    this.streams.clear();
  }

  private async open(m: Extract<ExecMessage, { t: 'exec.open' }>): Promise<void> {
    const s: Stream = { early: [], unacked: 0, paused: false };
    this.streams.set(m.stream, s);
    let session: ExecSession;
    try {
      session = await this.exec(`${m.project}.${m.instance}`, { command: m.command, tty: m.tty, cols: m.cols, rows: m.rows });
    } catch (err) {
      if (this.streams.delete(m.stream)) this.send({ t: 'exec.error', stream: m.stream, message: (err as Error).message });
      return;
    }
    // Closed (or the connection lost) while the command was starting.
    if (this.streams.get(m.stream) !== s) return session.kill();
    s.session = session;
    session.onOutput((fd, data) => this.output(m.stream, s, fd, data));
    void session.exited.then(({ code, signal }) => {
      if (this.streams.get(m.stream) !== s) return;
      this.streams.delete(m.stream);
      this.send({ t: 'exec.exit', stream: m.stream, code, signal });
    });
    if (!this.send({ t: 'exec.started', stream: m.stream })) return this.drop(m.stream, s);
    for (const e of s.early.splice(0)) this.apply(m.stream, s, e);
  }

  private apply(id: number, s: Stream, m: ExecMessage): void {
    const session = s.session;
    switch (m.t) {
      case 'exec.stdin':
        session?.write(Buffer.from(m.data, 'base64'));
        break;
      case 'exec.eof':
        session?.endInput();
        break;
      case 'exec.resize':
        session?.resize(m.cols, m.rows);
        break;
      case 'exec.ack':
        s.unacked = Math.max(0, s.unacked - m.bytes);
        if (s.paused && s.unacked <= EXEC_WINDOW / 2) {
          s.paused = false;
          session?.resume?.();
        }
        break;
      case 'exec.close':
        this.drop(id, s);
        break;
      default:
        break;
    }
  }

  private output(id: number, s: Stream, fd: 1 | 2, data: Buffer): void {
    if (this.streams.get(id) !== s) return;
    for (let i = 0; i < data.length; i += EXEC_CHUNK) {
      const chunk = data.subarray(i, i + EXEC_CHUNK);
      if (!this.send({ t: 'exec.output', stream: id, fd, data: chunk.toString('base64') })) return this.drop(id, s);
      s.unacked += chunk.length;
    }
    if (!s.paused && s.unacked > EXEC_WINDOW && s.session?.pause) {
      s.paused = true;
      s.session.pause();
    }
  }

  /** Nobody is listening any more: end the command. */
  private drop(id: number, s: Stream): void {
    if (this.streams.get(id) === s) this.streams.delete(id);
    s.session?.kill();
  }
}
