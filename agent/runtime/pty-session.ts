import { randomBytes } from 'node:crypto';
import { accessSync, constants as fsConstants, statSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { delimiter, isAbsolute, join, resolve } from 'node:path';
import pty from 'node-pty';
import type { IPty } from 'node-pty';
import { ExecFailedError } from './errors.ts';
import { signalGroupQuietly } from './process-group.ts';
import type { ExecSession, ExitInfo } from './runtime.ts';

export interface PtyOptions {
  /** The command's whole environment (TERM is added when missing). */
  env: Record<string, string>;
  cwd?: string;
  cols?: number;
  rows?: number;
  /** Run as this user and group (a workload's project user). */
  uid?: number;
  gid?: number;
}

/**
 * On Linux, when a terminal's session leader exits, the kernel hangs the
 * terminal up and drops the output not read yet on our side
 * (pty_flush_buffer; node-pty issues #85, #726). So the session leader is
 * this small shell: it runs the command, prints a marker with the exit status
 * and waits until we have read the marker (so everything before it) and
 * written the nonce back. The nonce is random per session: output cannot fake
 * the marker.
 */
const WRAPPER = [
  'n=$1; shift',
  '"$@"; s=$?',
  'stty -echo icanon 2>/dev/null',
  String.raw`printf '\033]gedge-exit;%s;%s\007' "$n" "$s"`,
  'l=; until [ "$l" = "$n" ]; do read -r l || :; done',
  'exit $s',
].join('\n');
/** A lone ESC at the end of a read may start the marker: held back this long at most. */
const ESC_HOLD_MS = 20;

/**
 * Runs a command on a new pseudo-terminal (node-pty): stdout and stderr
 * arrive merged as fd 1, resize() changes the terminal size (the command gets
 * SIGWINCH), and `exited` resolves after all the command's output was
 * delivered. The command runs in a session of its own, so kill() reaches
 * everything it started. Throws ExecFailedError when the executable or the
 * working directory does not exist, rather than a terminal saying so.
 */
export function spawnPtySession(file: string, args: string[], opts: PtyOptions): ExecSession {
  const cwd = opts.cwd ?? process.cwd();
  if (!isDirectory(cwd)) throw new ExecFailedError(`cannot run ${file}: working directory ${cwd} does not exist`);
  if (!findExecutable(file, opts.env.PATH ?? '', cwd)) throw new ExecFailedError(`cannot run ${file}: no such executable`);
  const nonce = randomBytes(12).toString('hex');
  let term: IPty;
  try {
    // encoding null: output stays bytes; a split UTF-8 character is the client terminal's business.
    term = pty.spawn('/bin/sh', ['-c', WRAPPER, 'gedge-exec', nonce, file, ...args], {
      name: opts.env.TERM ?? 'xterm-256color',
      cols: opts.cols ?? 80,
      rows: opts.rows ?? 24,
      cwd,
      env: opts.env,
      ...(opts.uid !== undefined ? { uid: opts.uid, gid: opts.gid } : {}),
      encoding: null,
    });
  } catch (err) {
    throw new ExecFailedError(`cannot run ${file}: ${(err as Error).message}`, { cause: err });
  }
  return new PtyExecSession(term, nonce);
}

class PtyExecSession implements ExecSession {
  readonly exited: Promise<ExitInfo>;
  private readonly listeners: Array<(fd: 1 | 2, data: Buffer) => void> = [];
  private readonly marker: Buffer;
  /** The start of what may be the marker, not passed on yet. */
  private held = Buffer.alloc(0);
  private escTimer: NodeJS.Timeout | undefined;
  private status: number | undefined;
  private paused = false;
  private done = false;

  constructor(
    private readonly term: IPty,
    private readonly nonce: string,
  ) {
    this.marker = Buffer.from(`\x1b]gedge-exit;${nonce};`);
    term.onData((d) => this.onData(typeof d === 'string' ? Buffer.from(d) : (d as Buffer)));
    // node-pty reports the exit once its side of the terminal is closed.
    this.exited = new Promise((resolveExit) =>
      term.onExit(({ exitCode, signal }) => {
        this.done = true;
        clearTimeout(this.escTimer);
        this.pass(this.held);
        if (this.status !== undefined) resolveExit({ code: this.status, signal: null });
        else resolveExit(signal ? { code: null, signal: signalName(signal) } : { code: exitCode, signal: null });
      }),
    );
  }

  onOutput(listener: (fd: 1 | 2, data: Buffer) => void): void {
    this.listeners.push(listener);
  }

  write(data: Buffer): void {
    if (!this.done) this.term.write(data);
  }

  /** A terminal has no separate end of input: EOF is its EOF character (^D), at the start of a line. */
  endInput(): void {
    if (!this.done) this.term.write('\x04');
  }

  resize(cols: number, rows: number): void {
    if (!this.done) this.term.resize(cols, rows);
  }

  pause(): void {
    this.paused = true;
    this.term.pause();
  }

  resume(): void {
    this.paused = false;
    this.term.resume();
    if (this.held.length === 1) this.holdEsc();
  }

  kill(): void {
    if (this.done) return;
    // Right after spawn the child may not have made its session yet: then
    // there is no group by its id, and the child itself is the one to kill.
    if (signalGroupQuietly(this.term.pid, 'SIGKILL')) return;
    try {
      process.kill(this.term.pid, 'SIGKILL');
    } catch {
      // gone already: its exit is on its way
    }
  }

  private onData(chunk: Buffer): void {
    if (this.status !== undefined) return this.pass(chunk);
    clearTimeout(this.escTimer);
    const buf = this.held.length ? Buffer.concat([this.held, chunk]) : chunk;
    this.held = Buffer.alloc(0);
    const at = buf.indexOf(this.marker);
    if (at >= 0) {
      const bel = buf.indexOf(0x07, at + this.marker.length);
      if (bel < 0) {
        this.pass(buf.subarray(0, at));
        this.held = Buffer.from(buf.subarray(at));
        return;
      }
      this.pass(buf.subarray(0, at));
      this.status = Number(buf.subarray(at + this.marker.length, bel).toString());
      // Everything the command wrote is read: let the wrapper exit.
      this.term.write(`\n${this.nonce}\n`);
      return this.pass(buf.subarray(bel + 1));
    }
    const keep = partialMarkerAtEnd(buf, this.marker);
    this.pass(buf.subarray(0, buf.length - keep));
    if (keep > 0) this.held = Buffer.from(buf.subarray(buf.length - keep));
    if (keep === 1) this.holdEsc();
  }

  /**
   * An ESC alone is common in interactive output and must not wait for the
   * next output; a longer start of the marker is left waiting (its rest is
   * written at once by the wrapper). Not while paused: the rest may be unread.
   */
  private holdEsc(): void {
    this.escTimer = setTimeout(() => {
      if (this.paused || this.held.length !== 1) return;
      const esc = this.held;
      this.held = Buffer.alloc(0);
      this.pass(esc);
    }, ESC_HOLD_MS);
  }

  private pass(data: Buffer): void {
    if (data.length) for (const l of this.listeners) l(1, data);
  }
}

/** How many bytes at the end of `buf` are the start of `marker`. */
function partialMarkerAtEnd(buf: Buffer, marker: Buffer): number {
  for (let n = Math.min(marker.length - 1, buf.length); n > 0; n--) {
    if (buf.subarray(buf.length - n).equals(marker.subarray(0, n))) return n;
  }
  return 0;
}

function signalName(n: number): string {
  return Object.entries(osConstants.signals).find(([, v]) => v === n)?.[0] ?? String(n);
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** As execvp(3) looks for it: a name with a slash as is (from cwd), else each PATH entry. */
function findExecutable(file: string, path: string, cwd: string): string | undefined {
  const candidates = file.includes('/') ? [isAbsolute(file) ? file : resolve(cwd, file)] : path.split(delimiter).filter(Boolean).map((d) => join(resolve(cwd, d), file));
  return candidates.find((c) => {
    try {
      accessSync(c, fsConstants.X_OK);
      return statSync(c).isFile();
    } catch {
      return false;
    }
  });
}
