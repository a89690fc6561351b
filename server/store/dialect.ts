// The few places where SQLite's SQL and PostgreSQL's differ, named once. The
// store's statements are otherwise written in the SQL both accept.

export interface Dialect {
  readonly name: 'sqlite' | 'postgres';
  /** The column that orders rows by insertion (jobs submitted in the same millisecond). */
  readonly insertion: string;
  /** `needle` occurs in `haystack`. */
  contains(haystack: string, needle: string): string;
  /** The texts of a JSON array (a bound parameter or a column), as a one-column table `value`. */
  jsonTexts(json: string): string;
  /** `column`, kept out of index selection (SQLite's unary plus; PostgreSQL plans without the hint). */
  noIndex(column: string): string;
  /** LIMIT with no limit, for a LIMIT … OFFSET. */
  readonly limitAll: string;
  /** The larger of two values. */
  greatest(a: string, b: string): string;
  /** A join that scans the left table first (SQLite's CROSS JOIN; PostgreSQL's planner chooses). */
  readonly joinInOrder: string;
}

export const SQLITE: Dialect = {
  name: 'sqlite',
  insertion: 'rowid',
  contains: (haystack, needle) => `instr(${haystack}, ${needle}) > 0`,
  jsonTexts: (json) => `json_each(${json})`,
  noIndex: (column) => `+${column}`,
  limitAll: '-1',
  joinInOrder: 'CROSS JOIN',
  greatest: (a, b) => `max(${a}, ${b})`,
};

export const POSTGRES: Dialect = {
  name: 'postgres',
  insertion: 'seq',
  contains: (haystack, needle) => `strpos(${haystack}, ${needle}) > 0`,
  jsonTexts: (json) => `jsonb_array_elements_text(CAST(${json} AS jsonb)) AS value`,
  noIndex: (column) => column,
  limitAll: 'ALL',
  joinInOrder: 'JOIN',
  greatest: (a, b) => `GREATEST(${a}, ${b})`,
};
