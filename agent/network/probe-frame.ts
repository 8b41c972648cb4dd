import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * The probe wire format, the same in both directions: a 16-byte random nonce
 * then HMAC-SHA256(key, nonce). The responder echoes a frame only when its
 * HMAC verifies, so it answers members of this platform and nobody else; the
 * prober matches echoes to probes by nonce. A replayed frame only earns the
 * same 48 bytes back on the replayer's own connection: nothing to amplify.
 */
export const NONCE_BYTES = 16;
const MAC_BYTES = 32;
export const FRAME_BYTES = NONCE_BYTES + MAC_BYTES;

export function signedFrame(key: Buffer, nonce: Buffer = randomBytes(NONCE_BYTES)): Buffer {
  return Buffer.concat([nonce, mac(key, nonce)]);
}

export function verifyFrame(key: Buffer, frame: Buffer): boolean {
  if (frame.length !== FRAME_BYTES) return false;
  return timingSafeEqual(frame.subarray(NONCE_BYTES), mac(key, frame.subarray(0, NONCE_BYTES)));
}

/** The nonce of a frame as a map key. */
export const nonceOf = (frame: Buffer): string => frame.subarray(0, NONCE_BYTES).toString('hex');

/** The center sends the key base64-encoded in its `peers` message. */
export const decodeKey = (base64: string): Buffer => Buffer.from(base64, 'base64');

function mac(key: Buffer, nonce: Buffer): Buffer {
  return createHmac('sha256', key).update(nonce).digest();
}

/**
 * Cuts a TCP byte stream into frames: TCP keeps no message boundaries, so one
 * read may hold part of a frame, or several frames coalesced.
 */
export class FrameReader {
  private rest: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): Buffer[] {
    const buf = this.rest.length ? Buffer.concat([this.rest, chunk]) : chunk;
    const frames: Buffer[] = [];
    let at = 0;
    for (; at + FRAME_BYTES <= buf.length; at += FRAME_BYTES) frames.push(buf.subarray(at, at + FRAME_BYTES));
    // Copy the tail so a large chunk is not kept alive by a few leftover bytes.
    this.rest = Buffer.from(buf.subarray(at));
    return frames;
  }
}
