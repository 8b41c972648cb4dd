export * from '../sim/net/link-emulator.ts';
export * from './processes.ts';
export * from './wait-for.ts';
export * from './platform.ts';
export * from './browser.ts';
export * from './wakeup-probe.ts';
export * from './raw-node.ts';
export * from './join-node.ts';
