import { GedgeError } from '../../core/index.ts';

/** The queue was closed while an append waited for room (overflow: block). */
export class QueueClosedError extends GedgeError {
  override readonly status = 503;
  override readonly code = 'QueueClosed';
}

/** A message the queue cannot carry (topic or payload out of bounds, bad device name). */
export class InvalidMessageError extends GedgeError {
  override readonly status = 422;
  override readonly code = 'InvalidMessage';
}
