#!/usr/bin/env -S node --min-semi-space-size=16
// The gedge command. Runs the esbuild bundle in dist/, rebuilt first when any
// source is newer, so edits take effect and long-running agents stay small.
// The node flags above are cli/launch.ts's GEDGE_NODE_FLAGS (why: there).
import { ensureBuilt } from '../scripts/build.mjs';

await import(await ensureBuilt());
