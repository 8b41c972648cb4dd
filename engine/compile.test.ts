import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { compileQuery, type CompileOptions } from './compile.ts';
import { SqlError } from './language/errors.ts';
import { harness } from './test-helpers.ts';
import type { Value } from './values.ts';

/** Line and column (1-based) of the first `marker` in `sql`: where an error about it must point. */
function where(sql: string, marker: string): { line: number; column: number } {
  const at = sql.indexOf(marker);
  assert.ok(at >= 0, `"${marker}" is not in the SQL`);
  const before = sql.slice(0, at).split('\n');
  return { line: before.length, column: before.at(-1)!.length + 1 };
}

/** Compiles `sql` expecting a SqlError pointing at `marker` whose message has `fragment`. */
function rejects(sql: string, marker: string, fragment: RegExp, opts: CompileOptions = {}): void {
  let err: unknown;
  try {
    compileQuery(sql, opts);
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof SqlError, `expected a SqlError for: ${sql}`);
  assert.deepEqual({ line: err.line, column: err.column }, where(sql, marker), err.message);
  assert.match(err.reason, fragment);
  assert.ok(err.message.startsWith(`line ${err.line}, column ${err.column}: `));
}

describe('semantic errors name line and column', () => {
  it('an unknown function', () => {
    rejects(`SELECT speed, frobnicate(speed) FROM "t"`, 'frobnicate', /unknown function "frobnicate"/);
  });

  it('a wrong number of arguments, for scalar functions and aggregates', () => {
    rejects(`SELECT round(1, 2, 3) AS r FROM "t"`, 'round', /round\(\) takes 1 to 2 arguments, got 3/);
    rejects(`SELECT k,\n  avg() AS v\nFROM "t" GROUP BY k, TUMBLING(1s)`, 'avg', /avg\(\) takes 1 argument, got 0/);
    rejects(`SELECT device(x) FROM "t"`, 'device', /device\(\) takes 0 arguments, got 1/);
  });

  it('an aggregate in WHERE, and a nested aggregate', () => {
    rejects(`SELECT count(*) FROM "t" WHERE sum(x) > 1 GROUP BY TUMBLING(1s)`, 'sum', /aggregate sum\(\) is not allowed in WHERE/);
    rejects(`SELECT count(*) FROM "t" GROUP BY max(x), TUMBLING(1s)`, 'max', /not allowed in GROUP BY/);
    rejects(`SELECT sum(count(*)) AS s FROM "t" GROUP BY TUMBLING(1s)`, 'count', /cannot be nested: count\(\)/);
  });

  it('an aggregate, HAVING, GROUP BY or window_start() without a window', () => {
    rejects(`SELECT deviceId,\n  avg(speed) AS v\nFROM "t"`, 'avg', /aggregate avg\(\) needs a window/);
    rejects(`SELECT x FROM "t"\nHAVING x > 1`, 'x > 1', /HAVING needs a window/);
    rejects(`SELECT kk FROM "t" WHERE kk > 0 GROUP BY lane`, 'lane', /GROUP BY needs a window/);
    rejects(`SELECT window_start() AS ws FROM "t"`, 'window_start', /window_start\(\) needs a window/);
  });

  it('percentile with p outside [0, 1] or not a literal', () => {
    const sql = (p: string) => `SELECT percentile(speed, ${p}) AS q FROM "t" GROUP BY TUMBLING(1s)`;
    rejects(sql('1.5'), '1.5', /p as a number from 0 to 1/);
    rejects(sql('-0.1'), '-0.1', /p as a number from 0 to 1/);
    rejects(sql('lim'), 'lim', /p as a number from 0 to 1/);
    rejects(sql("'0.5'"), "'0.5'", /p as a number from 0 to 1/);
    assert.doesNotThrow(() => compileQuery(sql('0')));
    assert.doesNotThrow(() => compileQuery(sql('1')));
  });

  it('* in any function but count', () => {
    rejects(`SELECT sum(*) AS s FROM "t" GROUP BY TUMBLING(1s)`, 'sum', /only count\(\*\) takes \*/);
    rejects(`SELECT lower(*) AS s FROM "t"`, 'lower', /only count\(\*\) takes \*/);
  });

  it('an unknown JOIN table, and twins joined on anything but its device', () => {
    rejects(`SELECT * FROM "t"\n  LEFT JOIN limits l ON l.id = x`, 'LEFT', /unknown table "limits"/);
    rejects(`SELECT * FROM "t" JOIN twins t ON t.id = device()`, 't.id', /join twins on its device/);
    rejects(`SELECT * FROM "t" JOIN twins t ON t.device != device()`, 't.device', /join twins on its device/);
    assert.doesNotThrow(() => compileQuery(`SELECT * FROM "t" JOIN twins t ON device() = t.device`));
    assert.doesNotThrow(() => compileQuery(`SELECT * FROM "t" JOIN limits l ON l.id = x`, { tables: ['limits'] }));
  });

  it('two output columns with the same name, given or by default', () => {
    rejects(`SELECT a.x, b.x FROM "t"`, 'b.x', /two output columns are named "x"/);
    rejects(`SELECT lower(a), lower(b) FROM "t"`, 'lower(b)', /two output columns are named "lower"/);
    rejects(`SELECT speed, 2 * v AS speed FROM "t"`, '2 * v', /two output columns are named "speed"/);
    assert.doesNotThrow(() => compileQuery(`SELECT *, speed FROM "t"`), 'a * names no columns');
  });

  it('topic(0), and topic(n) with n not an integer literal', () => {
    rejects(`SELECT topic(0) AS t FROM "a/b"`, '0)', /topic\(n\) takes a level number/);
    rejects(`SELECT topic(1.5) AS t FROM "a/b"`, '1.5', /topic\(n\) takes a level number/);
    rejects(`SELECT topic(lvl) AS t FROM "a/b"`, 'lvl', /topic\(n\) takes a level number/);
  });

  it('a table alias used in an ON (or TIMESTAMP BY) before it is joined', () => {
    const tables = ['roads', 'limits'];
    rejects(`SELECT * FROM "t"\n  JOIN roads r ON r.id = l.road\n  JOIN limits l ON l.id = x`, 'l.road', /"l" is not joined yet/, { tables });
    rejects(`SELECT * FROM "t" JOIN roads r ON r.id = x AND l.road = 1 JOIN limits l ON l.id = x`, 'l.road', /"l" is not joined yet/, { tables });
    rejects(`SELECT count(*) AS n FROM "t" TIMESTAMP BY r.ts JOIN roads r ON r.id = x GROUP BY TUMBLING(1s)`, 'r.ts', /"r" is not joined yet/, { tables });
    // The other way round is what joins are for.
    assert.doesNotThrow(() => compileQuery(`SELECT * FROM "t" JOIN roads r ON r.id = x JOIN limits l ON l.road = r.id`, { tables }));
  });
});

/** Runs a filter rule (no window) on one message and returns what it emitted. */
function run(sql: string, payload: unknown, topic = 'site/7/loop', device: string | null = 'dev1'): Record<string, Value>[] {
  const h = harness();
  h.apply('r', sql);
  h.send(topic, payload, device);
  return h.take('r');
}

/** The value of one expression for a payload. */
function value(expr: string, payload: unknown = {}, topic?: string, device?: string | null): Value {
  const rows = run(`SELECT ${expr} AS v FROM "#"`, payload, topic, device);
  assert.equal(rows.length, 1);
  return rows[0]!.v;
}

/** Whether WHERE keeps a message. */
function keeps(cond: string, payload: unknown = {}): boolean {
  return run(`SELECT 1 AS one FROM "#" WHERE ${cond}`, payload).length === 1;
}

describe('expressions', () => {
  it('arithmetic, with null for a null side, a wrong type or a division by zero', () => {
    assert.equal(value('1 + 2 * 3 - 4 / 2'), 5);
    assert.equal(value('7 % 3'), 1);
    assert.equal(value('-x', { x: 2 }), -2);
    assert.equal(value('x / 0', { x: 2 }), null);
    assert.equal(value('x % 0', { x: 2 }), null);
    assert.equal(value('x + 1', {}), null, 'a missing field is null');
    assert.equal(value("x + 1", { x: '1' }), null, 'no implicit text to number in arithmetic');
    assert.equal(value('-x', { x: 'a' }), null);
  });

  it('|| joins texts (numbers as text); null makes it null', () => {
    assert.equal(value("'loop-' || id || '/' || n", { id: 'a', n: 3 }), 'loop-a/3');
    assert.equal(value("'a' || missing"), null);
  });

  it('comparisons of mixed types are not true, so WHERE drops the row', () => {
    assert.equal(value("x > 'a'", { x: 1 }), null);
    assert.equal(value("x = '1'", { x: 1 }), false, '= compares type and value');
    assert.equal(keeps("x > 'a'", { x: 1 }), false);
    assert.equal(keeps("NOT (x > 'a')", { x: 1 }), false, 'NOT null is null');
    assert.equal(keeps("x < 'b'", { x: 'a' }), true);
    assert.equal(keeps('x = y', { x: { a: [1] }, y: { a: [1] } }), true, 'objects compare by value');
    assert.equal(keeps('x >= 2 AND x <> 3', { x: 2 }), true);
    assert.equal(keeps('x == 2 AND x != 3', { x: 2 }), true);
    assert.equal(keeps('x > 1', { x: null }), false);
  });

  it('AND, OR and NOT are three-valued', () => {
    const cases: [string, Value][] = [
      ['NULL AND FALSE', false],
      ['FALSE AND NULL', false],
      ['NULL AND TRUE', null],
      ['TRUE AND TRUE', true],
      ['NULL OR TRUE', true],
      ['TRUE OR NULL', true],
      ['NULL OR FALSE', null],
      ['FALSE OR FALSE', false],
      ['NOT NULL', null],
      ['NOT FALSE', true],
      ["x AND TRUE", null], // only booleans are truth values
    ];
    for (const [e, want] of cases) assert.equal(value(e, { x: 1 }), want, e);
    assert.equal(keeps('missing > 1 OR x = 1', { x: 1 }), true);
    assert.equal(keeps('missing > 1 AND x = 1', { x: 1 }), false);
  });

  it('CASE, with and without a subject; without ELSE no match is null', () => {
    const searched = "CASE WHEN speed > 50 THEN 'fast' WHEN speed > 20 THEN 'ok' ELSE 'slow' END";
    assert.equal(value(searched, { speed: 60 }), 'fast');
    assert.equal(value(searched, { speed: 30 }), 'ok');
    assert.equal(value(searched, { speed: 'x' }), 'slow', 'a null condition is not a match');
    const simple = "CASE kind WHEN 1 THEN 'car' WHEN 2 THEN 'truck' END";
    assert.equal(value(simple, { kind: 2 }), 'truck');
    assert.equal(value(simple, { kind: 3 }), null);
    assert.equal(value(simple, {}), null);
    assert.equal(value("CASE kind WHEN NULL THEN 'null' ELSE 'other' END", {}), 'other', 'NULL = NULL is not true');
  });

  it('IN and NOT IN with a null in the list', () => {
    assert.equal(value('x IN (1, 2)', { x: 2 }), true);
    assert.equal(value('x IN (1, NULL)', { x: 1 }), true);
    assert.equal(value('x IN (2, NULL)', { x: 1 }), null);
    assert.equal(value('x NOT IN (2, 3)', { x: 1 }), true);
    assert.equal(value('x NOT IN (2, NULL)', { x: 1 }), null);
    assert.equal(value('x NOT IN (1, NULL)', { x: 1 }), false);
    assert.equal(value('x IN (1)', {}), null);
    assert.equal(keeps("kind NOT IN ('a', NULL)", { kind: 'b' }), false);
  });

  it('BETWEEN is inclusive; NOT BETWEEN; null bounds', () => {
    assert.equal(value('x BETWEEN 1 AND 3', { x: 1 }), true);
    assert.equal(value('x BETWEEN 1 AND 3', { x: 3 }), true);
    assert.equal(value('x BETWEEN 1 AND 3', { x: 4 }), false);
    assert.equal(value('x NOT BETWEEN 1 AND 3', { x: 4 }), true);
    assert.equal(value('x BETWEEN 1 AND NULL', { x: 0 }), false, 'one false side decides');
    assert.equal(value('x BETWEEN 1 AND NULL', { x: 2 }), null);
    assert.equal(value('x BETWEEN 1 AND 3', {}), null);
  });

  it('LIKE with % and _', () => {
    assert.equal(value("name LIKE 'loop-%'", { name: 'loop-12' }), true);
    assert.equal(value("name LIKE 'loop-_'", { name: 'loop-12' }), false);
    assert.equal(value("name LIKE 'loop-__'", { name: 'loop-12' }), true);
    assert.equal(value("name LIKE 'a.c'", { name: 'abc' }), false, 'other characters are literal');
    assert.equal(value("name NOT LIKE '%x%'", { name: 'abc' }), true);
    assert.equal(value("name LIKE 'a%'", {}), null);
    assert.equal(value('name LIKE pat', { name: 'ab', pat: 'a_' }), true, 'a pattern from the message');
    assert.equal(value("name LIKE '%%'", { name: '' }), true);
    assert.equal(value("name LIKE 'a%b%a'", { name: 'aba' }), true, 'segments may not overlap');
    assert.equal(value("name LIKE 'a%a'", { name: 'a' }), false);
  });

  it('LIKE never backtracks: a pattern that takes a regular expression exponential time answers at once', () => {
    // A regular expression needed 7 s here for 60 a's against 7 %a; this is 5,000 against 20.
    assert.equal(value(`s LIKE '${'%a'.repeat(20)}%b'`, { s: 'a'.repeat(5000) }), false);
    assert.equal(value('s LIKE p', { s: 'a'.repeat(5000), p: `${'%a'.repeat(20)}%b` }), false);
    assert.equal(value(`s LIKE '${'%a'.repeat(20)}%'`, { s: 'a'.repeat(5000) }), true);
  });

  it('regular expressions are RE2: linear time, and a pattern RE2 does not take is refused at compile time with its position', () => {
    assert.equal(value("regexp_match(s, '^(a+)+$')", { s: `${'a'.repeat(5000)}b` }), false);
    assert.equal(value('regexp_match(s, p)', { s: `${'a'.repeat(5000)}b`, p: '^(a+)+$' }), false);
    rejects(`SELECT regexp_match(name, '(a)\\1') AS m FROM "t"`, "'(a)", /regexp_match: .*RE2/);
    rejects(`SELECT name FROM "t" WHERE regexp_match(name, '(?=x)')`, "'(?=", /regexp_match: /);
  });

  it('IS [NOT] NULL on a missing field, a null and a value', () => {
    assert.equal(value('x IS NULL', {}), true);
    assert.equal(value('x IS NULL', { x: null }), true);
    assert.equal(value('x IS NOT NULL', { x: 0 }), true);
    assert.equal(value('a.b.c IS NULL', { a: 5 }), true, 'a path through a non-object');
  });

  it('paths, array elements (negative from the end), and quoted names', () => {
    const p = { a: { b: { c: 42 } }, x: [10, 20, 30], 'avg speed': 7, end: 'e', 'a-b': 1, 'say "hi"': 2 };
    assert.equal(value('a.b.c', p), 42);
    assert.equal(value('x[0]', p), 10);
    assert.equal(value('x[-1]', p), 30);
    assert.equal(value('x[3]', p), null);
    assert.equal(value('x[i]', { ...p, i: 1 }), 20, 'an index from the message');
    assert.equal(value('a.b.c.d', p), null);
    assert.equal(value('"avg speed" + "end"', { 'avg speed': 1, end: 2 }), 3);
    assert.equal(value('"end"', p), 'e');
    assert.equal(value("payload()['a-b']", p), 1);
    assert.equal(value('"say ""hi"""', p), 2);
    assert.equal(value('rows[1].id', { rows: [{ id: 'a' }, { id: 'b' }] }), 'b');
  });

  it('topic(), topic(n), topic(-n), device(), payload()', () => {
    const p = { speed: 3 };
    assert.equal(value('topic()', p, 'site/7/loop'), 'site/7/loop');
    assert.equal(value('topic(2)', p, 'site/7/loop'), '7');
    assert.equal(value('topic(-1)', p, 'site/7/loop'), 'loop');
    assert.equal(value('topic(4)', p, 'site/7/loop'), null);
    assert.equal(value('topic(-4)', p, 'site/7/loop'), null);
    assert.equal(value('device()', p, 'a', 'dev9'), 'dev9');
    assert.equal(value('device()', p, 'a', null), null);
    assert.deepEqual(value('payload()', p), p);
    assert.equal(value('payload()', 17), 17, 'a payload need not be an object');
  });

  it('SELECT * copies the payload object; extra columns follow it', () => {
    assert.deepEqual(run(`SELECT * FROM "#"`, { a: 1, b: { c: 2 } }), [{ a: 1, b: { c: 2 } }]);
    assert.deepEqual(run(`SELECT *, a * 10 AS col FROM "#"`, { a: 1 }), [{ a: 1, col: 10 }]);
    assert.deepEqual(run(`SELECT s.*, topic(1) AS t FROM "#" s`, { a: 1 }), [{ a: 1, t: 'site' }]);
    assert.deepEqual(run(`SELECT * FROM "#"`, [1, 2]), [{}], 'a payload that is not an object has no fields');
  });

  it('output columns are named by their alias, a field’s last part, or a function’s name', () => {
    const [row] = run(`SELECT speed, pos.lat, s.kind, upper(name), x[0], 1 + 1, speed * 2 kmh FROM "#" s`, { speed: 5, pos: { lat: 1.5 }, kind: 'car', name: 'ab', x: [9] });
    assert.deepEqual(row, { speed: 5, lat: 1.5, kind: 'car', upper: 'AB', col5: 9, col6: 2, kmh: 10 });
  });

  it('a rule reads WHERE after the message is decoded: a dropped row is counted as filtered', () => {
    const h = harness();
    h.apply('r', `SELECT speed FROM "t" WHERE speed > 10`);
    h.send('t', { speed: 5 });
    h.send('t', { speed: 15 });
    h.send('t', { speed: 'fast' });
    assert.deepEqual(h.take('r'), [{ speed: 15 }]);
    assert.equal(h.metrics('r').filtered, 2);
    assert.equal(h.metrics('r').out, 1);
  });
});

describe('scalar functions', () => {
  const cases: [string, unknown, Value][] = [
    ["lower('AbC')", {}, 'abc'],
    ['lower(x)', {}, null],
    ["upper('abc')", {}, 'ABC'],
    ["trim('  a ')", {}, 'a'],
    ["length('abc')", {}, 3],
    ['length(x)', { x: [1, 2] }, 2],
    ['length(x)', { x: 5 }, null],
    ["concat('a', x, 1)", {}, 'a1'],
    ["substring('hello', 2)", {}, 'ello'],
    ["substring('hello', 2, 3)", {}, 'ell'],
    ["substring('hello', 1, 0)", {}, ''],
    ["substring('hello', x)", {}, null],
    ["substring('hello', 2, x)", {}, null],
    ["replace('a-b-c', '-', '+')", {}, 'a+b+c'],
    ["replace('abc', '', '+')", {}, null],
    ["replace(x, 'a', 'b')", {}, null],
    ["split('a,b,,c', ',')", {}, ['a', 'b', '', 'c']],
    ["split(x, ',')", {}, null],
    ["starts_with('loop-1', 'loop')", {}, true],
    ["ends_with('loop-1', '2')", {}, false],
    ["contains(tags, 'x')", { tags: ['x', 'y'] }, true],
    ["regexp_match('abc123', '^[a-z]+[0-9]+$')", {}, true],
    ["regexp_match('abc', 'd')", {}, false],
    ["regexp_match('abc', p)", { p: '[' }, null],
    ['round(3.14159, 2)', {}, 3.14],
    ['round(2.5)', {}, 3],
    ["round('2.6')", {}, 3],
    ["round(1, 'x')", {}, null],
    ['round(1.25, 16)', {}, null],
    ['round(x)', {}, null],
    ['abs(-2)', {}, 2],
    ['sqrt(-1)', {}, null],
    ['ln(0)', {}, null],
    ['pow(2, 10)', {}, 1024],
    ['mod(7, 0)', {}, null],
    ["greatest(1, 'a', 3, NULL, 2)", {}, 3],
    ['greatest(x, y)', {}, null],
    ['least(4, 2, 9)', {}, 2],
    ['coalesce(x, NULL, 2, 3)', {}, 2],
    ['coalesce(x, y)', {}, null],
    ["if(speed > 50, 'fast', 'slow')", { speed: 60 }, 'fast'],
    ["if(speed > 50, 'fast', 'slow')", {}, 'slow'],
    ["to_number('12.5')", {}, 12.5],
    ["to_number('12a')", {}, null],
    ["to_number('')", {}, null],
    ['to_number(TRUE)', {}, 1],
    ['cast_number(x)', { x: '7' }, 7],
    ['to_string(12)', {}, '12'],
    ['to_string(x)', { x: { a: 1 } }, '{"a":1}'],
    ["to_bool('yes')", {}, true],
    ["to_bool('maybe')", {}, null],
    ['json(raw).a', { raw: '{"a":1}' }, 1],
    ["json('{\"a\":[1,2]}').a[1]", {}, 2],
    ["json('not json')", {}, null],
    ["format_time(0, 'iso')", {}, '1970-01-01T00:00:00.000Z'],
    ['format_time(0)', {}, '1970-01-01T00:00:00.000Z'],
    ["format_time(86400000, 'date')", {}, '1970-01-02'],
    ["format_time('2026-01-01T00:00:00Z', 'epoch')", {}, 1767225600],
    ["format_time(0, 'rfc850')", {}, null],
    ["format_time(x, 'iso')", {}, null],
    ["to_ms('1970-01-01T00:00:01Z')", {}, 1000],
    ["to_ms('yesterday')", {}, null],
  ];
  for (const [expr, payload, want] of cases) {
    it(`${expr} is ${JSON.stringify(want)}${Object.keys(payload as object).length ? ` for ${JSON.stringify(payload)}` : ''}`, () => {
      assert.deepEqual(value(expr, payload), want);
    });
  }

  it('function names are case-insensitive', () => {
    assert.equal(value("UPPER('a') || Lower('B')"), 'Ab');
  });

  it('now() and event_time() are the clock’s time for a processing-time rule', () => {
    const h = harness();
    h.apply('r', `SELECT now() AS n, event_time() AS e FROM "t"`);
    h.send('t', {});
    assert.deepEqual(h.take('r'), [{ n: h.clock.now(), e: h.clock.now() }]);
  });
});

describe('joins', () => {
  const approaches = { rows: [{ id: 'north', limit: 50 }, { id: 'south', limit: 30 }, { id: 7, limit: 70 }] };

  it('a keyed ON looks a static table up, either side of the =', () => {
    for (const on of ['a.id = approach', 'approach = a.id']) {
      const h = harness();
      h.apply('r', `SELECT speed, a.limit FROM "t" JOIN approaches AS a ON ${on}`, { tables: { approaches } });
      h.send('t', { speed: 40, approach: 'south' });
      h.send('t', { speed: 40, approach: 7 });
      h.send('t', { speed: 40, approach: '7' }); // a text is not the number 7
      assert.deepEqual(h.take('r'), [{ speed: 40, limit: 30 }, { speed: 40, limit: 70 }], on);
    }
  });

  it('LEFT JOIN without a match gives nulls; INNER JOIN without a match filters the message', () => {
    const h = harness();
    const tables = { approaches };
    h.apply('left', `SELECT speed, a.limit, a.id FROM "t" LEFT OUTER JOIN approaches a ON a.id = approach`, { tables });
    h.apply('inner', `SELECT speed, a.limit FROM "t" INNER JOIN approaches a ON a.id = approach`, { tables });
    h.send('t', { speed: 1, approach: 'east' });
    h.send('t', { speed: 2, approach: 'north' });
    assert.deepEqual(h.take('left'), [{ speed: 1, limit: null, id: null }, { speed: 2, limit: 50, id: 'north' }]);
    assert.deepEqual(h.take('inner'), [{ speed: 2, limit: 50 }]);
    assert.equal(h.metrics('inner').filtered, 1);
    assert.equal(h.metrics('left').filtered, 0);
  });

  it('a non-key ON scans the rows and joins the first that matches', () => {
    const h = harness();
    h.apply('r', `SELECT s.speed, a.id FROM "t" s JOIN approaches a ON s.speed > a.limit`, { tables: { approaches } });
    h.send('t', { speed: 60 }); // > 50 (north) first
    h.send('t', { speed: 40 }); // > 30 (south)
    h.send('t', { speed: 10 });
    assert.deepEqual(h.take('r'), [{ speed: 60, id: 'north' }, { speed: 40, id: 'south' }]);
    assert.equal(h.metrics('r').filtered, 1);
  });

  it('a.* and WHERE see the joined row', () => {
    const h = harness();
    h.apply('r', `SELECT a.*, s.speed FROM "t" s JOIN approaches a ON a.id = s.approach WHERE s.speed > a.limit`, { tables: { approaches } });
    h.send('t', { speed: 60, approach: 'north' });
    h.send('t', { speed: 40, approach: 'north' });
    assert.deepEqual(h.take('r'), [{ id: 'north', limit: 50, speed: 60 }]);
  });

  it('a later join may use an earlier one in its ON', () => {
    const h = harness();
    const tables = { roads: { rows: [{ id: 'r1', zone: 'z1' }] }, zones: { rows: [{ id: 'z1', limit: 80 }] } };
    h.apply('r', `SELECT r.id AS road, z.limit FROM "roads/+" JOIN roads r ON r.id = topic(2) JOIN zones z ON z.id = r.zone`, { tables });
    h.send('roads/r1', {});
    assert.deepEqual(h.take('r'), [{ road: 'r1', limit: 80 }]);
  });

  it('a topic table learns the latest state per key from its topic, and joins it afterwards', () => {
    const h = harness();
    h.apply('r', `SELECT car, sig.state FROM "cars" LEFT JOIN signals AS sig ON sig.id = signal`, { tables: { signals: { topic: 'signals/+/state', key: 'id' } } });
    h.send('cars', { car: 1, signal: 's1' });
    h.send('signals/1/state', { id: 's1', state: 'red' });
    h.send('signals/2/state', { id: 's2', state: 'green' });
    h.send('cars', { car: 2, signal: 's1' });
    h.send('signals/1/state', { id: 's1', state: 'green' });
    h.send('other/state', { id: 's1', state: 'off' }); // not the table's topic
    h.send('signals/1/state', 'garbage'); // not JSON: ignored
    h.send('cars', { car: 3, signal: 's1' });
    h.send('cars', { car: 4, signal: 's2' });
    assert.deepEqual(h.take('r'), [
      { car: 1, state: null },
      { car: 2, state: 'red' },
      { car: 3, state: 'green' },
      { car: 4, state: 'green' },
    ]);
  });

  it('an update that keeps a topic table keeps what it learned', () => {
    const h = harness();
    const tables = { signals: { topic: 'signals/#', key: 'id' } };
    h.apply('r', `SELECT sig.state FROM "cars" JOIN signals AS sig ON sig.id = signal`, { tables });
    h.send('signals/1', { id: 's1', state: 'red' });
    h.apply('r', `SELECT sig.state AS st FROM "cars" JOIN signals AS sig ON sig.id = signal`, { tables });
    h.send('cars', { signal: 's1' });
    assert.deepEqual(h.take('r'), [{ st: 'red' }]);
  });

  it('JOIN twins reads the twin of the publishing device', () => {
    const h = harness({ twins: { dev1: { device: 'dev1', reported: { mode: 'auto' } } } });
    h.apply('r', `SELECT t.reported.mode, device() AS d FROM "#" JOIN twins AS t ON t.device = device()`);
    h.apply('left', `SELECT t.reported.mode FROM "#" LEFT JOIN twins t ON device() = t.device`);
    h.send('a', {}, 'dev1');
    h.send('a', {}, 'dev2'); // no twin
    h.send('a', {}, null); // not from a device
    assert.deepEqual(h.take('r'), [{ mode: 'auto', d: 'dev1' }]);
    assert.deepEqual(h.take('left'), [{ mode: 'auto' }, { mode: null }, { mode: null }]);
    assert.equal(h.metrics('r').filtered, 2);
  });
});

describe('LIKE agrees with its definition', () => {
  it('property: the matcher and an anchored regular expression agree on every pattern and text', async () => {
    const { default: fc } = await import('fast-check');
    const { likeMatcher } = await import('./values.ts');
    const reference = (p: string) => new RegExp(`^${[...p].map((ch) => (ch === '%' ? '[\\s\\S]*' : ch === '_' ? '[\\s\\S]' : ch.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))).join('')}$`);
    const text = fc.string({ unit: fc.constantFrom('a', 'b', '.', '*'), maxLength: 12 });
    const pattern = fc.string({ unit: fc.constantFrom('a', 'b', '%', '_', '.'), maxLength: 8 });
    fc.assert(fc.property(pattern, text, (p, s) => likeMatcher(p)(s) === reference(p).test(s)), { numRuns: 2000 });
  });
});
