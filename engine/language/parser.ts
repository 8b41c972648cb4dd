import { EmbeddedActionsParser, EOF, tokenMatcher, type IToken } from 'chevrotain';
import type { BinaryOp, Expr, Join, Pos, SelectItem, SelectStatement, Source, StarItem, WindowSpec } from './ast.ts';
import { SqlError } from './errors.ts';
import * as t from './lexer.ts';
import { COMPARE, MAX_DEPTH, binary, duration, isWindow, messages, nameOf, nest, pos, topicFilter, unquote } from './parse-support.ts';

/**
 * The parser of a rule's SQL (docs/rules-sql.md): text to the syntax tree of
 * ast.ts, or a SqlError naming the first problem's line and column. It checks
 * syntax only (plus what needs no context: durations, topic filters, one
 * window); names and functions are the analyzer's business.
 *
 * One file past 400 lines on purpose: chevrotain's grammar rules are fields
 * of one parser instance, so the grammar is one class. What needs no parser
 * state (error messages, tokens to values, nesting limits) is in
 * parse-support.ts.
 */

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
