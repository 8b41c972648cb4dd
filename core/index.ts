export * from './resources.ts';
export * from './errors.ts';
export * from './validate.ts';
export * from './selector.ts';
export * from './manifest.ts';
export * from './protocol.ts';
export * from './backoff.ts';
export * from './time.ts';
