// The docs' WebSocket sessions, sent to a real server: `> request` lines
// (or `→`) are sent as written, as a text frame; each `< answer` line (or
// `←`) is awaited and compared with the frame that answers it (the reply
// with its `re`, else the next event of its name) by test/docs-json.ts.
// Lines that do not start with a marker continue the line before (a long
// answer wrapped). The one rewrite: an id the docs make up ("5b0e…") in a
// request stands for the one the last answer showing it really had
// (learnIds in test/docs-json.ts).

import WebSocket from 'ws';
import { compareExample, learnIds, parseExample } from './docs-json.js';
import { where, type MarkdownBlock } from './helpers/markdown-blocks.js';
import { until } from './helpers/until.js';

interface Step {
  send: boolean;
  text: string;
  line: number;
}

function steps(block: MarkdownBlock): Step[] {
  const out: Step[] = [];
  block.lines.forEach((raw, i) => {
    const m = /^([<>←→]) (.*)$/.exec(raw);
    if (m) out.push({ send: m[1] === '>' || m[1] === '→', text: m[2] ?? '', line: block.line + 1 + i });
    else if (raw.trim() !== '') {
      const last = out[out.length - 1];
      if (!last) throw new Error(`${block.file}:${block.line + 1 + i}: a continuation line before any request`);
      last.text += raw.trim();
    }
  });
  return out;
}

type Frame = Record<string, unknown>;

/** One client connection that plays the docs' sessions in order. */
export class DocSession {
  private readonly frames: Frame[] = [];
  private readonly used = new Set<Frame>();
  private constructor(
    private readonly ws: WebSocket,
    private readonly ids: Map<string, string>,
  ) {
    ws.on('message', (data) => this.frames.push(JSON.parse(String(data)) as Frame));
  }

  /** `ids`: made-up id → real one, shared with the reader's terminal. */
  static async open(url: string, token: string, ids: Map<string, string>): Promise<DocSession> {
    const ws = new WebSocket(url, { headers: { authorization: `Bearer ${token}` } });
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    return new DocSession(ws, ids);
  }

  close(): void {
    this.ws.close();
  }

  /** Plays a block; resolves to the differences from the docs ([] when none). */
  async play(block: MarkdownBlock): Promise<string[]> {
    const problems: string[] = [];
    const sent = new Map<unknown, string>();
    for (const step of steps(block)) {
      const at = `${block.file}:${step.line}`;
      if (step.send) {
        let text = step.text;
        for (const [doc, real] of this.ids) text = text.split(doc).join(real);
        try {
          const req = JSON.parse(text) as Frame;
          sent.set(req['id'], String(req['op']));
        } catch {
          // Malformed on purpose (the docs show what the server says to it).
        }
        this.ws.send(text);
        continue;
      }
      const expected = parseExample(step.text) as Frame;
      const fits = (f: Frame): boolean =>
        !this.used.has(f) && ('re' in expected ? f['re'] === expected['re'] && !('event' in f) : f['event'] === expected['event']);
      // An event the docs show is one of several of its name (a job's
      // job.updated for "sending", then "done"): the first that matches.
      const matches = (f: Frame): boolean => fits(f) && ('re' in expected || compareExample(f, expected).length === 0);
      const frame = await until(`${at}: an answer like ${step.text.slice(0, 80)}`, () => this.frames.find(matches), 30_000).catch(() => this.frames.find(fits));
      if (frame === undefined) {
        problems.push(`${at}: no answer like ${step.text}`);
        continue;
      }
      this.used.add(frame);
      if ('re' in frame) sent.delete(frame['re']);
      learnIds(frame, expected, this.ids);
      const differences = compareExample(frame, expected);
      if (differences.length > 0) problems.push(`${at}: ${differences.join('; ')}\n  got: ${JSON.stringify(frame).slice(0, 400)}`);
    }
    // A request whose answer the docs do not show must still succeed: an
    // example that only works by failing is no example.
    for (const [id, op] of sent) {
      if (id === undefined) continue;
      const reply = await until(`${block.file}:${block.line}: the answer to ${op} #${String(id)}`, () => this.frames.find((f) => !this.used.has(f) && f['re'] === id && !('event' in f)), 30_000).catch(() => undefined);
      if (reply === undefined) problems.push(`${where(block)}: no answer to ${op} #${String(id)}`);
      else {
        this.used.add(reply);
        if (reply['ok'] !== true) problems.push(`${where(block)}: ${op} #${String(id)} answered an error the docs do not show: ${JSON.stringify(reply)}`);
      }
    }
    return problems;
  }
}
