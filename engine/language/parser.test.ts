import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { Expr, Pos, SelectItem, SelectStatement, StarItem } from './ast.ts';
import { SqlError } from './errors.ts';
import { parseSql } from './parser.ts';

/** A position on line 1. */
const at = (column: number): Pos => ({ line: 1, column, offset: column - 1 });

/** Expressions as S-expressions, to show structure without positions. */
function show(e: Expr): string {
  switch (e.k) {
    case 'lit':
      return typeof e.value === 'string' ? `'${e.value}'` : String(e.value);
    case 'ref':
      return e.parts.join('.');
    case 'index':
      return `(index ${show(e.arg)} ${show(e.index)})`;
    case 'member':
      return `(member ${show(e.arg)} ${e.name})`;
    case 'unary':
      return `(${e.op} ${show(e.arg)})`;
    case 'binary':
      return `(${e.op} ${show(e.left)} ${show(e.right)})`;
    case 'call':
      return `(${e.name}${e.star ? ' *' : ''}${e.args.map((a) => ' ' + show(a)).join('')})`;
    case 'case': {
      const whens = e.whens.map((w) => ` (when ${show(w.when)} ${show(w.then)})`).join('');
      return `(case${e.subject ? ' ' + show(e.subject) : ''}${whens}${e.else ? ` (else ${show(e.else)})` : ''})`;
    }
    case 'in':
      return `(${e.not ? 'not-in' : 'in'} ${show(e.arg)} ${e.list.map(show).join(' ')})`;
    case 'between':
      return `(${e.not ? 'not-between' : 'between'} ${show(e.arg)} ${show(e.low)} ${show(e.high)})`;
    case 'like':
      return `(${e.not ? 'not-like' : 'like'} ${show(e.arg)} ${show(e.pattern)})`;
    case 'isnull':
      return `(${e.not ? 'is-not-null' : 'is-null'} ${show(e.arg)})`;
  }
}

function item(i: SelectItem | StarItem | undefined): string {
  assert.ok(i);
  if (i.k === 'star') return i.source ? `${i.source}.*` : '*';
  return show(i.expr) + (i.alias !== undefined ? ` AS ${i.alias}` : '');
}

/** The select items of `SELECT <list> FROM "t"`, shown. */
const items = (list: string): string[] => parseSql(`SELECT ${list} FROM "t"`).select.map(item);
/** One expression, shown. */
const expr = (e: string): string => {
  const [only, ...rest] = items(e);
  assert.equal(rest.length, 0);
  return only ?? '';
};

/** The SqlError of `sql`, as "line:column reason". */
function error(sql: string): string {
  try {
    parseSql(sql);
  } catch (e) {
    assert.ok(e instanceof SqlError, `not a SqlError: ${String(e)}`);
    assert.equal(e.message, `line ${e.line}, column ${e.column}: ${e.reason}`);
    return `${e.line}:${e.column} ${e.reason}`;
  }
  assert.fail(`parsed: ${sql}`);
}

const where = (cond: string): string => {
  const s = parseSql(`SELECT a FROM "t" WHERE ${cond}`);
  assert.ok(s.where);
  return show(s.where);
};

describe('parseSql', () => {
  it('parses the issue example, with the position of every node', () => {
    const sql =
      'SELECT deviceId, avg(speed) AS v, count(*) AS n FROM "traffic/+/loop" GROUP BY deviceId, TUMBLING(1s) HAVING avg(speed) < 20';
    const expected: SelectStatement = {
      select: [
        { k: 'item', expr: { k: 'ref', parts: ['deviceId'], pos: at(8) }, pos: at(8) },
        {
          k: 'item',
          expr: { k: 'call', name: 'avg', args: [{ k: 'ref', parts: ['speed'], pos: at(22) }], star: false, pos: at(18) },
          alias: 'v',
          pos: at(18),
        },
        { k: 'item', expr: { k: 'call', name: 'count', args: [], star: true, pos: at(35) }, alias: 'n', pos: at(35) },
      ],
      from: { topic: 'traffic/+/loop', pos: at(54) },
      joins: [],
      groupBy: [{ k: 'ref', parts: ['deviceId'], pos: at(80) }],
      window: { type: 'tumbling', sizeMs: 1000, pos: at(90) },
      having: {
        k: 'binary',
        op: '<',
        left: { k: 'call', name: 'avg', args: [{ k: 'ref', parts: ['speed'], pos: at(114) }], star: false, pos: at(110) },
        right: { k: 'lit', value: 20, pos: at(123) },
        pos: at(110),
      },
      pos: at(1),
    };
    assert.deepEqual(parseSql(sql), expected);
  });

  it('parses every window type, durations in ms, s, m, h and decimals', () => {
    const window = (w: string) => parseSql(`SELECT a FROM "t" GROUP BY ${w}`).window;
    assert.deepEqual(window('TUMBLING(500ms)'), { type: 'tumbling', sizeMs: 500, pos: at(28) });
    assert.deepEqual(window('HOPPING(1m, 1.5s)'), { type: 'hopping', sizeMs: 60_000, hopMs: 1500, pos: at(28) });
    assert.deepEqual(window('SLIDING(2h)'), { type: 'sliding', sizeMs: 7_200_000, pos: at(28) });
    assert.deepEqual(window('SESSION(30s)'), { type: 'session', gapMs: 30_000, pos: at(28) });
    assert.deepEqual(window('SESSION(30s, 1h)'), { type: 'session', gapMs: 30_000, maxMs: 3_600_000, pos: at(28) });
    assert.deepEqual(window('tumbling(0.25s)'), { type: 'tumbling', sizeMs: 250, pos: at(28) });
  });

  it('puts the window apart from the other GROUP BY items, wherever it stands', () => {
    const s = parseSql('SELECT a FROM "t" GROUP BY a, HOPPING(10s, 5s), b.c');
    assert.deepEqual(s.groupBy.map(show), ['a', 'b.c']);
    assert.equal(s.window?.type, 'hopping');
    const none = parseSql('SELECT a FROM "t" GROUP BY a');
    assert.equal(none.window, undefined);
    assert.ok(!('window' in none), 'no window key at all');
  });

  it('takes window keywords as names where they are no window', () => {
    const s = parseSql('SELECT session, tumbling.x FROM "t" GROUP BY session, sliding');
    assert.deepEqual(s.select.map(item), ['session', 'tumbling.x']);
    assert.deepEqual(s.groupBy.map(show), ['session', 'sliding']);
    assert.equal(s.window, undefined);
  });

  it('parses TIMESTAMP BY with WATERMARK and LATENESS, which default to 0', () => {
    const s = parseSql('SELECT a FROM "t" s TIMESTAMP BY s.ts WATERMARK 5s LATENESS 1m');
    assert.deepEqual(s.from, {
      topic: 't',
      alias: 's',
      timestamp: { expr: { k: 'ref', parts: ['s', 'ts'], pos: at(34) }, watermarkMs: 5000, latenessMs: 60_000, pos: at(21) },
      pos: at(15),
    });
    const plain = parseSql('SELECT a FROM \'t\' TIMESTAMP BY event_time(ts)').from.timestamp;
    assert.equal(plain?.watermarkMs, 0);
    assert.equal(plain?.latenessMs, 0);
    assert.equal(plain && show(plain.expr), '(event_time ts)');
    assert.equal(parseSql('SELECT a FROM "t" TIMESTAMP BY ts LATENESS 2s').from.timestamp?.latenessMs, 2000);
  });

  it('takes `timestamp` as a field name, and as an alias unless BY follows', () => {
    const s = parseSql('SELECT timestamp FROM "t" timestamp by timestamp watermark 1s');
    assert.deepEqual(s.select.map(item), ['timestamp']);
    assert.equal(s.from.alias, undefined);
    assert.equal(s.from.timestamp && show(s.from.timestamp.expr), 'timestamp');
    assert.equal(parseSql('SELECT a FROM "t" timestamp').from.alias, 'timestamp');
    assert.equal(parseSql('SELECT a FROM "t" AS timestamp TIMESTAMP BY x').from.alias, 'timestamp');
  });

  it('takes the topic in double or single quotes, checking it is a topic filter', () => {
    assert.equal(parseSql('SELECT a FROM \'sensors/+/temp\'').from.topic, 'sensors/+/temp');
    assert.equal(parseSql('SELECT a FROM "a/#"').from.topic, 'a/#');
    assert.equal(parseSql('SELECT a FROM "it""s/x"').from.topic, 'it"s/x');
    assert.equal(error('SELECT a FROM "a/#/b"'), '1:15 invalid topic filter "a/#/b": # must be a whole level and the last one');
    assert.equal(error('SELECT a FROM "a/b+"'), '1:15 invalid topic filter "a/b+": + must be a whole level');
    assert.equal(error('SELECT a FROM \'\''), '1:15 the topic must not be empty');
    assert.equal(error('SELECT a FROM "a+" TIMESTAMP BY'), '1:15 invalid topic filter "a+": + must be a whole level', 'the first error wins');
    assert.equal(error('SELECT a FROM loops'), '1:15 expected a topic in quotes (like "sensors/+/temp") but found "loops"');
  });

  it('parses joins: LEFT [OUTER], INNER and plain, with and without an alias', () => {
    const s = parseSql(
      'SELECT s.speed, t.limit FROM "traffic/+/loop" AS s LEFT JOIN limits AS t ON t.road = s.road LEFT OUTER JOIN twins tw ON tw.id = device() INNER JOIN x ON TRUE JOIN "my table" ON 1 = 1',
    );
    assert.equal(s.from.alias, 's');
    assert.deepEqual(
      s.joins.map((j) => [j.kind, j.table, j.alias, show(j.on)]),
      [
        ['left', 'limits', 't', '(= t.road s.road)'],
        ['left', 'twins', 'tw', '(= tw.id (device))'],
        ['inner', 'x', undefined, 'true'],
        ['inner', 'my table', undefined, '(= 1 1)'],
      ],
    );
    assert.deepEqual(
      s.joins.map((j) => j.pos.column),
      [52, 93, 138, 159],
    );
    assert.equal(error('SELECT a FROM "t" LEFT twins ON x'), '1:24 expected JOIN but found "twins"');
    assert.equal(error('SELECT a FROM "t" JOIN twins t WHERE x'), '1:32 expected ON but found "WHERE"');
  });

  it('parses CASE with and without a subject', () => {
    assert.equal(expr("CASE WHEN a > 1 THEN 'hi' WHEN a > 0 THEN 'lo' ELSE 'none' END"), "(case (when (> a 1) 'hi') (when (> a 0) 'lo') (else 'none'))");
    assert.equal(expr("case kind when 1 then 'car' when 2 then 'truck' end"), "(case kind (when 1 'car') (when 2 'truck'))");
    const c = parseSql('SELECT CASE WHEN a THEN b END FROM "t"').select[0];
    assert.ok(c?.k === 'item' && c.expr.k === 'case');
    assert.ok(!('subject' in c.expr) && !('else' in c.expr), 'no subject or else keys when absent');
    assert.deepEqual(c.expr.pos, at(8));
  });

  it('parses IN, BETWEEN, LIKE and IS NULL, each with NOT', () => {
    assert.equal(where("kind IN ('car', 'bus')"), "(in kind 'car' 'bus')");
    assert.equal(where('kind NOT IN (1)'), '(not-in kind 1)');
    assert.equal(where('speed BETWEEN 10 AND 20 AND ok'), '(AND (between speed 10 20) ok)');
    assert.equal(where('speed NOT BETWEEN 1 + 1 AND 2 * 3'), '(not-between speed (+ 1 1) (* 2 3))');
    assert.equal(where("name LIKE 'loop%'"), "(like name 'loop%')");
    assert.equal(where("name NOT LIKE '_x' || y"), "(not-like name (|| '_x' y))");
    assert.equal(where('a IS NULL'), '(is-null a)');
    assert.equal(where('a IS NOT NULL OR b'), '(OR (is-not-null a) b)');
    assert.equal(where('NOT a IS NULL'), '(NOT (is-null a))');
  });

  it('follows the precedence OR < AND < NOT < comparison < || < + - < * / % < unary - < postfix', () => {
    assert.equal(expr('1 + 2 * 3'), '(+ 1 (* 2 3))');
    assert.equal(expr('(1 + 2) * 3'), '(* (+ 1 2) 3)');
    assert.equal(expr('1 - 2 - 3'), '(- (- 1 2) 3)');
    assert.equal(expr('a / b % c * d'), '(* (% (/ a b) c) d)');
    assert.equal(expr('NOT a AND b'), '(AND (NOT a) b)');
    assert.equal(expr('NOT NOT a'), '(NOT (NOT a))');
    assert.equal(expr('a OR b AND c'), '(OR a (AND b c))');
    assert.equal(expr('a AND b OR c AND d'), '(OR (AND a b) (AND c d))');
    assert.equal(expr('-x.y'), '(- x.y)');
    assert.equal(expr('- -x[0]'), '(- (- (index x 0)))');
    assert.equal(expr('-a * b'), '(* (- a) b)');
    assert.equal(expr("a || 'x' = b + 1"), "(= (|| a 'x') (+ b 1))");
    assert.equal(expr('NOT a = b'), '(NOT (= a b))');
    assert.equal(expr('a < b = c'), '(= (< a b) c)');
    assert.equal(expr("a || b + c || 'd'"), "(|| (|| a (+ b c)) 'd')");
  });

  it('maps == to = and <> to !=, and knows every comparison', () => {
    assert.deepEqual(items('a = b, a == b, a != b, a <> b, a < b, a <= b, a > b, a >= b'), [
      '(= a b)',
      '(= a b)',
      '(!= a b)',
      '(!= a b)',
      '(< a b)',
      '(<= a b)',
      '(> a b)',
      '(>= a b)',
    ]);
  });

  it('parses literals', () => {
    const lits = parseSql("SELECT 42, 2.5, 1e3, 1.5E-2, 'it''s', '', TRUE, false, Null FROM \"t\"").select.map((i) =>
      i.k === 'item' && i.expr.k === 'lit' ? i.expr.value : 'not a literal',
    );
    assert.deepEqual(lits, [42, 2.5, 1000, 0.015, "it's", '', true, false, null]);
    assert.equal(error('SELECT 1e999 FROM "t"'), '1:8 number 1e999 is too large');
    assert.equal(error('SELECT 10min FROM "t"'), '1:8 invalid number or duration "10min"');
  });

  it('parses index and member access after refs, calls, parentheses and indexes', () => {
    assert.equal(expr('a.b.c'), 'a.b.c');
    assert.equal(expr("payload.tags[0]['k']"), "(index (index payload.tags 0) 'k')");
    assert.equal(expr('a[i + 1].b.c'), '(member (member (index a (+ i 1)) b) c)');
    assert.equal(expr("split(s, ',')[1]"), "(index (split s ',') 1)");
    assert.equal(expr('(json(p)).x'), '(member (json p) x)');
    assert.equal(expr('f(x).y'), '(member (f x) y)');
    const e = parseSql('SELECT  a[0].b FROM "t"').select[0];
    assert.ok(e?.k === 'item' && e.expr.k === 'member' && e.expr.arg.k === 'index');
    assert.deepEqual([e.expr.pos, e.expr.arg.pos, e.expr.arg.index.pos], [at(9), at(9), at(11)]);
  });

  it('parses function calls: names lower-cased, count(*), no and many arguments', () => {
    assert.deepEqual(items('COUNT(*), Now(), substring(s, 1, 2), TOPIC(2), percentile(speed, 0.9)'), [
      '(count *)',
      '(now)',
      '(substring s 1 2)',
      '(topic 2)',
      '(percentile speed 0.9)',
    ]);
  });

  it('takes "double quoted" names, with "" for a quote, also for keywords', () => {
    assert.deepEqual(items('"avg speed", "s"."from", "a""b" AS "the x", "end".x'), ['avg speed', 's.from', 'a"b AS the x', 'end.x']);
    assert.equal(error('SELECT end FROM "t"'), '1:8 expected an expression or "*" but found "end"');
    assert.equal(error('SELECT "" FROM "t"'), '1:8 a quoted name must not be empty');
  });

  it('skips comments', () => {
    const s = parseSql('-- the loops\nSELECT /* all of it */ * FROM "t" -- done\n/* end\n */');
    assert.deepEqual(s.select, [{ k: 'star', pos: { line: 2, column: 24, offset: 36 } }]);
    assert.deepEqual(s.pos, { line: 2, column: 1, offset: 13 });
    assert.equal(expr('1 --2\n'), '1');
  });

  it('reads keywords in any case', () => {
    const upper = parseSql('SELECT a AS b FROM "t" WHERE x IS NOT NULL GROUP BY a, TUMBLING(1s) HAVING count(*) > 1');
    const lower = parseSql('select a as b from "t" where x is not null group by a, tumbling(1s) having count(*) > 1');
    const mixed = parseSql('Select a As b From "t" Where x Is Not Null Group By a, Tumbling(1s) Having Count(*) > 1');
    assert.deepEqual(lower, upper);
    assert.deepEqual(mixed, upper);
  });

  it('parses SELECT *, s.* and aliases with or without AS', () => {
    const s = parseSql('SELECT *, s.*, "t".*, a b, c AS d, e FROM "x"');
    assert.deepEqual(s.select.map(item), ['*', 's.*', 't.*', 'a AS b', 'c AS d', 'e']);
    assert.deepEqual(s.select[1], { k: 'star', source: 's', pos: at(11) });
  });

  it('accepts one trailing ";"', () => {
    assert.deepEqual(parseSql('SELECT a FROM "t";'), parseSql('SELECT a FROM "t"'));
    assert.deepEqual(parseSql('SELECT a FROM "t" GROUP BY a ;  -- end'), parseSql('SELECT a FROM "t" GROUP BY a'));
    assert.equal(error('SELECT a FROM "t";;'), '1:19 expected end of input but found ";"');
  });

  it('parses a multi-line statement with every clause', () => {
    const s = parseSql(
      [
        'SELECT s.deviceId, avg(s.speed) AS v',
        'FROM "traffic/+/loop" s TIMESTAMP BY s.ts WATERMARK 2s',
        '  LEFT JOIN roads r ON r.id = topic(2)',
        'WHERE s.speed > 0',
        'GROUP BY s.deviceId, SLIDING(1m)',
        'HAVING count(*) >= 3;',
      ].join('\r\n'),
    );
    assert.deepEqual(s.from.pos, { line: 2, column: 6, offset: 43 });
    assert.deepEqual(s.joins[0]?.pos, { line: 3, column: 3, offset: 96 });
    assert.deepEqual(s.where?.pos, { line: 4, column: 7, offset: 140 });
    assert.deepEqual(s.window, { type: 'sliding', sizeMs: 60_000, pos: { line: 5, column: 22, offset: 174 } });
    assert.equal(s.having && show(s.having), '(>= (count *) 3)');
  });

  describe('errors', () => {
    it('names what was expected and what was found, at its line and column', () => {
      assert.equal(error('SELECT deviceId, avg(speed) AS GROUP BY deviceId'), '1:32 expected a name or a "quoted name" but found "GROUP"');
      assert.equal(error('SELECT deviceId, avg(speed) v GROUP BY deviceId'), '1:31 expected FROM but found "GROUP"');
      assert.equal(error('SELECT a + FROM "t"'), '1:12 expected an expression but found "FROM"');
      assert.equal(error('SELECT f(a, FROM "t"'), '1:13 expected an expression but found "FROM"');
      assert.equal(error('SELECT (a FROM "t"'), '1:11 expected ")" but found "FROM"');
      assert.equal(error('SELECT CASE END FROM "t"'), '1:13 expected WHEN but found "END"');
      assert.equal(error('SELECT a FROM "t" WHERE a IN ()'), '1:31 expected an expression but found ")"');
      assert.equal(error('SELECT a FROM "t" GROUP BY'), '1:27 expected an expression or a window but found end of input');
    });

    it('reports a missing FROM', () => {
      assert.equal(error('SELECT a, b WHERE a > 1'), '1:13 expected FROM but found "WHERE"');
      assert.equal(error('SELECT a'), '1:9 expected FROM but found end of input');
    });

    it('reports a character that starts no token', () => {
      assert.equal(error('SELECT a @ b FROM "t"'), '1:10 unexpected character "@"');
      assert.equal(error('SELECT a FROM "t" WHERE a ! b'), '1:27 unexpected character "!"');
      assert.equal(error('SELECT a FROM "t" WHERE a | b'), '1:27 unexpected character "|"');
      assert.equal(error('SELECT\n  a €'), '2:5 unexpected character "€"');
    });

    it('reports an unterminated string, quoted name or comment where it starts', () => {
      assert.equal(error("SELECT a FROM \"t\" WHERE b = 'x"), '1:29 unterminated string');
      assert.equal(error("SELECT a FROM \"t\" WHERE b = 'it''s"), '1:29 unterminated string');
      assert.equal(error('SELECT a FROM "t'), '1:15 unterminated quoted name');
      assert.equal(error('SELECT a /* FROM "t"'), '1:10 unterminated comment');
      assert.equal(error("SELECT a @ 'x"), '1:10 unexpected character "@"', 'the first error wins');
    });

    it('reports a second window at its position', () => {
      assert.equal(error('SELECT a FROM "t" GROUP BY TUMBLING(1s), a, SESSION(5s)'), '1:45 only one window is allowed in GROUP BY');
      assert.equal(error('SELECT a FROM "t" GROUP BY TUMBLING(1s), TUMBLING(2s'), '1:42 only one window is allowed in GROUP BY', 'the first error wins');
    });

    it('reports a window of zero size at the duration', () => {
      assert.equal(error('SELECT a FROM "t" GROUP BY TUMBLING(0s)'), '1:37 the window size must be greater than 0');
      assert.equal(error('SELECT a FROM "t" GROUP BY HOPPING(10s, 0ms)'), '1:41 the hop must be greater than 0');
      assert.equal(error('SELECT a FROM "t" GROUP BY SESSION(0.0m)'), '1:36 the session gap must be greater than 0');
      assert.equal(error('SELECT a FROM "t" GROUP BY SESSION(1s, 0h)'), '1:40 the longest session must be greater than 0');
      assert.equal(error('SELECT a FROM "t" GROUP BY TUMBLING(10)'), '1:37 expected a duration (like 500ms, 10s, 5m, 1h) but found "10"');
      assert.equal(error('SELECT a FROM "t" GROUP BY SLIDING(0.5ms)'), '1:36 duration 0.5ms is not a whole number of milliseconds');
      assert.equal(error('SELECT a FROM "t" GROUP BY TUMBLING(0s'), '1:37 the window size must be greater than 0', 'the first error wins');
      assert.equal(error('SELECT a FROM "t" TIMESTAMP BY ts WATERMARK 1.5ms LATENESS'), '1:45 duration 1.5ms is not a whole number of milliseconds');
    });

    it('reports trailing garbage', () => {
      assert.equal(error('SELECT a FROM "t" WHERE b = 1 c'), '1:31 expected end of input but found "c"');
      assert.equal(error('SELECT a FROM "t"; SELECT b FROM "u"'), '1:20 expected end of input but found "SELECT"');
    });

    it('reports empty input at line 1, column 1', () => {
      assert.equal(error(''), '1:1 expected SELECT but found end of input');
      assert.equal(error('  -- nothing\n'), '2:1 expected SELECT but found end of input');
    });

    it('reports an error on line 3 of a multi-line statement', () => {
      assert.equal(error('SELECT deviceId,\n       avg(speed) AS v\nFROM "loops" WHERE speed >> 3\nGROUP BY deviceId'), '3:27 expected an expression but found ">"');
      assert.equal(error('SELECT a\r\nFROM "t"\r\n  WHERE x = \'open\n\nGROUP BY a'), '3:13 unterminated string');
    });

    it('refuses nesting that would overflow the stack', () => {
      assert.match(error(`SELECT ${'('.repeat(10_000)}1${')'.repeat(10_000)} FROM "t"`), /^1:72 expression nested more than 64 deep$/);
      assert.match(error(`SELECT ${'1 + '.repeat(50_000)}1 FROM "t"`), /^1:\d+ expression nested more than 256 deep$/);
      assert.match(error(`SELECT ${'- '.repeat(50_000)}1 FROM "t"`), /^1:\d+ expression nested more than 256 deep$/);
    });
  });
});

/** Line and column of `offset`, counting \n, \r\n and a lone \r as one line break. */
function lineColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (const m of text.slice(0, offset).matchAll(/\r\n?|\n/g)) {
    line++;
    lineStart = m.index + m[0].length;
  }
  return { line, column: offset - lineStart + 1 };
}

/** parseSql returns a statement whose every position is a token's, or throws a SqlError at a place in the text. */
function parsesOrFailsWell(text: string): void {
  let statement: SelectStatement;
  try {
    statement = parseSql(text);
  } catch (e) {
    if (!(e instanceof SqlError)) throw e;
    assert.ok(e.line >= 1 && e.column >= 1, `position ${e.line}:${e.column}`);
    assert.ok(e.offset >= 0 && e.offset <= text.length, `offset ${e.offset} of ${text.length}`);
    assert.deepEqual({ line: e.line, column: e.column }, lineColumn(text, e.offset));
    return;
  }
  const stack: unknown[] = [statement];
  while (stack.length) {
    const node = stack.pop();
    if (!node || typeof node !== 'object') continue;
    if ('offset' in node) {
      const p = node as Pos;
      assert.ok(p.offset >= 0 && p.offset < text.length && /\S/.test(text[p.offset] ?? ''), `a node at ${p.offset}`);
      assert.deepEqual({ line: p.line, column: p.column }, lineColumn(text, p.offset));
    } else stack.push(...Object.values(node));
  }
}

/** Valid statements to mutate, between them using every construct. */
const corpus = [
  'SELECT deviceId, avg(speed) AS v, count(*) AS n FROM "traffic/+/loop" GROUP BY deviceId, TUMBLING(1s) HAVING avg(speed) < 20',
  'SELECT s.*, t.limit FROM \'a/#\' s TIMESTAMP BY s.ts WATERMARK 5s LATENESS 1m LEFT OUTER JOIN limits t ON t.id = s.id;',
  "SELECT CASE WHEN a > 1 THEN 'x' ELSE 'y' END, CASE k WHEN 1 THEN 2 END FROM \"t\" WHERE a NOT IN (1, 2) AND b BETWEEN 1 AND 2",
  "SELECT * FROM \"t\" WHERE NOT a LIKE 'x%' OR b IS NOT NULL GROUP BY HOPPING(10s, 1.5s), a.b",
  'SELECT -x.y[0].z, "q""x".a, 1 + 2 * 3 % 4 - 5 / 6, a || \'b\' FROM "t" /* c */ -- d\nGROUP BY SESSION(5m, 1h)',
  'SELECT timestamp, session FROM "t" INNER JOIN twins w ON w.id = device() JOIN x ON TRUE GROUP BY SLIDING(500ms)',
  'SELECT\n  coalesce(a, 1e3) "z",\r\n  to_ms(\'2024\') <> 2.5\rFROM "t" WHERE a == NULL OR b != FALSE',
];

/** Tokens, roughly (the mutations need not respect the real lexer). */
const pieces = (sql: string): string[] =>
  sql.match(/'(?:[^']|'')*'|"(?:[^"]|"")*"|\/\*[\s\S]*?\*\/|--[^\n]*|\d+(?:\.\d+)?\w*|\w+|<>|<=|>=|!=|==|\|\||\S/g) ?? [];

const vocabulary = [
  ...'SELECT FROM WHERE GROUP BY HAVING AS LEFT OUTER INNER JOIN ON AND OR NOT IN BETWEEN LIKE IS NULL TRUE FALSE CASE WHEN THEN ELSE END'.split(' '),
  ...'TIMESTAMP WATERMARK LATENESS TUMBLING HOPPING SLIDING SESSION'.split(' '),
  ...'( ) [ ] , . ; * / % + - || = == != <> < <= > >='.split(' '),
  'a', 'x.y', '"q"', "'s'", '1', '2.5', '1e3', '0s', '5s', '1.5m', '0ms', '7min', '1.2.3',
  '@', '!', '|', "'", '"', '/*', '--', '\n', '\r\n', '\r', '€', '\u0000', '1e999',
];

type Mutation = { op: 'delete'; i: number } | { op: 'insert'; i: number; piece: string } | { op: 'swap'; i: number; j: number };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ op: fc.constant('delete' as const), i: fc.nat() }),
  fc.record({ op: fc.constant('insert' as const), i: fc.nat(), piece: fc.constantFrom(...vocabulary) }),
  fc.record({ op: fc.constant('swap' as const), i: fc.nat(), j: fc.nat() }),
);

function mutate(sql: string, mutations: Mutation[], glue: string): string {
  const p = pieces(sql);
  for (const m of mutations) {
    const i = m.i % (p.length + 1);
    if (m.op === 'insert') p.splice(i, 0, m.piece);
    else if (m.op === 'delete') p.splice(i, 1);
    else {
      const j = m.j % p.length;
      [p[i], p[j]] = [p[j] ?? '', p[i] ?? ''];
    }
  }
  return p.join(glue);
}

describe('parseSql on any input', () => {
  it('parses every statement of the corpus', () => {
    for (const sql of corpus) parsesOrFailsWell(sql);
    for (const sql of corpus) assert.ok(parseSql(sql));
  });

  it('returns a statement or throws a SqlError inside the text, for arbitrary strings', { timeout: 20_000 }, () => {
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 80 }), parsesOrFailsWell), { numRuns: 1500 });
    const sqlish = fc.array(fc.constantFrom(...vocabulary), { maxLength: 30 });
    fc.assert(
      fc.property(sqlish, fc.constantFrom(' ', ''), (words, glue) => parsesOrFailsWell(words.join(glue))),
      { numRuns: 1500 },
    );
  });

  it('returns a statement or throws a SqlError inside the text, for mutated statements', { timeout: 20_000 }, () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...corpus),
        fc.array(mutation, { minLength: 1, maxLength: 4 }),
        fc.constantFrom(' ', '', '\n'),
        (sql, mutations, glue) => parsesOrFailsWell(mutate(sql, mutations, glue)),
      ),
      { numRuns: 3000 },
    );
  });
});
