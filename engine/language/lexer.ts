import { createToken, Lexer, type IToken, type TokenType } from 'chevrotain';
import type { Pos } from './ast.ts';
import { SqlError } from './errors.ts';

/**
 * The tokens of a rule's SQL (docs/rules-sql.md). Every token's LABEL is how
 * an error message names it ("expected FROM but found ...").
 */

/** A bare name. Also the category of the soft keywords below, so they stay usable as names. */
export const Identifier = createToken({ name: 'Identifier', pattern: /[A-Za-z_][A-Za-z0-9_]*/, label: 'a name' });

/** Reserved: never a bare name (double-quote it to use it as one). Case-insensitive. */
function keyword(word: string): TokenType {
  return createToken({ name: word.toUpperCase(), pattern: new RegExp(word, 'i'), longer_alt: Identifier, label: word.toUpperCase() });
}

/**
 * Soft keywords: meaningful only in their place (TIMESTAMP BY, WATERMARK,
 * LATENESS after it, a window in GROUP BY), a name anywhere else, because
 * payloads commonly have fields called `timestamp` or `session`.
 */
function softKeyword(word: string): TokenType {
  return createToken({
    name: word.toUpperCase(),
    pattern: new RegExp(word, 'i'),
    longer_alt: Identifier,
    categories: [Identifier],
    label: word.toUpperCase(),
  });
}

export const Select = keyword('select');
export const From = keyword('from');
export const Where = keyword('where');
export const Group = keyword('group');
export const By = keyword('by');
export const Having = keyword('having');
export const As = keyword('as');
export const Left = keyword('left');
export const Outer = keyword('outer');
export const Inner = keyword('inner');
export const Join = keyword('join');
export const On = keyword('on');
export const And = keyword('and');
export const Or = keyword('or');
export const Not = keyword('not');
export const In = keyword('in');
export const Between = keyword('between');
export const Like = keyword('like');
export const Is = keyword('is');
export const Null = keyword('null');
export const True = keyword('true');
export const False = keyword('false');
export const Case = keyword('case');
export const When = keyword('when');
export const Then = keyword('then');
export const Else = keyword('else');
export const End = keyword('end');

export const Timestamp = softKeyword('timestamp');
export const Watermark = softKeyword('watermark');
export const Lateness = softKeyword('lateness');
export const Tumbling = softKeyword('tumbling');
export const Hopping = softKeyword('hopping');
export const Sliding = softKeyword('sliding');
export const Session = softKeyword('session');

export const WindowKeywords: readonly TokenType[] = [Tumbling, Hopping, Sliding, Session];

/** "a name" with "" for a quote; in FROM, the topic. */
export const QuotedIdentifier = createToken({
  name: 'QuotedIdentifier',
  pattern: /"(?:[^"]|"")*"(?!")/,
  line_breaks: true,
  label: 'a "quoted name"',
});
/** 'text' with '' for a quote. */
export const StringLiteral = createToken({ name: 'StringLiteral', pattern: /'(?:[^']|'')*'(?!')/, line_breaks: true, label: 'a string' });

// Numbers and durations must not run into a name (`1min` is an error, not `1 AS min`).
export const Duration = createToken({
  name: 'Duration',
  pattern: /\d+(?:\.\d+)?(?:ms|s|m|h)(?![A-Za-z0-9_]|\.\d)/,
  label: 'a duration (like 500ms, 10s, 5m, 1h)',
});
export const NumberLiteral = createToken({
  name: 'NumberLiteral',
  pattern: /\d+(?:\.\d+)?(?:[eE][+-]?\d+)?(?![A-Za-z0-9_]|\.\d)/,
  label: 'a number',
});

// Categories: one CONSUME in the parser for a whole precedence level.
export const CompareOp = createToken({ name: 'CompareOp', pattern: Lexer.NA, label: 'a comparison' });
export const AddOp = createToken({ name: 'AddOp', pattern: Lexer.NA, label: '"+" or "-"' });
export const MulOp = createToken({ name: 'MulOp', pattern: Lexer.NA, label: '"*", "/" or "%"' });

export const LParen = createToken({ name: 'LParen', pattern: '(', label: '"("' });
export const RParen = createToken({ name: 'RParen', pattern: ')', label: '")"' });
export const LBracket = createToken({ name: 'LBracket', pattern: '[', label: '"["' });
export const RBracket = createToken({ name: 'RBracket', pattern: ']', label: '"]"' });
export const Comma = createToken({ name: 'Comma', pattern: ',', label: '","' });
export const Dot = createToken({ name: 'Dot', pattern: '.', label: '"."' });
export const Semicolon = createToken({ name: 'Semicolon', pattern: ';', label: '";"' });
export const Star = createToken({ name: 'Star', pattern: '*', categories: [MulOp], label: '"*"' });
export const Slash = createToken({ name: 'Slash', pattern: '/', categories: [MulOp], label: '"/"' });
export const Percent = createToken({ name: 'Percent', pattern: '%', categories: [MulOp], label: '"%"' });
export const Plus = createToken({ name: 'Plus', pattern: '+', categories: [AddOp], label: '"+"' });
export const Minus = createToken({ name: 'Minus', pattern: '-', categories: [AddOp], label: '"-"' });
export const Concat = createToken({ name: 'Concat', pattern: '||', label: '"||"' });
export const Eq = createToken({ name: 'Eq', pattern: /==?/, categories: [CompareOp], label: '"="' });
export const NotEq = createToken({ name: 'NotEq', pattern: /!=|<>/, categories: [CompareOp], label: '"!="' });
export const LtEq = createToken({ name: 'LtEq', pattern: '<=', categories: [CompareOp], label: '"<="' });
export const GtEq = createToken({ name: 'GtEq', pattern: '>=', categories: [CompareOp], label: '">="' });
export const Lt = createToken({ name: 'Lt', pattern: '<', categories: [CompareOp], label: '"<"' });
export const Gt = createToken({ name: 'Gt', pattern: '>', categories: [CompareOp], label: '">"' });

const Whitespace = createToken({ name: 'Whitespace', pattern: /\s+/, group: Lexer.SKIPPED, line_breaks: true });
const LineComment = createToken({ name: 'LineComment', pattern: /--[^\n\r]*/, group: Lexer.SKIPPED });
const BlockComment = createToken({ name: 'BlockComment', pattern: /\/\*[\s\S]*?\*\//, group: Lexer.SKIPPED, line_breaks: true });

// Matched only when the well-formed token above them failed: they run to the
// end of the input and become the error, at their first character.
const Unterminated = new Map<TokenType, string>();
function unterminated(name: string, pattern: RegExp, reason: string): TokenType {
  const t = createToken({ name, pattern, line_breaks: true });
  Unterminated.set(t, reason);
  return t;
}
const BadString = unterminated('BadString', /'[\s\S]*/, 'unterminated string');
const BadQuoted = unterminated('BadQuoted', /"[\s\S]*/, 'unterminated quoted name');
const BadComment = unterminated('BadComment', /\/\*[\s\S]*/, 'unterminated comment');
const BadNumber = createToken({ name: 'BadNumber', pattern: /\d[A-Za-z0-9_.]*/ });

export const allTokens: TokenType[] = [
  Whitespace,
  LineComment,
  BlockComment,
  BadComment,
  QuotedIdentifier,
  BadQuoted,
  StringLiteral,
  BadString,
  Duration,
  NumberLiteral,
  BadNumber,
  Select, From, Where, Group, By, Having, As, Left, Outer, Inner, Join, On,
  And, Or, Not, In, Between, Like, Is, Null, True, False, Case, When, Then, Else, End,
  Timestamp, Watermark, Lateness, Tumbling, Hopping, Sliding, Session,
  Identifier,
  LParen, RParen, LBracket, RBracket, Comma, Dot, Semicolon, Star, Slash, Percent, Plus,
  Concat, Minus, Eq, NotEq, LtEq, GtEq, Lt, Gt,
  CompareOp, AddOp, MulOp,
];

let lexer: Lexer | undefined;

/** The position of a token's first character. */
export function tokenPos(t: IToken): Pos {
  return { line: t.startLine ?? 1, column: t.startColumn ?? 1, offset: t.startOffset };
}

/** The position just after the last character, where "end of input" errors point. */
export function endPos(text: string): Pos {
  // Chevrotain's line terminators: \n, \r\n and a lone \r.
  let line = 1;
  let lineStart = 0;
  for (const m of text.matchAll(/\r\n?|\n/g)) {
    line++;
    lineStart = m.index + m[0].length;
  }
  return { line, column: text.length - lineStart + 1, offset: text.length };
}

/** The tokens of `text`, comments and whitespace left out; the first lexical error as a SqlError. */
export function tokenize(text: string): IToken[] {
  lexer ??= new Lexer(allTokens, { ensureOptimizations: true });
  const result = lexer.tokenize(text);
  const bad = result.tokens.find((t) => Unterminated.has(t.tokenType) || t.tokenType === BadNumber);
  const lexError = result.errors[0];
  if (lexError && (!bad || lexError.offset < bad.startOffset)) {
    const ch = String.fromCodePoint(text.codePointAt(lexError.offset) ?? 0);
    throw new SqlError(`unexpected character ${JSON.stringify(ch)}`, {
      line: lexError.line ?? 1,
      column: lexError.column ?? 1,
      offset: lexError.offset,
    });
  }
  if (bad) {
    const reason = Unterminated.get(bad.tokenType) ?? `invalid number or duration ${JSON.stringify(bad.image)}`;
    throw new SqlError(reason, tokenPos(bad));
  }
  return result.tokens;
}
