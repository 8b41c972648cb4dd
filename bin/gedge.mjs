#!/usr/bin/env node
// The gedge command. Runs the esbuild bundle in dist/, rebuilt first when any
// source is newer, so edits take effect and long-running agents stay small.
import { ensureBuilt } from '../scripts/build.mjs';

await import(await ensureBuilt());
