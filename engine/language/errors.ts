import type { Pos } from './ast.ts';

/**
 * Anything wrong with a rule's SQL: a syntax error from the parser or a
 * semantic one from the analyzer (an unknown function, an aggregate without
 * a window...). Always names where: `line 2, column 14: ...`.
 */
export class SqlError extends Error {
  readonly line: number;
  readonly column: number;
  readonly offset: number;
  constructor(
    readonly reason: string,
    pos: Pos,
  ) {
    super(`line ${pos.line}, column ${pos.column}: ${reason}`);
    this.name = 'SqlError';
    this.line = pos.line;
    this.column = pos.column;
    this.offset = pos.offset;
  }
}
