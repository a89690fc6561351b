// The dashboard and the SDK at fleet size: N devices (10,000 by default)
// registered with tags and online, each with its printer, against the server
// alone in its process (fanout-printbridge.ts), the devices in processes of
// their own (fanout-devices.ts). Measured:
//
// snapshot — the `subscribe` reply a dashboard gets: its bytes on the wire
//            (as the page asks for it, and the full form older clients get),
//            and the round trip of a subscribe (median of ROUNDS): the
//            server building and encoding it, plus the transfer on loopback.
// page     — headless Chromium opens the dashboard: navigation to the first
//            frame painted with the device and printer lists filled, the
//            DOM's element count once settled, the page's JS heap.
// storm    — every device drops at once and comes back: the events and bytes
//            one subscriber receives and their rate over the storm, and the
//            page during it: whether it stayed connected, its long tasks,
//            and when it showed every device online again.

import { rmSync } from 'node:fs';
import type { Page } from 'playwright-core';
import WebSocket from 'ws';
import { tempDir } from '../../test/helpers/server.js';
import { launchChromium } from '../../test/web/browser.js';
import { buildWeb, isStale } from '../build-web.js';
import { BENCH_ADMIN as ADMIN, DEVICES_PER_PROCESS, median, registerDevices, sleep } from './bench-store.js';
import { formatBytes } from '../../protocol/units.js';
import { bundleChildren, startChild } from './children.js';
import { wallNow, type Child } from './fanout-proc.js';

const ROUNDS = 5;
/** Tags spread over the fleet, as shops and regions would be. */
const TAGS = ['north', 'south', 'east', 'west'];

export interface DashboardBench {
  devices: number;
  printers: number;
  deviceProcesses: number;
  /** The subscribe reply as the dashboard and the SDK ask for it. */
  snapshotBytes: number;
  /** The subscribe reply in its full form (a client that asks for nothing else). */
  snapshotFullBytes: number;
  /** Subscribe sent → reply parsed, median of ROUNDS (the dashboard's form). */
  snapshotMillis: number;
  /** The same for the full form. */
  snapshotFullMillis: number;
  /** Navigation start → first frame painted with both lists filled. */
  firstRenderMillis: number;
  domNodes: number;
  /** Rows and cards in the DOM for devices and printers. */
  deviceRows: number;
  printerCards: number;
  jsHeapBytes: number;
  storm: StormFigures;
}

export interface StormFigures {
  seconds: number;
  events: number;
  bytes: number;
  eventsPerSecond: number;
  bytesPerSecond: number;
  /** The page stayed connected through the storm. */
  pageStayedOpen: boolean;
  /** Sum and longest of the page's long tasks (over 50 ms) during the storm. */
  pageLongTaskMillis: number;
  pageLongestTaskMillis: number;
  /** Storm start → the page's device count says every device is online again. */
  pageCaughtUpSeconds: number;
}

export interface DashboardOptions {
  devices?: number;
  log?: (line: string) => void;
}



/** A raw /v1/client socket, so that bytes are counted as they travel. */
interface RawClient {
  request(body: Record<string, unknown>): Promise<{ bytes: number; millis: number; result: unknown }>;
  readonly events: { count: number; bytes: number };
  close(): void;
}

async function rawClient(port: number): Promise<RawClient> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/v1/client`, { headers: { authorization: `Bearer ${ADMIN}` }, perMessageDeflate: false, maxPayload: 1 << 30 });
  await new Promise<void>((resolve, reject) => ws.once('open', () => resolve()).once('error', reject));
  let next = 1;
  const waiting = new Map<number, (text: string, bytes: number) => void>();
  const events = { count: 0, bytes: 0 };
  ws.on('message', (data: Buffer) => {
    const text = data.toString('utf8');
    // Events never carry `re`; replies start with it (okReply, errorReply).
    if (!text.startsWith('{"re":')) {
      events.count++;
      events.bytes += data.length;
      return;
    }
    const re = (JSON.parse(text) as { re: number }).re;
    waiting.get(re)?.(text, data.length);
    waiting.delete(re);
  });
  return {
    events,
    request(body) {
      const id = next++;
      const t0 = performance.now();
      return new Promise((resolve, reject) => {
        waiting.set(id, (text, bytes) => {
          const reply = JSON.parse(text) as { ok: boolean; result?: unknown; error?: unknown };
          if (!reply.ok) reject(new Error(`${String(body['op'])}: ${JSON.stringify(reply.error)}`));
          else resolve({ bytes, millis: performance.now() - t0, result: reply.result });
        });
        ws.send(JSON.stringify({ ...body, id }));
      });
    },
    close: () => ws.terminate(),
  };
}

/** Bytes and median round trip of `body` over ROUNDS requests (one at a time, so none shares another's answer). */
async function snapshotFigures(client: RawClient, body: Record<string, unknown>): Promise<{ bytes: number; millis: number; result: unknown }> {
  const runs = [];
  for (let r = 0; r < ROUNDS; r++) runs.push(await client.request(body));
  const last = runs[runs.length - 1];
  if (last === undefined) throw new Error('no rounds');
  return { bytes: last.bytes, millis: median(runs.map((x) => x.millis)), result: last.result };
}

/** The page's own clock: set before any script of the page runs. */
const PAGE_PROBE = `
  window.__pb = { firstRender: 0, longTasks: [], drops: [] };
  // Every time the connection left "open", however briefly.
  document.addEventListener('DOMContentLoaded', () => new MutationObserver(() => {
    if (document.body.dataset.conn !== 'open' && window.__pb.firstRender > 0) window.__pb.drops.push(performance.now());
  }).observe(document.body, { attributes: true, attributeFilter: ['data-conn'] }));
  new PerformanceObserver((list) => { for (const e of list.getEntries()) window.__pb.longTasks.push([e.startTime, e.duration]); })
    .observe({ type: 'longtask', buffered: true });
  const look = () => {
    if (document.querySelector('#device-rows tr') && document.querySelector('#printer-list li')) {
      // From a frame callback, a task runs after that frame is painted.
      setTimeout(() => { window.__pb.firstRender = performance.now(); }, 0);
      return;
    }
    requestAnimationFrame(look);
  };
  requestAnimationFrame(look);
`;

interface PageFigures {
  firstRenderMillis: number;
  domNodes: number;
  deviceRows: number;
  printerCards: number;
  jsHeapBytes: number;
}

async function openPage(page: Page, port: number): Promise<PageFigures> {
  await page.addInitScript(PAGE_PROBE);
  await page.goto(`http://127.0.0.1:${port}/#token=${encodeURIComponent(ADMIN)}`);
  // A function, not a string: the page's CSP refuses eval.
  await page.waitForFunction(() => (globalThis as unknown as { __pb: { firstRender: number } }).__pb.firstRender > 0, undefined, { timeout: 300_000, polling: 100 });
  await sleep(2000);
  // Strings, not functions: this file is compiled without the DOM's types.
  return page.evaluate<PageFigures>(`({
    firstRenderMillis: window.__pb.firstRender,
    domNodes: document.getElementsByTagName('*').length,
    deviceRows: document.querySelectorAll('#device-rows tr').length,
    printerCards: document.querySelectorAll('#printer-list li').length,
    jsHeapBytes: performance.memory ? performance.memory.usedJSHeapSize : 0,
  })`);
}

/** How many devices the page says are online ("N of M online", or "N/M devices online" in the summary). */
async function pageOnline(page: Page): Promise<number> {
  const text = await page.evaluate<string>(`document.getElementById('summary')?.textContent ?? ''`);
  const m = /([\d,]+)\s*\/\s*[\d,]+ devices online/.exec(text);
  return m === null ? -1 : Number(m[1]!.replaceAll(',', ''));
}

const connState = (page: Page): Promise<string> => page.evaluate<string>(`document.body.dataset.conn ?? ''`);

async function storm(kids: Child[], client: RawClient, page: Page, n: number, log: (l: string) => void): Promise<StormFigures> {
  if ((await connState(page)) !== 'open') throw new Error('the page is not connected before the storm');
  const since = await page.evaluate<number>('performance.now()');
  client.events.count = 0;
  client.events.bytes = 0;
  const t0 = wallNow();
  const storming = Promise.all(kids.map((kid) => kid.ask({ cmd: 'storm' })));
  let caughtUp = NaN;
  // The storm ends when every device is welcomed again; the page has caught up when it shows them all.
  let seconds = NaN;
  void storming.then(() => (seconds = (wallNow() - t0) / 1000));
  const deadline = t0 + 300_000;
  while (wallNow() < deadline) {
    await sleep(50);
    if (!Number.isNaN(seconds) && (await pageOnline(page)) === n) {
      caughtUp = (wallNow() - t0) / 1000;
      break;
    }
  }
  await storming;
  // Events still in flight when the devices are all back belong to the storm too.
  await sleep(1000);
  const events = client.events.count;
  const bytes = client.events.bytes;
  const tasks = await page.evaluate<number[]>(`window.__pb.longTasks.filter(([start]) => start >= ${since}).map(([, d]) => d)`);
  const stayedOpen = (await page.evaluate<number>(`window.__pb.drops.length`)) === 0;
  log(`storm: ${seconds.toFixed(2)} s, ${events} events (${formatBytes(bytes)}) to one subscriber; page caught up at ${caughtUp.toFixed(2)} s`);
  return {
    seconds, events, bytes, eventsPerSecond: events / seconds, bytesPerSecond: bytes / seconds,
    pageStayedOpen: stayedOpen, pageLongTaskMillis: tasks.reduce((a, b) => a + b, 0), pageLongestTaskMillis: Math.max(0, ...tasks),
    pageCaughtUpSeconds: caughtUp,
  };
}

export async function runDashboardBench(opts: DashboardOptions = {}): Promise<DashboardBench> {
  await bundleChildren();
  const n = opts.devices ?? 10_000;
  const log = opts.log ?? (() => {});
  if (isStale()) {
    log('building the dashboard');
    await buildWeb();
  }
  const processes = Math.max(1, Math.ceil(n / DEVICES_PER_PROCESS));
  const dir = tempDir('pb-dashboard-');
  const server = startChild('fanout-printbridge.ts', [dir, ADMIN, String(n)], { quiet: true });
  const kids: Child[] = [];
  const browser = await launchChromium();
  try {
    const creds = registerDevices(dir, n, (i) => `shop-${String(i).padStart(5, '0')}`, (i) => [TAGS[i % TAGS.length] ?? 'north']);
    const port = Number((await server.ask({ cmd: 'port' }))['port']);
    kids.push(...Array.from({ length: processes }, () => startChild('fanout-devices.ts')));
    const t0 = wallNow();
    await Promise.all(kids.map((kid, k) => kid.ask({ cmd: 'connect', url: `ws://127.0.0.1:${port}/v1/device`, devices: creds.filter((_c, i) => i % processes === k) })));
    log(`${n} devices online in ${((wallNow() - t0) / 1000).toFixed(1)} s (${processes} processes)`);
    await sleep(1000);

    const client = await rawClient(port);
    const full = await snapshotFigures(client, { op: 'subscribe' });
    const compact = await snapshotFigures(client, { op: 'subscribe', compact: true, coalesce: true });
    const printers = ((full.result as { printers: unknown[] }).printers ?? []).length;
    log(`snapshot: ${formatBytes(compact.bytes)} in ${compact.millis.toFixed(0)} ms (full form ${formatBytes(full.bytes)} in ${full.millis.toFixed(0)} ms)`);

    const page = await browser.newPage();
    page.on('pageerror', (e) => log(`page error: ${e.message}`));
    const figures = await openPage(page, port);
    log(`page: first render ${figures.firstRenderMillis.toFixed(0)} ms, ${figures.domNodes} elements, ${figures.deviceRows} device rows, ${figures.printerCards} printer cards`);

    const stormFigures = await storm(kids, client, page, n, log);
    client.close();
    return {
      devices: n, printers, deviceProcesses: processes,
      snapshotBytes: compact.bytes, snapshotFullBytes: full.bytes, snapshotMillis: compact.millis, snapshotFullMillis: full.millis,
      ...figures, storm: stormFigures,
    };
  } finally {
    await browser.close();
    await Promise.all(kids.map((kid) => kid.kill()));
    await server.kill();
    rmSync(dir, { recursive: true, force: true });
  }
}
