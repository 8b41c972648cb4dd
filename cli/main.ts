import { Command, CommanderError } from 'commander';
import { GedgeError, VERSION } from '../core/index.ts';
import { CliError } from './errors.ts';
import { registerResourceCommands } from './commands/resources.ts';
import { registerAccessCommands } from './commands/access.ts';
import { registerExecCommand } from './commands/exec.ts';
import { registerProcessCommands } from './commands/processes.ts';
import { registerMessageCommands } from './commands/messages.ts';
import { registerDeviceCommands } from './commands/devices.ts';
import { registerRolloutCommands } from './commands/rollout.ts';
import { registerModelCommands } from './commands/models.ts';
import { registerSimCommands } from './commands/sim.ts';
import { registerContextCommands } from './commands/contexts.ts';
import { registerCompletionCommands } from './commands/completion.ts';

const program = new Command('gedge')
  .description('gedge: an open cloud-edge computing platform')
  .version(VERSION)
  .option('--server <url>', 'center URL (default: from gedge login)')
  .option('--token <token>', 'API token (default: from gedge login)')
  .option('--ca-file <file>', "the center's CA certificate (PEM) to trust for https:// (default: the one pinned by gedge login)")
  .option('--context <name>', 'the context to use, of those gedge login saved (default: the current one; $GEDGE_CONTEXT)')
  .showHelpAfterError()
  .exitOverride();

registerProcessCommands(program);
registerResourceCommands(program);
registerAccessCommands(program);
registerExecCommand(program);
registerMessageCommands(program);
registerDeviceCommands(program);
registerRolloutCommands(program);
registerModelCommands(program);
registerSimCommands(program);
registerContextCommands(program);
registerCompletionCommands(program);

try {
  await program.parseAsync(process.argv);
} catch (e) {
  process.exitCode = report(e);
}

/** Prints an error as a user should see it: message, then every detail with its path and line. */
function report(e: unknown): number {
  if (e instanceof CommanderError) return e.exitCode;
  if (e instanceof CliError) {
    console.error(`error: ${e.message}`);
    return 1;
  }
  if (e instanceof GedgeError) {
    console.error(`error: ${e.message}`);
    for (const d of e.details) console.error(`  - ${d.path}${d.line ? ` (line ${d.line})` : ''}: ${d.message}`);
    return 1;
  }
  console.error(e);
  return 1;
}
