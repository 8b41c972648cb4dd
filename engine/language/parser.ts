import {
  EmbeddedActionsParser,
  EOF,
  tokenMatcher,
  type IParserErrorMessageProvider,
  type IToken,
  type TokenType,
} from 'chevrotain';
import type { BinaryOp, Expr, Join, Pos, SelectItem, SelectStatement, Source, StarItem, WindowSpec } from './ast.ts';
import { SqlError } from './errors.ts';
import * as t from './lexer.ts';

/**
 * The parser of a rule's SQL (docs/rules-sql.md): text to the syntax tree of
 * ast.ts, or a SqlError naming the first problem's line and column. It checks
 * syntax only (plus what needs no context: durations, topic filters, one
 * window); names and functions are the analyzer's business.
 */

/**
 * Deeper nesting than this is surely a mistake, and would overflow the stack:
 * MAX_DEPTH open parentheses, calls, brackets... while parsing, MAX_TREE_DEPTH
 * levels of the tree (`1+1+...+1` is deep without any) for whoever walks it.
 */
const MAX_DEPTH = 64;
const MAX_TREE_DEPTH = 256;

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

const COMPARE: Record<string, BinaryOp> = { '=': '=', '==': '=', '!=': '!=', '<>': '!=', '<': '<', '<=': '<=', '>': '>', '>=': '>=' };

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

const messages: IParserErrorMessageProvider = {
  buildMismatchTokenMessage: ({ expected, actual }) => `expected ${label(expected)} but found ${found(actual)}`,
  buildNotAllInputParsedMessage: ({ firstRedundant }) => `expected end of input but found ${found(firstRedundant)}`,
  buildNoViableAltMessage: ({ expectedPathsPerAlt, actual, customUserDescription }) =>
    `expected ${customUserDescription ?? oneOf(expectedPathsPerAlt.flat().flatMap((p) => p.slice(0, 1)))} but found ${found(actual[0])}`,
  buildEarlyExitMessage: ({ expectedIterationPaths, actual, customUserDescription }) =>
    `expected ${customUserDescription ?? oneOf(expectedIterationPaths.flatMap((p) => p.slice(0, 1)))} but found ${found(actual[0])}`,
};

const pos = t.tokenPos;

function unquote(token: IToken): string {
  const quote = token.image[0] ?? '';
  return token.image.slice(1, -1).replaceAll(quote + quote, quote);
}

const depths = new WeakMap<Expr, number>();

/** `node`, one level above its deepest child; a SqlError at `at` past MAX_TREE_DEPTH. */
function nest<E extends Expr>(node: E, at: IToken, ...children: (Expr | undefined)[]): E {
  const depth = 1 + Math.max(1, ...children.map((c) => (c ? (depths.get(c) ?? 1) : 1)));
  if (depth > MAX_TREE_DEPTH) throw new SqlError(`expression nested more than ${MAX_TREE_DEPTH} deep`, pos(at));
  depths.set(node, depth);
  return node;
}

function binary(op: BinaryOp, left: Expr, right: Expr, at: IToken): Expr {
  return nest({ k: 'binary', op, left, right, pos: left.pos }, at, left, right);
}

/** `1.5s` as 1500; a SqlError at the token unless it is a whole number of milliseconds (and, for sizes, above 0). */
function duration(token: IToken, what?: string): number {
  const m = /^([\d.]+)([a-z]+)$/.exec(token.image);
  const value = Number(m?.[1]) * (UNITS[m?.[2] ?? ''] ?? NaN);
  const ms = Math.round(value);
  if (!Number.isSafeInteger(ms)) throw new SqlError(`duration ${token.image} is too long`, pos(token));
  if (Math.abs(value - ms) > 1e-6) throw new SqlError(`duration ${token.image} is not a whole number of milliseconds`, pos(token));
  if (what && ms <= 0) throw new SqlError(`${what} must be greater than 0`, pos(token));
  return ms;
}

/** An MQTT topic filter [MQTT-4.7.1]: + and # only as a whole level, # only as the last. */
function topicFilter(token: IToken): string {
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

function nameOf(token: IToken): string {
  if (token.tokenType !== t.QuotedIdentifier) return token.image;
  const name = unquote(token);
  if (!name) throw new SqlError('a quoted name must not be empty', pos(token));
  return name;
}

function isWindow(item: Expr | WindowSpec): item is WindowSpec {
  return 'type' in item;
}

class SqlParser extends EmbeddedActionsParser {
  /** Open `expr`s, against MAX_DEPTH; reset by parseSql. */
  depth = 0;

  constructor() {
    super(t.allTokens, { recoveryEnabled: false, maxLookahead: 3, errorMessageProvider: messages });
    this.performSelfAnalysis();
  }

  statement = this.RULE('statement', (): SelectStatement => {
    const first = this.CONSUME(t.Select);
    const select: (SelectItem | StarItem)[] = [];
    this.AT_LEAST_ONE_SEP({
      SEP: t.Comma,
      ERR_MSG: 'an expression or "*"',
      DEF: () => select.push(this.SUBRULE(this.selectItem)),
    });
    this.CONSUME(t.From);
    const from = this.SUBRULE(this.source);
    const joins: Join[] = [];
    this.MANY(() => joins.push(this.SUBRULE(this.join)));
    let where: Expr | undefined;
    this.OPTION(() => {
      this.CONSUME(t.Where);
      where = this.SUBRULE(this.expr);
    });
    const groupBy: Expr[] = [];
    let window: WindowSpec | undefined;
    this.OPTION2(() => {
      this.CONSUME(t.Group);
      this.CONSUME(t.By);
      this.AT_LEAST_ONE_SEP2({
        SEP: t.Comma,
        ERR_MSG: 'an expression or a window',
        DEF: () => {
          this.ACTION(() => {
            if (window && this.atWindow()) throw new SqlError('only one window is allowed in GROUP BY', pos(this.LA(1)));
          });
          const item = this.SUBRULE(this.groupItem);
          this.ACTION(() => (isWindow(item) ? (window = item) : groupBy.push(item)));
        },
      });
    });
    let having: Expr | undefined;
    this.OPTION3(() => {
      this.CONSUME(t.Having);
      having = this.SUBRULE2(this.expr);
    });
    this.OPTION4(() => this.CONSUME(t.Semicolon));
    return {
      select,
      from,
      joins,
      ...(where && { where }),
      groupBy,
      ...(window && { window }),
      ...(having && { having }),
      pos: pos(first),
    };
  });

  /** A bare or "quoted" name. */
  private name = this.RULE('name', (): IToken => {
    const token = this.OR([{ ALT: () => this.CONSUME(t.Identifier) }, { ALT: () => this.CONSUME(t.QuotedIdentifier) }]);
    this.ACTION(() => nameOf(token)); // an empty "" is an error here, before what follows
    return token;
  });

  /** `[AS] name` after a select item, the source or a joined table. */
  private alias = this.RULE('alias', (): string => {
    this.OPTION(() => this.CONSUME(t.As));
    const token = this.SUBRULE(this.name);
    return this.ACTION(() => nameOf(token));
  });

  private selectItem = this.RULE('selectItem', (): SelectItem | StarItem =>
    this.OR({
      ERR_MSG: 'an expression or "*"',
      DEF: [
        { ALT: () => ({ k: 'star', pos: pos(this.CONSUME(t.Star)) }) as const },
        {
          ALT: () => {
            const source = this.SUBRULE(this.name);
            this.CONSUME(t.Dot);
            this.CONSUME2(t.Star);
            return this.ACTION(() => ({ k: 'star', source: nameOf(source), pos: pos(source) }) as const);
          },
        },
        {
          ALT: () => {
            const expr = this.SUBRULE(this.expr);
            let alias: string | undefined;
            this.OPTION(() => (alias = this.SUBRULE(this.alias)));
            return this.ACTION(() => ({ k: 'item', expr, ...(alias !== undefined && { alias }), pos: expr.pos }) as const);
          },
        },
      ],
    }),
  );

  private source = this.RULE('source', (): Source => {
    const topicToken = this.OR({
      ERR_MSG: 'a topic in quotes (like "sensors/+/temp")',
      DEF: [{ ALT: () => this.CONSUME(t.QuotedIdentifier) }, { ALT: () => this.CONSUME(t.StringLiteral) }],
    });
    const topic = this.ACTION(() => topicFilter(topicToken));
    let alias: string | undefined;
    // `timestamp` is a name too: `FROM "t" timestamp BY ...` is TIMESTAMP BY, not an alias.
    this.OPTION({
      GATE: () => !(tokenMatcher(this.LA(1), t.Timestamp) && tokenMatcher(this.LA(2), t.By)),
      DEF: () => (alias = this.SUBRULE(this.alias)),
    });
    let timestamp: Source['timestamp'];
    this.OPTION2(() => {
      const first = this.CONSUME(t.Timestamp);
      this.CONSUME(t.By);
      const expr = this.SUBRULE(this.expr);
      let watermarkMs = 0;
      let latenessMs = 0;
      this.OPTION3(() => {
        this.CONSUME(t.Watermark);
        watermarkMs = this.ms(this.CONSUME(t.Duration));
      });
      this.OPTION4(() => {
        this.CONSUME(t.Lateness);
        latenessMs = this.ms(this.CONSUME2(t.Duration));
      });
      timestamp = { expr, watermarkMs, latenessMs, pos: pos(first) };
    });
    return { topic, ...(alias !== undefined && { alias }), ...(timestamp && { timestamp }), pos: pos(topicToken) };
  });

  private join = this.RULE('join', (): Join => {
    let kind: Join['kind'] = 'inner';
    let first: IToken | undefined;
    this.OPTION(() =>
      this.OR([
        {
          ALT: () => {
            first = this.CONSUME(t.Left);
            this.OPTION2(() => this.CONSUME(t.Outer));
            kind = 'left';
          },
        },
        { ALT: () => (first = this.CONSUME(t.Inner)) },
      ]),
    );
    const joinToken = this.CONSUME(t.Join);
    const table = this.SUBRULE(this.name);
    let alias: string | undefined;
    this.OPTION3(() => (alias = this.SUBRULE(this.alias)));
    this.CONSUME(t.On);
    const on = this.SUBRULE(this.expr);
    return this.ACTION(() => ({
      kind,
      table: nameOf(table),
      ...(alias !== undefined && { alias }),
      on,
      pos: pos(first ?? joinToken),
    }));
  });

  /** At a window keyword right before "(". */
  private atWindow(): boolean {
    return t.WindowKeywords.some((w) => tokenMatcher(this.LA(1), w)) && tokenMatcher(this.LA(2), t.LParen);
  }

  /**
   * A window keyword right before "(" is the window, whatever follows (so
   * `TUMBLING(5)` is an error at the 5, not a call); anything else an expression.
   */
  private groupItem = this.RULE('groupItem', (): Expr | WindowSpec =>
    this.OR({
      ERR_MSG: 'an expression or a window',
      MAX_LOOKAHEAD: 2,
      DEF: [
        {
          GATE: () => this.atWindow(),
          ALT: () => this.SUBRULE(this.window),
        },
        { ALT: () => this.SUBRULE(this.expr) },
      ],
    }),
  );

  /** Each duration is checked as soon as it is read, so that its error comes before any later one. */
  private window = this.RULE('window', (): WindowSpec =>
    this.OR([
      {
        ALT: () => {
          const first = this.CONSUME(t.Tumbling);
          this.CONSUME1(t.LParen);
          const size = this.ms(this.CONSUME1(t.Duration), 'the window size');
          this.CONSUME1(t.RParen);
          return { type: 'tumbling', sizeMs: size, pos: pos(first) } as const;
        },
      },
      {
        ALT: () => {
          const first = this.CONSUME(t.Hopping);
          this.CONSUME2(t.LParen);
          const size = this.ms(this.CONSUME2(t.Duration), 'the window size');
          this.CONSUME1(t.Comma);
          const hop = this.ms(this.CONSUME3(t.Duration), 'the hop');
          this.CONSUME2(t.RParen);
          return { type: 'hopping', sizeMs: size, hopMs: hop, pos: pos(first) } as const;
        },
      },
      {
        ALT: () => {
          const first = this.CONSUME(t.Sliding);
          this.CONSUME3(t.LParen);
          const size = this.ms(this.CONSUME4(t.Duration), 'the window size');
          this.CONSUME3(t.RParen);
          return { type: 'sliding', sizeMs: size, pos: pos(first) } as const;
        },
      },
      {
        ALT: () => {
          const first = this.CONSUME(t.Session);
          this.CONSUME4(t.LParen);
          const gap = this.ms(this.CONSUME5(t.Duration), 'the session gap');
          let max: number | undefined;
          this.OPTION(() => {
            this.CONSUME2(t.Comma);
            max = this.ms(this.CONSUME6(t.Duration), 'the longest session');
          });
          this.CONSUME4(t.RParen);
          return { type: 'session', gapMs: gap, ...(max !== undefined && { maxMs: max }), pos: pos(first) } as const;
        },
      },
    ]),
  );

  /** A duration token's milliseconds; 0 while chevrotain records the grammar. */
  private ms(token: IToken, what?: string): number {
    return this.ACTION(() => duration(token, what)) ?? 0;
  }

  // Expressions, lowest precedence first.

  expr = this.RULE('expr', (): Expr => {
    this.ACTION(() => {
      if (++this.depth > MAX_DEPTH) throw new SqlError(`expression nested more than ${MAX_DEPTH} deep`, pos(this.LA(1)));
    });
    let left = this.SUBRULE(this.andExpr);
    this.MANY(() => {
      const op = this.CONSUME(t.Or);
      const right = this.SUBRULE2(this.andExpr);
      left = this.ACTION(() => binary('OR', left, right, op));
    });
    this.ACTION(() => this.depth--);
    return left;
  });

  private andExpr = this.RULE('andExpr', (): Expr => {
    let left = this.SUBRULE(this.notExpr);
    this.MANY(() => {
      const op = this.CONSUME(t.And);
      const right = this.SUBRULE2(this.notExpr);
      left = this.ACTION(() => binary('AND', left, right, op));
    });
    return left;
  });

  private notExpr = this.RULE('notExpr', (): Expr => {
    const nots: IToken[] = [];
    this.MANY(() => nots.push(this.CONSUME(t.Not)));
    const arg = this.SUBRULE(this.comparison);
    return this.ACTION(() => nots.reduceRight<Expr>((a, not) => nest({ k: 'unary', op: 'NOT', arg: a, pos: pos(not) }, not, a), arg));
  });

  /** Comparisons and predicates, left-associative: `a = b = c` is `(a = b) = c`. */
  private comparison = this.RULE('comparison', (): Expr => {
    let left = this.SUBRULE(this.concatExpr);
    this.MANY(() =>
      this.OR([
        {
          ALT: () => {
            const op = this.CONSUME(t.CompareOp);
            const right = this.SUBRULE2(this.concatExpr);
            left = this.ACTION(() => binary(COMPARE[op.image] ?? '=', left, right, op));
          },
        },
        {
          ALT: () => {
            const is = this.CONSUME(t.Is);
            let not = false;
            this.OPTION(() => {
              this.CONSUME1(t.Not);
              not = true;
            });
            this.CONSUME(t.Null);
            left = this.ACTION(() => nest({ k: 'isnull', arg: left, not, pos: left.pos }, is, left));
          },
        },
        {
          ALT: () => {
            let not = false;
            this.OPTION2(() => {
              this.CONSUME2(t.Not);
              not = true;
            });
            this.OR2([
              {
                ALT: () => {
                  const op = this.CONSUME(t.In);
                  this.CONSUME(t.LParen);
                  const list: Expr[] = [];
                  this.AT_LEAST_ONE_SEP({ SEP: t.Comma, ERR_MSG: 'an expression', DEF: () => list.push(this.SUBRULE(this.expr)) });
                  this.CONSUME(t.RParen);
                  left = this.ACTION(() => nest({ k: 'in', arg: left, list, not, pos: left.pos }, op, left, ...list));
                },
              },
              {
                ALT: () => {
                  const op = this.CONSUME(t.Between);
                  const low = this.SUBRULE3(this.concatExpr);
                  this.CONSUME(t.And);
                  const high = this.SUBRULE4(this.concatExpr);
                  left = this.ACTION(() => nest({ k: 'between', arg: left, low, high, not, pos: left.pos }, op, left, low, high));
                },
              },
              {
                ALT: () => {
                  const op = this.CONSUME(t.Like);
                  const pattern = this.SUBRULE5(this.concatExpr);
                  left = this.ACTION(() => nest({ k: 'like', arg: left, pattern, not, pos: left.pos }, op, left, pattern));
                },
              },
            ]);
          },
        },
      ]),
    );
    return left;
  });

  private concatExpr = this.RULE('concatExpr', (): Expr => {
    let left = this.SUBRULE(this.additive);
    this.MANY(() => {
      const op = this.CONSUME(t.Concat);
      const right = this.SUBRULE2(this.additive);
      left = this.ACTION(() => binary('||', left, right, op));
    });
    return left;
  });

  private additive = this.RULE('additive', (): Expr => {
    let left = this.SUBRULE(this.multiplicative);
    this.MANY(() => {
      const op = this.CONSUME(t.AddOp);
      const right = this.SUBRULE2(this.multiplicative);
      left = this.ACTION(() => binary(op.image as BinaryOp, left, right, op));
    });
    return left;
  });

  private multiplicative = this.RULE('multiplicative', (): Expr => {
    let left = this.SUBRULE(this.unary);
    this.MANY(() => {
      const op = this.CONSUME(t.MulOp);
      const right = this.SUBRULE2(this.unary);
      left = this.ACTION(() => binary(op.image as BinaryOp, left, right, op));
    });
    return left;
  });

  private unary = this.RULE('unary', (): Expr => {
    const minuses: IToken[] = [];
    this.MANY(() => minuses.push(this.CONSUME(t.Minus)));
    const arg = this.SUBRULE(this.postfix);
    return this.ACTION(() => minuses.reduceRight<Expr>((a, m) => nest({ k: 'unary', op: '-', arg: a, pos: pos(m) }, m, a), arg));
  });

  /** `x[i]` and `.name` after anything but a plain ref, whose dots make its parts. */
  private postfix = this.RULE('postfix', (): Expr => {
    let arg = this.SUBRULE(this.primary);
    this.MANY(() =>
      this.OR([
        {
          ALT: () => {
            const open = this.CONSUME(t.LBracket);
            const index = this.SUBRULE(this.expr);
            this.CONSUME(t.RBracket);
            arg = this.ACTION(() => nest({ k: 'index', arg, index, pos: arg.pos }, open, arg, index));
          },
        },
        {
          ALT: () => {
            const dot = this.CONSUME(t.Dot);
            const name = this.SUBRULE(this.name);
            arg = this.ACTION(() => nest({ k: 'member', arg, name: nameOf(name), pos: arg.pos }, dot, arg));
          },
        },
      ]),
    );
    return arg;
  });

  private primary = this.RULE('primary', (): Expr =>
    this.OR({
      ERR_MSG: 'an expression',
      DEF: [
        {
          ALT: () => {
            const token = this.CONSUME(t.NumberLiteral);
            return this.ACTION(() => {
              const value = Number(token.image);
              if (!Number.isFinite(value)) throw new SqlError(`number ${token.image} is too large`, pos(token));
              return { k: 'lit', value, pos: pos(token) } as const;
            });
          },
        },
        {
          ALT: () => {
            const token = this.CONSUME(t.StringLiteral);
            return this.ACTION(() => ({ k: 'lit', value: unquote(token), pos: pos(token) }) as const);
          },
        },
        { ALT: () => ({ k: 'lit', value: true, pos: pos(this.CONSUME(t.True)) }) as const },
        { ALT: () => ({ k: 'lit', value: false, pos: pos(this.CONSUME(t.False)) }) as const },
        { ALT: () => ({ k: 'lit', value: null, pos: pos(this.CONSUME(t.Null)) }) as const },
        { ALT: () => this.SUBRULE(this.call) },
        { ALT: () => this.SUBRULE(this.ref) },
        { ALT: () => this.SUBRULE(this.caseExpr) },
        {
          ALT: () => {
            this.CONSUME(t.LParen);
            const inner = this.SUBRULE(this.expr);
            this.CONSUME(t.RParen);
            return inner;
          },
        },
      ],
    }),
  );

  private call = this.RULE('call', (): Expr => {
    const name = this.CONSUME(t.Identifier);
    this.CONSUME(t.LParen);
    const args: Expr[] = [];
    let star = false;
    this.OPTION(() =>
      this.OR([
        { ALT: () => ((star = true), this.CONSUME(t.Star)) },
        { ALT: () => this.AT_LEAST_ONE_SEP({ SEP: t.Comma, DEF: () => args.push(this.SUBRULE(this.expr)) }) },
      ]),
    );
    this.CONSUME(t.RParen);
    return this.ACTION(() => nest({ k: 'call', name: name.image.toLowerCase(), args, star, pos: pos(name) }, name, ...args));
  });

  private ref = this.RULE('ref', (): Expr => {
    const first = this.SUBRULE(this.name);
    const rest: IToken[] = [];
    this.MANY(() => {
      this.CONSUME(t.Dot);
      rest.push(this.SUBRULE2(this.name));
    });
    return this.ACTION(() => ({ k: 'ref', parts: [first, ...rest].map(nameOf), pos: pos(first) }));
  });

  private caseExpr = this.RULE('caseExpr', (): Expr => {
    const first = this.CONSUME(t.Case);
    let subject: Expr | undefined;
    this.OPTION(() => (subject = this.SUBRULE(this.expr)));
    const whens: { when: Expr; then: Expr }[] = [];
    this.AT_LEAST_ONE(() => {
      this.CONSUME(t.When);
      const when = this.SUBRULE2(this.expr);
      this.CONSUME(t.Then);
      const then = this.SUBRULE3(this.expr);
      whens.push({ when, then });
    });
    let otherwise: Expr | undefined;
    this.OPTION2(() => {
      this.CONSUME(t.Else);
      otherwise = this.SUBRULE4(this.expr);
    });
    this.CONSUME(t.End);
    return this.ACTION(() =>
      nest(
        { k: 'case', ...(subject && { subject }), whens, ...(otherwise && { else: otherwise }), pos: pos(first) },
        first,
        subject,
        ...whens.flatMap((w) => [w.when, w.then]),
        otherwise,
      ),
    );
  });
}

let instance: SqlParser | undefined;

/** The position an error points at: its token, or just past the text at the end of input. */
function errorPos(token: IToken, text: string): Pos {
  return token.tokenType === EOF || Number.isNaN(token.startOffset) ? t.endPos(text) : pos(token);
}

/** Parses one SELECT statement; throws a SqlError at the first problem. */
export function parseSql(text: string): SelectStatement {
  const tokens = t.tokenize(text);
  instance ??= new SqlParser();
  instance.input = tokens;
  instance.depth = 0;
  const statement = instance.statement();
  const error = instance.errors[0];
  if (error) throw new SqlError(error.message, errorPos(error.token, text));
  return statement;
}
