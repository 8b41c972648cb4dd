/**
 * Named errors shared by every part. The HTTP layer maps `status` and `code`
 * to a JSON body `{code, message, details}`; anything that is not a
 * GedgeError is logged and becomes a 500.
 */
export interface ErrorDetail {
  /** Where the problem is: a JSON path like `spec.template.command`, possibly prefixed by a document index. */
  path: string;
  message: string;
  /** 1-based line in the submitted manifest, when known. */
  line?: number;
}

export class GedgeError extends Error {
  readonly status: number = 500;
  readonly code: string = 'Internal';
  readonly details: ErrorDetail[];
  constructor(message: string, opts: { details?: ErrorDetail[]; cause?: unknown } = {}) {
    super(message, { cause: opts.cause });
    this.name = new.target.name;
    this.details = opts.details ?? [];
  }
  toJSON(): { code: string; message: string; details: ErrorDetail[] } {
    return { code: this.code, message: this.message, details: this.details };
  }
}

export class ValidationError extends GedgeError {
  override readonly status = 422;
  override readonly code = 'Invalid';
}
export class BadRequestError extends GedgeError {
  override readonly status = 400;
  override readonly code = 'BadRequest';
}
export class NotFoundError extends GedgeError {
  override readonly status = 404;
  override readonly code = 'NotFound';
}
export class AlreadyExistsError extends GedgeError {
  override readonly status = 409;
  override readonly code = 'AlreadyExists';
}
/** The caller's metadata.revision is older than the stored one. */
export class ConflictError extends GedgeError {
  override readonly status = 409;
  override readonly code = 'Conflict';
}
export class UnauthorizedError extends GedgeError {
  override readonly status = 401;
  override readonly code = 'Unauthorized';
}
export class ForbiddenError extends GedgeError {
  override readonly status = 403;
  override readonly code = 'Forbidden';
}
/**
 * A node's certificate has expired: it may renew it (POST /api/v1/node/certificate)
 * within the center's grace, then reconnect. 495 is the status nginx gives
 * certificate errors; unlike 401 it tells the agent to renew, not to give up.
 */
export class CertificateExpiredError extends GedgeError {
  override readonly status = 495;
  override readonly code = 'CertificateExpired';
}
export class PayloadTooLargeError extends GedgeError {
  override readonly status = 413;
  override readonly code = 'PayloadTooLarge';
}
/** A byte range past the end of what was asked for (an artifact download resumed beyond its size). */
export class RangeNotSatisfiableError extends GedgeError {
  override readonly status = 416;
  override readonly code = 'RangeNotSatisfiable';
}
/** The requested revision was compacted away; the client must relist. */
export class GoneError extends GedgeError {
  override readonly status = 410;
  override readonly code = 'Gone';
}
export class UnavailableError extends GedgeError {
  override readonly status = 503;
  override readonly code = 'Unavailable';
}

export class TimeoutError extends GedgeError {
  override readonly status = 504;
  override readonly code = 'Timeout';
}

/** Rebuilds a typed error from an API error body (used by the API client). */
export function errorFromBody(status: number, body: { code?: string; message?: string; details?: ErrorDetail[] }): GedgeError {
  const byCode: Record<string, new (m: string, o?: { details?: ErrorDetail[] }) => GedgeError> = {
    Invalid: ValidationError,
    BadRequest: BadRequestError,
    NotFound: NotFoundError,
    AlreadyExists: AlreadyExistsError,
    Conflict: ConflictError,
    Unauthorized: UnauthorizedError,
    Forbidden: ForbiddenError,
    CertificateExpired: CertificateExpiredError,
    PayloadTooLarge: PayloadTooLargeError,
    RangeNotSatisfiable: RangeNotSatisfiableError,
    Gone: GoneError,
    Unavailable: UnavailableError,
    Timeout: TimeoutError,
  };
  const Ctor = body.code ? byCode[body.code] : undefined;
  if (Ctor) return new Ctor(body.message ?? `HTTP ${status}`, { details: body.details ?? [] });
  return new RemoteError(status, body.code ?? `HTTP${status}`, body.message ?? `HTTP ${status}`, { details: body.details ?? [] });
}

/** A refusal whose code this client has no class for (TooManyRequests, say), or no answer at all (status 0): its status and code as they came. */
export class RemoteError extends GedgeError {
  override readonly status: number;
  override readonly code: string;
  constructor(status: number, code: string, message: string, opts: { details?: ErrorDetail[]; cause?: unknown } = {}) {
    super(message, opts);
    this.status = status;
    this.code = code;
  }
}

/**
 * Why a connection failed, in words an operator can act on: the innermost
 * cause of a fetch or socket error ("fetch failed" says nothing; its cause
 * "connect ECONNREFUSED 127.0.0.1:7380" does).
 */
export function unreachableReason(err: unknown): string {
  let e: unknown = err;
  for (let depth = 0; depth < 5 && e instanceof Error && e.cause instanceof Error; depth++) e = e.cause;
  if (!(e instanceof Error)) return String(e);
  // An AggregateError (every address of a name refused) carries its own errors.
  const first = e instanceof AggregateError && e.errors[0] instanceof Error ? e.errors[0] : undefined;
  return (first ?? e).message || (e as { code?: string }).code || e.name;
}
