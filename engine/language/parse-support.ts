import { EOF, type IParserErrorMessageProvider, type IToken, type TokenType } from 'chevrotain';
import type { BinaryOp, Expr, WindowSpec } from './ast.ts';
import { SqlError } from './errors.ts';
import * as t from './lexer.ts';

/** What the SQL parser (parser.ts) uses that needs no parser state: limits, error messages, tokens turned into values. */

/**
 * Deeper nesting than this is surely a mistake, and would overflow the stack:
 * MAX_DEPTH open parentheses, calls, brackets... while parsing, MAX_TREE_DEPTH
 * levels of the tree (`1+1+...+1` is deep without any) for whoever walks it.
 */
export const MAX_DEPTH = 64;
const MAX_TREE_DEPTH = 256;

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

export const COMPARE: Record<string, BinaryOp> = { '=': '=', '==': '=', '!=': '!=', '<>': '!=', '<': '<', '<=': '<=', '>': '>', '>=': '>=' };

function label(type: TokenType): string {
  return type === EOF ? 'end of input' : (type.LABEL ?? type.name);
}

function found(token: IToken | undefined): string {
  if (!token || token.tokenType === EOF) return 'end of input';
  const image = token.image.length > 40 ? `${token.image.slice(0, 40)}...` : token.image;
  // A quoted name or string shows as written, other tokens in double quotes.
  return /^["']/.test(image) && !/\p{Cc}/u.test(image) ? image : JSON.stringify(image);
}

/** "A", "A or B", "A, B or C". */
function oneOf(types: TokenType[]): string {
  const names = [...new Set(types.map(label))];
  return names.length <= 1 ? (names[0] ?? 'something else') : `${names.slice(0, -1).join(', ')} or ${names.at(-1)}`;
}

export const messages: IParserErrorMessageProvider = {
  buildMismatchTokenMessage: ({ expected, actual }) => `expected ${label(expected)} but found ${found(actual)}`,
  buildNotAllInputParsedMessage: ({ firstRedundant }) => `expected end of input but found ${found(firstRedundant)}`,
  buildNoViableAltMessage: ({ expectedPathsPerAlt, actual, customUserDescription }) =>
    `expected ${customUserDescription ?? oneOf(expectedPathsPerAlt.flat().flatMap((p) => p.slice(0, 1)))} but found ${found(actual[0])}`,
  buildEarlyExitMessage: ({ expectedIterationPaths, actual, customUserDescription }) =>
    `expected ${customUserDescription ?? oneOf(expectedIterationPaths.flatMap((p) => p.slice(0, 1)))} but found ${found(actual[0])}`,
};

export const pos = t.tokenPos;

export function unquote(token: IToken): string {
  const quote = token.image[0] ?? '';
  return token.image.slice(1, -1).replaceAll(quote + quote, quote);
}

const depths = new WeakMap<Expr, number>();

/** `node`, one level above its deepest child; a SqlError at `at` past MAX_TREE_DEPTH. */
export function nest<E extends Expr>(node: E, at: IToken, ...children: (Expr | undefined)[]): E {
  const depth = 1 + Math.max(1, ...children.map((c) => (c ? (depths.get(c) ?? 1) : 1)));
  if (depth > MAX_TREE_DEPTH) throw new SqlError(`expression nested more than ${MAX_TREE_DEPTH} deep`, pos(at));
  depths.set(node, depth);
  return node;
}

export function binary(op: BinaryOp, left: Expr, right: Expr, at: IToken): Expr {
  return nest({ k: 'binary', op, left, right, pos: left.pos }, at, left, right);
}

/** `1.5s` as 1500; a SqlError at the token unless it is a whole number of milliseconds (and, for sizes, above 0). */
export function duration(token: IToken, what?: string): number {
  const m = /^([\d.]+)([a-z]+)$/.exec(token.image);
  const value = Number(m?.[1]) * (UNITS[m?.[2] ?? ''] ?? NaN);
  const ms = Math.round(value);
  if (!Number.isSafeInteger(ms)) throw new SqlError(`duration ${token.image} is too long`, pos(token));
  if (Math.abs(value - ms) > 1e-6) throw new SqlError(`duration ${token.image} is not a whole number of milliseconds`, pos(token));
  if (what && ms <= 0) throw new SqlError(`${what} must be greater than 0`, pos(token));
  return ms;
}

/** An MQTT topic filter [MQTT-4.7.1]: + and # only as a whole level, # only as the last. */
export function topicFilter(token: IToken): string {
  const topic = unquote(token);
  const levels = topic.split('/');
  const bad = (reason: string) => new SqlError(`invalid topic filter ${JSON.stringify(topic)}: ${reason}`, pos(token));
  if (!topic) throw new SqlError('the topic must not be empty', pos(token));
  if (topic.includes('\0')) throw bad('it contains a NUL character');
  levels.forEach((level, i) => {
    if (level.includes('#') && (level !== '#' || i !== levels.length - 1)) throw bad('# must be a whole level and the last one');
    if (level.includes('+') && level !== '+') throw bad('+ must be a whole level');
  });
  return topic;
}

export function nameOf(token: IToken): string {
  if (token.tokenType !== t.QuotedIdentifier) return token.image;
  const name = unquote(token);
  if (!name) throw new SqlError('a quoted name must not be empty', pos(token));
  return name;
}

export function isWindow(item: Expr | WindowSpec): item is WindowSpec {
  return 'type' in item;
}
