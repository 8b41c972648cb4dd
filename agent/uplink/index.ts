export { UplinkQueue, type AppendResult, type PublishOrigin, type QueuedMessage, type RouteKey, type UplinkAppend, type UplinkQueueStats } from './uplink-queue.ts';
export { UplinkSender, type UplinkSenderEvent, type UplinkSenderStats } from './uplink-sender.ts';
export { uplinkOptionsSchema, UPLINK_MAX_PAYLOAD, type UplinkOptions, type UplinkOptionsInput } from './options.ts';
export { InvalidMessageError, QueueClosedError } from './errors.ts';
