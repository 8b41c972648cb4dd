import { streamId } from './log-streams.ts';

/** Where an exec stream's news from the agent goes (the client's WebSocket). */
export interface ExecSink {
  started(): void;
  output(fd: 1 | 2, data: Buffer): void;
  /** The last call: the command ended. */
  exit(code: number | null, signal: string | null): void;
  /** The last call: the command could not run, or its agent went away. */
  error(message: string): void;
}

/** Exec streams in flight between clients and agents, by stream id. */
export class ExecStreams {
  private readonly open = new Map<number, { connection: object; sink: ExecSink }>();

  /** `connection`: the agent session that runs it (a node's next connection does not inherit its streams). */
  create(connection: object, sink: ExecSink): number {
    let id = streamId();
    while (this.open.has(id)) id = streamId();
    this.open.set(id, { connection, sink });
    return id;
  }

  // An agent speaks only for its own streams.
  started(from: object, id: number): void {
    this.of(from, id)?.started();
  }

  output(from: object, id: number, fd: 1 | 2, data: string): void {
    this.of(from, id)?.output(fd, Buffer.from(data, 'base64'));
  }

  exit(from: object, id: number, code: number | null, signal: string | null): void {
    const sink = this.of(from, id);
    if (sink) this.open.delete(id);
    sink?.exit(code, signal);
  }

  error(from: object, id: number, message: string): void {
    const sink = this.of(from, id);
    if (sink) this.open.delete(id);
    sink?.error(message);
  }

  private of(from: object, id: number): ExecSink | undefined {
    const s = this.open.get(id);
    return s?.connection === from ? s.sink : undefined;
  }

  /** The client went away; true when the stream was still open (the agent should be told). */
  drop(id: number): boolean {
    return this.open.delete(id);
  }

  /** The agent went away: its commands are gone with it (it kills them when its connection drops). */
  endConnection(connection: object, why: string): void {
    for (const [id, s] of this.open) if (s.connection === connection) this.error(connection, id, why);
  }
}
