export { UplinkQueue } from './uplink-queue.ts';
export type { AppendResult, PublishOrigin, QueuedMessage, RouteKey, UplinkAppend, UplinkQueueStats } from './queue-types.ts';
export { UplinkSender, type UplinkSenderEvent, type UplinkSenderStats } from './uplink-sender.ts';
export { uplinkOptionsSchema, UPLINK_MAX_PAYLOAD, type UplinkOptions, type UplinkOptionsInput } from './options.ts';
export { InvalidMessageError, QueueClosedError } from './errors.ts';
