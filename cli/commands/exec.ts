import { constants } from 'node:os';
import type { Command } from 'commander';
import type { ExecClient } from '../../core/index.ts';
import { client } from '../config.ts';

interface ExecFlags {
  project?: string;
  stdin?: boolean;
  tty?: boolean;
}

/** gedge exec: a command inside a running instance, through the center and the instance's agent. */
export function registerExecCommand(program: Command): void {
  program
    .command('exec')
    .description("run a command in a running instance (process or container) through its edge agent; exits with the command's exit code")
    .argument('<instance>')
    .argument('<command...>', 'the command and its arguments, after --')
    .option('-p, --project <project>')
    .option('-i, --stdin', 'pass stdin to the command')
    .option('-t, --tty', 'run it on a terminal (this terminal goes raw when stdin is one; resizes follow)')
    .addHelpText('after', '\nExamples:\n  gedge exec web-x7k2p -- ls -l\n  gedge exec -it web-x7k2p -- sh')
    .action(async (name: string, command: string[], o: ExecFlags, cmd: Command) => {
      const tty = !!o.tty;
      const size = () => ({ cols: process.stdout.columns || Number(process.env.COLUMNS) || 80, rows: process.stdout.rows || Number(process.env.LINES) || 24 });
      const ref: { session?: ExecClient } = {};
      // While our stdout is full, the command is held back (through the center and the agent).
      const relay = (out: NodeJS.WriteStream) => (d: Buffer) => {
        if (!out.write(d)) {
          ref.session?.pause();
          out.once('drain', () => ref.session?.resume());
        }
      };
      const session = await client(cmd.optsWithGlobals()).exec(name, { project: o.project, command, tty, ...(tty ? size() : {}) }, { stdout: relay(process.stdout), stderr: relay(process.stderr) });
      ref.session = session;
      const raw = tty && !!o.stdin && process.stdin.isTTY;
      const onResize = () => session.resize(size().cols, size().rows);
      if (tty) process.on('SIGWINCH', onResize);
      if (o.stdin) {
        if (raw) process.stdin.setRawMode(true);
        process.stdin.on('data', (d: Buffer) => {
          if (!session.write(d)) {
            process.stdin.pause();
            session.once('drain', () => process.stdin.resume());
          }
        });
        process.stdin.on('end', () => session.end());
      } else if (!tty) {
        // Nothing to read: the command sees end of input at once. (On a terminal that would be ^D: leave it.)
        session.end();
      }
      try {
        const { code, signal } = await session.exit;
        // As a shell reports it: 128 + the signal's number when killed.
        process.exitCode = signal ? 128 + (constants.signals[signal as NodeJS.Signals] ?? 0) : (code ?? 1);
      } finally {
        if (raw) process.stdin.setRawMode(false);
        if (o.stdin) process.stdin.destroy();
        process.off('SIGWINCH', onResize);
      }
    });
}
