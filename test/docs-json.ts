// Compares a JSON answer with the one the docs show. The docs elide with
// `…`: a string holding `…` matches any string that fits around it ("… at
// character 2 is not in cp437" that ending), `,…` in an object or array
// means more fields or items may follow, `[…]` any array. Without `…` an
// object must have exactly the fields shown. Values that differ from run to
// run (generated ids such as "5b0e…", times, addresses, tokens) are compared
// by type only; every other value must be the one shown.

const MORE = '\u0000more';
const ANY_ARRAY = '\u0000any-array';

/** Fields whose values a run makes up: compared by type. */
const VARIES = new Set(['expires', 'since', 'lastSeen', 'address', 'rssi', 'heap', 'uptime', 'ref', 'token', 'tokenId', 'userAgent', 'created', 'updated', 'finished', 'started', 'at', 'fw']);
/** Fields that name a job or token by the id the server generated. */
const ID_KEYS = new Set(['id', 'job', 'job_uuid']);
/** Such an id as the docs show one: a job's UUID cut short ("5b0e…"), a token's 16 hex digits. */
const GENERATED_ID = /^[0-9a-f]{4,}…$|^[0-9a-f]{16}$|^[0-9a-f]{8}-[0-9a-f]{4}-/;

/** Parses a documented answer, its elisions made into markers. */
export function parseExample(text: string): unknown {
  // The markers go in as JSON escapes: JSON text cannot hold a raw U+0000.
  const json = (marker: string): string => JSON.stringify(marker);
  const marked = text
    .replace(/\[…\]/g, `[${json(ANY_ARRAY)}]`)
    .replace(/,\s*…\s*([}\]])/g, (_m, close: string) => (close === '}' ? `,${json(MORE)}:true}` : `,${json(MORE)}]`))
    .replace(/\{…\}/g, `{${json(MORE)}:true}`);
  return JSON.parse(marked);
}

function pattern(s: string): RegExp {
  const parts = s.split('…').map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  return new RegExp(`^${parts.join('[\\s\\S]*')}$`);
}

/** The differences between an answer and the documented one ([] when it matches). */
export function compareExample(actual: unknown, expected: unknown, path = '$', key = ''): string[] {
  if (VARIES.has(key) || (ID_KEYS.has(key) && typeof expected === 'string' && GENERATED_ID.test(expected))) {
    return typeof actual === typeof expected ? [] : [`${path}: ${JSON.stringify(actual)} is not a ${typeof expected}`];
  }
  // A job just submitted to a free printer may already be sending when the
  // answer leaves; the docs show it queued.
  if (key === 'state' && expected === 'queued' && actual === 'sending') return [];
  if (typeof expected === 'string' && expected.includes('…')) {
    return typeof actual === 'string' && pattern(expected).test(actual) ? [] : [`${path}: ${JSON.stringify(actual)} does not fit ${JSON.stringify(expected)}`];
  }
  if (Array.isArray(expected)) {
    if (!Array.isArray(actual)) return [`${path}: ${JSON.stringify(actual)} is not an array`];
    if (expected[0] === ANY_ARRAY) return [];
    const more = expected[expected.length - 1] === MORE;
    const items = more ? expected.slice(0, -1) : expected;
    if (more ? actual.length < items.length : actual.length !== items.length) return [`${path}: ${actual.length} items where the docs show ${items.length}${more ? ' or more' : ''}`];
    return items.flatMap((e, i) => compareExample(actual[i], e, `${path}[${i}]`));
  }
  if (typeof expected === 'object' && expected !== null) {
    if (typeof actual !== 'object' || actual === null || Array.isArray(actual)) return [`${path}: ${JSON.stringify(actual)} is not an object`];
    const exp = expected as Record<string, unknown>;
    const act = actual as Record<string, unknown>;
    const out: string[] = [];
    for (const [k, v] of Object.entries(exp)) {
      if (k === MORE) continue;
      if (!(k in act)) out.push(`${path}.${k}: missing`);
      else out.push(...compareExample(act[k], v, `${path}.${k}`, k));
    }
    if (!(MORE in exp)) for (const k of Object.keys(act)) if (!(k in exp)) out.push(`${path}.${k}: not in the docs' answer`);
    return out;
  }
  return Object.is(actual, expected) ? [] : [`${path}: ${JSON.stringify(actual)} where the docs show ${JSON.stringify(expected)}`];
}

/**
 * Records the ids an answer gives where the docs show made-up ones ("5b0e…",
 * a token's "9f2c41d07ab3e611"), so later examples that name them reach the
 * real ones. The latest answer wins: "5b0e…" is the last job shown.
 */
export function learnIds(actual: unknown, expected: unknown, ids: Map<string, string>, key = ''): void {
  if (ID_KEYS.has(key) && typeof expected === 'string' && GENERATED_ID.test(expected) && typeof actual === 'string') {
    ids.set(expected, actual);
    return;
  }
  if (Array.isArray(expected) && Array.isArray(actual)) expected.forEach((e, i) => learnIds(actual[i], e, ids));
  else if (typeof expected === 'object' && expected !== null && typeof actual === 'object' && actual !== null && !Array.isArray(actual)) {
    for (const [k, v] of Object.entries(expected)) learnIds((actual as Record<string, unknown>)[k], v, ids, k);
  }
}
