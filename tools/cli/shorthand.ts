// `key=value` words turned into a JSON object, for `console` lines such as
//   job.submit printer=shop-1/0 data=aGVsbG8= key="order 7"
//   control.send to.tag=front name=identify args.seconds=5
// and for `broadcast --arg`. A value that parses as JSON (5, true, null,
// "quoted", [1,2], {"a":1}) is that value; anything else is a string. Dots in
// a key build nested objects; key="5" (double quotes) is always a string.
// Words are split on blanks, except inside single or double quotes; a
// backslash escapes the next character.

export class ShorthandError extends Error {}

/** A word of a line; `quoted` when its value part (after `key=`) was in double quotes, which keeps it a string. */
export interface Word {
  text: string;
  quoted: boolean;
}

/** Splits a line into words the way a shell does for quotes and backslashes (no expansion). */
export function words(line: string): Word[] {
  const out: Word[] = [];
  let word: Word = { text: '', quoted: false };
  let inWord = false;
  let quote: '"' | "'" | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quote !== undefined) {
      if (c === quote) quote = undefined;
      else if (c === '\\' && quote === '"' && i + 1 < line.length) word.text += line[++i];
      else word.text += c;
    } else if (c === '"' || c === "'") {
      // key="5" is the string "5"; key='{"a":1}' is parsed as JSON.
      if (c === '"' && word.text.endsWith('=') && word.text.indexOf('=') === word.text.length - 1) word.quoted = true;
      quote = c;
      inWord = true;
    } else if (c === '\\' && i + 1 < line.length) {
      word.text += line[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) out.push(word);
      word = { text: '', quoted: false };
      inWord = false;
    } else {
      word.text += c;
      inWord = true;
    }
  }
  if (quote !== undefined) throw new ShorthandError(`unterminated ${quote} quote`);
  if (inWord) out.push(word);
  return out;
}

/** The value of `key=value`: JSON when it parses, else the text. */
export function value(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

/** Sets obj[a][b][c] = v for the key "a.b.c", creating objects on the way. */
export function assign(obj: Record<string, unknown>, key: string, v: unknown): void {
  const path = key.split('.');
  if (path.some((p) => p === '')) throw new ShorthandError(`bad key ${JSON.stringify(key)}`);
  let at = obj;
  for (const part of path.slice(0, -1)) {
    const next = at[part];
    if (next === undefined) at = at[part] = {};
    else if (typeof next === 'object' && next !== null && !Array.isArray(next)) at = next as Record<string, unknown>;
    else throw new ShorthandError(`${key}: ${part} is already set to a value`);
  }
  at[path[path.length - 1]!] = v;
}

/** `key=value` pairs (command-line arguments, or words of a line) into an object. */
export function fields(pairs: readonly (string | Word)[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const pair of pairs) {
    const { text, quoted } = typeof pair === 'string' ? { text: pair, quoted: false } : pair;
    const eq = text.indexOf('=');
    if (eq <= 0) throw new ShorthandError(`expected key=value, not ${JSON.stringify(text)}`);
    const raw = text.slice(eq + 1);
    assign(out, text.slice(0, eq), quoted ? raw : value(raw));
  }
  return out;
}

/** The thing an op acts on, by the protocol's naming: job.get takes `job`, printer.pause `printer`. */
function subjectField(op: string): string | undefined {
  return /^(job|printer|device|token)\./.exec(op)?.[1];
}

/**
 * `op key=value ...` into a request object (without an id). `op` and `id`
 * belong to the envelope, so a field of that name is refused rather than
 * quietly taken for the request's own: `job.get id=nope` meant job=nope.
 */
export function request(line: string): Record<string, unknown> {
  const [op, ...pairs] = words(line);
  if (op === undefined) throw new ShorthandError('empty line');
  if (op.text.includes('=')) throw new ShorthandError(`a line starts with the op, not ${JSON.stringify(op.text)}`);
  const body = fields(pairs);
  if ('op' in body) throw new ShorthandError(`op is the first word (${op.text}), not a field; to send a field named op, type the request as JSON`);
  if ('id' in body) {
    const subject = subjectField(op.text);
    const meant = subject === undefined ? '' : ` (for the ${subject}, say ${subject}=${typeof body['id'] === 'string' ? body['id'] : JSON.stringify(body['id'])})`;
    throw new ShorthandError(`id is the request's own id, not a field of ${op.text}${meant}; the console numbers requests itself, and JSON typed as such keeps its id`);
  }
  return { op: op.text, ...body };
}
