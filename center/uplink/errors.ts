import { GedgeError } from '../../core/index.ts';

/** The batch's Route does not exist (or does not run on the node's site): the edge drops that route's backlog. */
export class RouteGoneError extends GedgeError {
  override readonly status = 404;
  override readonly code = 'RouteGone';
}

/** The route's sink failed; what landed before the failure is recorded, the edge retries the rest. */
export class SinkUnavailableError extends GedgeError {
  override readonly status = 503;
  override readonly code = 'SinkUnavailable';
}
