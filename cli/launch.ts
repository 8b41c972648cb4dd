import { fileURLToPath } from 'node:url';

/** The gedge command's entry point (bin/gedge.mjs). */
export const GEDGE_BIN = fileURLToPath(new URL('../bin/gedge.mjs', import.meta.url));

/**
 * Node flags for every gedge process gedge starts itself (`gedge up`'s center
 * and agents, the testkit's, the benches'); bin/gedge.mjs's shebang carries
 * the same for `gedge` run directly. Keep the two equal.
 *
 * --min-semi-space-size=16 (MiB): after a busy spell, once the process falls
 * idle V8 shrinks its young generation to 1 MiB, and grows it back only as
 * objects survive. A broker that then serves a device at a time allocates
 * ~12 KB a message and so scavenged every 50-80 messages (12-23 scavenges in
 * 1,000 round trips, against 1 before the burst), and those scavenges were
 * the edge broker's round-trip p99 (`npm run bench -- broker`). With a 16 MiB
 * floor a scavenge comes every ~1,300 messages. The cost: the young
 * generation stays at the size it reaches under load anyway (2 x 16 MiB at
 * most, V8's default ceiling), instead of giving it back when idle.
 */
export const GEDGE_NODE_FLAGS: readonly string[] = ['--min-semi-space-size=16'];

/** `node` arguments that run `gedge ARGS...`. */
export const gedgeArgv = (args: readonly string[]): string[] => [...GEDGE_NODE_FLAGS, GEDGE_BIN, ...args];
