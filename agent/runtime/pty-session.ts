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
}

/**
 * Runs a command on a new pseudo-terminal (node-pty): stdout and stderr
 * arrive merged as fd 1, resize() changes the terminal size (the command gets
 * SIGWINCH), and `exited` resolves after the terminal's output was read to
 * its end. The command leads its own session, so kill() reaches everything it
 * started. Throws ExecFailedError when the executable cannot be found, rather
 * than a terminal that only prints "execvp failed".
 */
export function spawnPtySession(file: string, args: string[], opts: PtyOptions): ExecSession {
  const cwd = opts.cwd ?? process.cwd();
  if (!isDirectory(cwd)) throw new ExecFailedError(`cannot run ${file}: working directory ${cwd} does not exist`);
  if (!findExecutable(file, opts.env.PATH ?? '', cwd)) throw new ExecFailedError(`cannot run ${file}: no such executable`);
  let term: IPty;
  try {
    // encoding null: output stays bytes; a split UTF-8 character is the client's terminal's business.
    term = pty.spawn(file, args, { name: opts.env.TERM ?? 'xterm-256color', cols: opts.cols ?? 80, rows: opts.rows ?? 24, cwd, env: opts.env, encoding: null });
  } catch (err) {
    throw new ExecFailedError(`cannot run ${file}: ${(err as Error).message}`, { cause: err });
  }
  return new PtyExecSession(term);
}

class PtyExecSession implements ExecSession {
  readonly exited: Promise<ExitInfo>;
  private readonly listeners: Array<(fd: 1 | 2, data: Buffer) => void> = [];
  private done = false;

  constructor(private readonly term: IPty) {
    term.onData((d) => {
      const buf = typeof d === 'string' ? Buffer.from(d) : (d as Buffer);
      for (const l of this.listeners) l(1, buf);
    });
    // node-pty reports the exit once the terminal's output is drained (its socket closed).
    this.exited = new Promise((resolveExit) =>
      term.onExit(({ exitCode, signal }) => {
        this.done = true;
        resolveExit(signal ? { code: null, signal: signalName(signal) } : { code: exitCode, signal: null });
      }),
    );
  }

  onOutput(listener: (fd: 1 | 2, data: Buffer) => void): void {
    this.listeners.push(listener);
  }

  write(data: Buffer): void {
    if (!this.done) this.term.write(data);
  }

  /** A terminal has no separate end of input: EOF is the terminal's EOF character (^D) at the start of a line. */
  endInput(): void {
    if (!this.done) this.term.write('\x04');
  }

  resize(cols: number, rows: number): void {
    if (!this.done) this.term.resize(cols, rows);
  }

  pause(): void {
    this.term.pause();
  }

  resume(): void {
    this.term.resume();
  }

  kill(): void {
    if (!this.done) signalGroupQuietly(this.term.pid, 'SIGKILL');
  }
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
