// The dashboard for the people at the printers, in Chromium, against a real
// server with real bridge processes and printer emulators: an ESC/POS
// counter printer and a G-code 3D printer that takes each line 8 ms to run
// (so a print lasts long enough to be watched). What the page must show, and
// the screenshots (test-output/) show too:
//
//   - jobs by name, with progress, rate and time left (how long a stalled one
//     has not moved); searchable by name;
//   - a G-code printer's card saying "Printing N %" with the job's name
//     (not "Ready"), its line and layer, and a chart of its temperatures;
//   - a file uploaded with the picker, and one dropped on a printer's card,
//     printed (the bytes are checked at the emulator) under the file's name;
//   - a reprint of a job that another client submitted, and a clear message
//     when the server no longer holds a job's bytes;
//   - the admin token kept for the tab only, unless "remember me".
//
// Every wait is on a condition (what the page shows, what the emulator
// received); the timeouts only turn a hang into a failure message.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import type { Page } from 'playwright-core';
import type * as Sdk from '../../sdk/index.js';
import { Processes } from '../helpers/processes.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { registerDevice } from '../server/peers.js';
import { tcpEmulator, tempDir, type TcpEmulator } from '../tools/emulator-fixture.js';
import { launchChromium, screenshot, screenshotOf, type Browser } from './browser.js';
import { loadSdk, NodeWebSocket, printingDevice } from './sdk-fixture.js';

const ADMIN = 'test-admin-token';
const procs = new Processes();
const cleanups: Array<() => void> = [];
let t: TestServer;
/** A server that keeps no bytes of finished jobs (every reprint there is JOB_DATA_GONE) and takes jobs of 4 KiB at most. */
let lean: TestServer;
let browser: Browser | undefined;
let counter: TcpEmulator;
let maker: TcpEmulator;
let sdk: typeof Sdk;
/** Another client of the server: a till, a back-end, not the page. */
let other: Sdk.PrintbridgeClient;

before(async () => {
  const { dir, cleanup } = tempDir('printbridge-web-jobs-');
  cleanups.push(cleanup);
  t = await startTestServer();
  const ws = t.wsUrl('');
  counter = await tcpEmulator(procs, dir);
  const counterBridge = procs.cli([
    'bridge', '--server', ws, '--id', 'counter', '--printer', `tcp://127.0.0.1:${counter.port}`, '--dialect', 'escpos', '--name', 'Front counter', '--poll', '300',
  ], { env: { PRINTBRIDGE_TOKEN: registerDevice(t, 'counter', ['front']) } });
  maker = await tcpEmulator(procs, dir, ['--ok-delay', '8'], 'gcode');
  const makerBridge = procs.cli([
    'bridge', '--server', ws, '--id', 'maker', '--printer', `tcp://127.0.0.1:${maker.port}`, '--dialect', 'gcode', '--name', 'Workshop 3D', '--poll', '400',
  ], { env: { PRINTBRIDGE_TOKEN: registerDevice(t, 'maker', ['workshop']) } });
  await counterBridge.waitForLine(/link online/, { stream: 'stderr', timeout: 20_000 });
  await makerBridge.waitForLine(/link online/, { stream: 'stderr', timeout: 20_000 });

  lean = await startTestServer({ retention: { finishedDataMaxBytes: 0 }, limits: { maxJobBytes: 4096 } });
  await printingDevice(lean, 'labels');

  sdk = await loadSdk();
  other = sdk.connect({ url: t.server.url, token: ADMIN, WebSocket: NodeWebSocket });
  await other.ready();
  browser = await launchChromium();
});

after(async () => {
  await other?.close();
  await browser?.close();
  await procs.killAll();
  await t?.close();
  await lean?.close();
  for (const c of cleanups) c();
});

async function waitUntil(cond: () => boolean, what: string, timeout = 30_000): Promise<void> {
  const end = Date.now() + timeout;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Waits until `probe` (which looks at the page through locators) says yes. */
async function eventually(probe: () => Promise<boolean>, what: string, timeout = 30_000): Promise<void> {
  const end = Date.now() + timeout;
  while (!(await probe())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** What the counter printer printed (less the status queries it answered). */
function printed(): Buffer {
  try {
    return readFileSync(counter.printed);
  } catch {
    return Buffer.alloc(0);
  }
}

function count(haystack: Buffer, needle: Buffer): number {
  let n = 0;
  for (let at = haystack.indexOf(needle); at >= 0; at = haystack.indexOf(needle, at + 1)) n++;
  return n;
}

async function open(server: TestServer = t, fragment = `#token=${ADMIN}`): Promise<Page> {
  const page = await browser!.newPage();
  await page.goto(`${server.server.url}/${fragment}`);
  await page.locator('#conn[data-state="open"]').waitFor();
  return page;
}

/** A DataTransfer in the page holding one file, as a drag from the desktop carries it. */
function dragged(page: Page, name: string, bytes: Buffer) {
  return page.evaluateHandle(`(() => {
    const dt = new DataTransfer();
    dt.items.add(new File([new Uint8Array(${JSON.stringify([...bytes])})], ${JSON.stringify(name)}, { type: 'application/octet-stream' }));
    return dt;
  })()`);
}

const jobRow = (page: Page, name: string | RegExp) => page.locator('#job-rows tr', { has: page.getByRole('rowheader', { name }) });

/** A receipt with bytes of every kind (but no status query the emulator would take out). */
function receipt(title: string): Buffer {
  const high = Buffer.from(Array.from({ length: 64 }, (_, i) => 0x80 + i));
  return Buffer.concat([Buffer.from([0x1b, 0x40]), Buffer.from(`${title}\nCafé crème  3,20 €\n`, 'utf8'), high, Buffer.from('\n\n\n'), Buffer.from([0x1d, 0x56, 0x00])]);
}

/** A sliced 3D print: 40 layers of 100 moves, Cura's layer markers, heaters set at the start and changed on layers 3 and 5. */
function benchy(): string {
  const out = ['; benchy.gcode, sliced for the dashboard test', 'M140 S60', 'M104 S200', 'G92 E0'];
  for (let layer = 0; layer < 40; layer++) {
    out.push(`;LAYER:${layer}`);
    if (layer === 2) out.push('M104 S215');
    if (layer === 4) out.push('M140 S65');
    for (let i = 0; i < 100; i++) out.push(`G1 X${10 + (i % 50)}.0 Y${10 + layer}.${i % 10} E${(layer * 100 + i) * 0.01}`);
  }
  return `${out.join('\n')}\n`;
}

test('a G-code print from another client: its card says "Printing N %" with the name, line and layer, a temperature chart; the job shows its rate and time left', { timeout: 120_000 }, async () => {
  const page = await open();
  const card = page.getByRole('listitem', { name: 'Printer maker/0' });
  await card.getByRole('heading', { name: 'Workshop 3D' }).waitFor();
  await card.locator('.badge', { hasText: 'Ready' }).waitFor();

  const job = await other.submit('maker/0', benchy(), { name: 'benchy.gcode' });
  assert.equal(job.name, 'benchy.gcode');

  // The card: what the printer is doing, by the job's name, where the print is.
  const badge = card.locator('.badge.now');
  await badge.filter({ hasText: /^Printing \d+\s%$/ }).waitFor();
  await card.locator('.job-name', { hasText: 'benchy.gcode' }).waitFor();
  await card.locator('.job-pace', { hasText: /^layer \d+ · line [\d,]+ · / }).waitFor();
  await card.locator('.job-pace', { hasText: /left/ }).waitFor();

  // The temperatures over time: the snapshot's, then one sample per heater change the device reported.
  const hotend = card.locator('polyline.series[data-sensor="T"]');
  await eventually(async () => Number(await hotend.getAttribute('data-samples')) >= 3, 'three temperature samples');
  const points = (await hotend.getAttribute('points'))!.trim().split(/\s+/);
  assert.ok(points.length >= 4, `the hotend line has ${points.length} points`);
  const ys = points.map((p) => Number(p.split(',')[1]));
  assert.ok(Math.max(...ys) - Math.min(...ys) > 20, 'the line rises from room temperature to 200 °C and more');
  await card.locator('polyline.series[data-sensor="B"]').waitFor({ state: 'attached' });
  await card.locator('polyline.target[data-sensor="T"]').waitFor({ state: 'attached' });
  await card.locator('.temps li', { hasText: /^T 215\.0° → 215°$/ }).waitFor();
  assert.match(await card.locator('.chart-axis').innerText(), /last \d+s[\s\S]*°C/);

  // The jobs table: the name, the rate and the time left.
  const row = jobRow(page, /benchy\.gcode/);
  await row.locator('.pace', { hasText: /\d+(\.\d)? (B|KiB)\/s · (\d+m)?\d+s left/ }).waitFor();
  assert.match(await row.locator('.pct').innerText(), /^\d+\s%$/);
  assert.match(await row.locator('td[data-label="Size"]').innerText(), /^\d+(\.\d)? KiB$/);
  assert.match(await row.locator('.badge').innerText(), /^(Sending|Printing)$/);

  // The server counts the lines and layers the printer confirmed; the card says the same.
  const view = (await other.job(job.id)) as Sdk.JobView;
  assert.ok((view.line ?? 0) > 0 && (view.layer ?? 0) >= 1, `line ${view.line}, layer ${view.layer}`);

  await screenshotOf(card, 'dashboard-gcode-card');
  await screenshot(page, 'dashboard-jobs-light');
  await page.emulateMedia({ colorScheme: 'dark' });
  assert.equal(await page.evaluate('getComputedStyle(document.body).backgroundColor'), 'rgb(15, 20, 28)');
  await badge.filter({ hasText: /^Printing \d+\s%$/ }).waitFor();
  await screenshot(page, 'dashboard-jobs-dark');
  await page.emulateMedia({ colorScheme: 'light' });

  // A phone: one column, nothing wider than the screen, the same facts.
  await page.setViewportSize({ width: 390, height: 844 });
  await badge.filter({ hasText: /^Printing \d+\s%$/ }).waitFor();
  await row.locator('.pace', { hasText: /left/ }).waitFor();
  assert.equal(await page.evaluate('document.documentElement.scrollWidth'), 390, 'no sideways scrolling on a phone');
  await screenshot(page, 'dashboard-jobs-phone');
  await page.setViewportSize({ width: 1440, height: 1000 });

  // The printer stops taking lines: after a while the job says how long it has not moved, instead of a rate and a time left that no longer hold.
  maker.proc.send('stall');
  await row.locator('.pace', { hasText: /no progress for \d+s$/ }).waitFor({ timeout: 60_000 });
  assert.doesNotMatch(await row.locator('.pace').innerText(), /left/);
  maker.proc.send('resume');
  await row.locator('.pace', { hasText: /left$/ }).waitFor();

  // Canceled from its row: the card is ready again.
  await row.getByRole('button', { name: 'Cancel job benchy.gcode' }).click();
  await row.locator('.badge', { hasText: 'Canceled' }).waitFor();
  await badge.filter({ hasText: 'Ready' }).waitFor();
  await page.close();
});

test('upload with the picker: the file prints on the chosen printer under its name, and the new job shows', { timeout: 90_000 }, async () => {
  const page = await open();
  const bytes = receipt('Picked from the disk');
  await page.getByLabel('File to print').setInputFiles({ name: 'lunch-order-17.bin', mimeType: 'application/octet-stream', buffer: bytes });
  await page.locator('#upload-chosen', { hasText: `lunch-order-17.bin · ${bytes.length} B` }).waitFor();
  assert.equal(await page.getByLabel('Job name').inputValue(), 'lunch-order-17.bin');
  await page.getByLabel('Printer', { exact: true }).selectOption('counter/0');
  await page.getByRole('button', { name: 'Print', exact: true }).click();

  await page.locator('.toast', { hasText: 'Printing lunch-order-17.bin on counter/0' }).waitFor();
  const row = jobRow(page, 'lunch-order-17.bin');
  await row.locator('.badge', { hasText: 'Done' }).waitFor({ timeout: 30_000 });
  assert.equal(await row.locator('td[data-label="Size"]').innerText(), `${bytes.length} B`);
  assert.match(await row.locator('.pace').innerText(), /^took (under 1s|\d+s at [\d.]+ (B|KiB)\/s)$/);
  await waitUntil(() => printed().includes(bytes), 'the uploaded bytes at the printer');
  assert.equal(count(printed(), bytes), 1, 'printed once');
  // The form is ready for the next file.
  await page.locator('#upload-chosen', { hasText: 'Drop a file here' }).waitFor();
  await screenshot(page, 'dashboard-upload');
  await page.close();
});

test('drag and drop: a file dropped on a printer card prints there; one dropped elsewhere waits in the form', { timeout: 90_000 }, async () => {
  const page = await open();
  const bytes = receipt('Dropped on the card');
  const drag = await dragged(page, 'table-12.bin', bytes);
  const card = page.getByRole('listitem', { name: 'Printer counter/0' });
  await card.dispatchEvent('dragenter', { dataTransfer: drag });
  await card.dispatchEvent('dragover', { dataTransfer: drag });
  await card.locator('.drop-hint', { hasText: 'Drop to print on Front counter' }).waitFor({ state: 'visible' });
  assert.equal(await card.getAttribute('data-over'), 'true');
  await screenshot(page, 'dashboard-drop', false);
  await card.dispatchEvent('drop', { dataTransfer: drag });
  await card.locator('.drop-hint').waitFor({ state: 'hidden' });

  const row = jobRow(page, 'table-12.bin');
  await row.locator('.badge', { hasText: 'Done' }).waitFor({ timeout: 30_000 });
  assert.equal(await row.locator('td[data-label="Printer"]').innerText(), 'counter/0');
  await waitUntil(() => printed().includes(bytes), 'the dropped bytes at the printer');
  // Not staged in the form as well: the card took it.
  assert.match(await page.locator('#upload-chosen').innerText(), /Drop a file here/);

  // Dropped on the form (not on a card): it waits there for a printer; a .gcode file picks the G-code printer.
  const gcode = await dragged(page, 'home.gcode', Buffer.from('G28\nM105\n'));
  await page.locator('#upload-drop').dispatchEvent('drop', { dataTransfer: gcode });
  await page.locator('#upload-chosen', { hasText: 'home.gcode · 9 B' }).waitFor();
  assert.equal(await page.getByLabel('Printer', { exact: true }).inputValue(), 'maker/0');
  assert.equal(await page.getByLabel('Job name').inputValue(), 'home.gcode');
  // Pointed at the counter printer, the form says the file does not look like its language.
  await page.getByLabel('Printer', { exact: true }).selectOption('counter/0');
  await page.locator('#upload-hint', { hasText: 'This looks like G-code; Front counter speaks ESC/POS.' }).waitFor();
  await page.close();
});

test('paper out during a job: the card says "Paused: paper out" with the job, and goes on printing when the paper is back', { timeout: 90_000 }, async () => {
  const page = await open();
  const card = page.getByRole('listitem', { name: 'Printer counter/0' });
  const badge = card.locator('.badge.now');
  await badge.filter({ hasText: 'Ready' }).waitFor();
  counter.proc.send('set paper-out');
  await badge.filter({ hasText: /^Paper out$/ }).waitFor();
  const bytes = receipt('Printed after the paper came back');
  const job = await other.submit('counter/0', bytes, { name: 'receipt-77.bin' });
  await badge.filter({ hasText: /^Paused: paper out$/ }).waitFor();
  assert.equal(await badge.getAttribute('data-tone'), 'bad');
  await card.locator('.job-name', { hasText: 'receipt-77.bin' }).waitFor();
  await jobRow(page, 'receipt-77.bin').locator('.badge', { hasText: 'Paused' }).waitFor();
  await screenshotOf(card, 'dashboard-paused-paper-out');
  counter.proc.send('set ok');
  await jobRow(page, 'receipt-77.bin').locator('.badge', { hasText: 'Done' }).waitFor({ timeout: 30_000 });
  await badge.filter({ hasText: 'Ready' }).waitFor();
  await waitUntil(() => printed().includes(bytes), `job ${job.id} at the printer`);
  await page.close();
});

test('reprint a job another client submitted, found by its name; a reprint is a new job with the same bytes', { timeout: 90_000 }, async () => {
  const bytes = receipt('Order 1042 from the till');
  const first = await other.print('counter/0', bytes, { name: 'order-1042.bin' });
  assert.equal(first.state, 'done');
  await waitUntil(() => printed().includes(bytes), 'the first print');

  const page = await open();
  const rows = page.locator('#job-rows tr');
  const rowCount = (n: number) => eventually(async () => (await rows.count()) === n, `${n} job rows`);
  await jobRow(page, 'order-1042.bin').waitFor();
  await page.getByLabel('Search jobs').fill('ORDER-1042');
  await rowCount(1);
  assert.deepEqual(await rows.locator('.job-name').allInnerTexts(), ['order-1042.bin'], 'the search finds it by name, in any case');
  await page.getByLabel('Search jobs').fill('no such job');
  await page.locator('#jobs-empty', { hasText: 'No job matches.' }).waitFor();
  await page.getByLabel('Search jobs').fill('1042');
  await rowCount(1);

  await jobRow(page, 'order-1042.bin').getByRole('button', { name: 'Reprint job order-1042.bin' }).click();
  await page.locator('.toast', { hasText: 'Reprinting order-1042.bin on counter/0' }).waitFor();
  await rows.nth(1).waitFor();
  const again = rows.filter({ has: page.locator('.badge', { hasText: 'Done' }) });
  await eventually(async () => (await page.locator('#job-rows tr[data-state="done"]').count()) === 2, 'the reprint done');
  assert.equal(await again.count(), 2);
  assert.deepEqual(await rows.locator('.job-name').allInnerTexts(), ['order-1042.bin', 'order-1042.bin']);
  await waitUntil(() => count(printed(), bytes) === 2, 'the reprint at the printer');
  // The reprint is its own job; the original is untouched.
  const jobs = await other.jobs({ q: 'order-1042' });
  assert.equal(jobs.length, 2);
  assert.ok(jobs.some((j) => j.id === first.id) && jobs.every((j) => j.name === 'order-1042.bin' && j.size === bytes.length));
  await screenshot(page, 'dashboard-reprint');
  await page.close();
});

test('reprint when the server no longer holds the bytes: the page says so and what to do', { timeout: 60_000 }, async () => {
  const till = sdk.connect({ url: lean.server.url, token: ADMIN, WebSocket: NodeWebSocket });
  try {
    await till.print('labels/0', 'ONE LABEL\n', { name: 'shelf-label.zpl' });
  } finally {
    await till.close();
  }
  const page = await open(lean);
  const row = jobRow(page, 'shelf-label.zpl');
  await row.getByRole('button', { name: 'Reprint job shelf-label.zpl' }).click();
  await page.locator('.toast', { hasText: 'Cannot reprint shelf-label.zpl: the server no longer keeps its data. Upload the file again to print it.' }).waitFor();
  await eventually(() => row.getByRole('button', { name: 'Reprint job shelf-label.zpl' }).isDisabled(), 'the reprint button disabled');
  assert.equal(await page.locator('#job-rows tr').count(), 1, 'no new job');
  await screenshot(page, 'dashboard-reprint-gone', false);
  await page.close();
});

test('a file over the job size limit the server announces is refused in the page with both sizes, and nothing is sent', { timeout: 60_000 }, async () => {
  const page = await open(lean);
  await page.getByLabel('File to print').setInputFiles({ name: 'too-long.zpl', mimeType: 'application/octet-stream', buffer: Buffer.alloc(5000, 0x41) });
  await page.getByLabel('Printer', { exact: true }).selectOption('labels/0');
  const before = await page.locator('#job-rows tr').count();
  await page.getByRole('button', { name: 'Print', exact: true }).click();
  await page.locator('#upload-error', { hasText: 'too-long.zpl is 4.9 KiB; the server takes jobs up to 4.0 KiB' }).waitFor();
  assert.equal(await page.locator('#job-rows tr').count(), before, 'no new job');
  await page.close();
});

test('the token: kept for the tab only unless "remember me"; "forget" clears it everywhere', { timeout: 60_000 }, async () => {
  const stored = (page: Page) => page.evaluate(`({ session: sessionStorage.getItem('printbridge.token'), local: localStorage.getItem('printbridge.token') })`);
  const page = await open();
  assert.deepEqual(await stored(page), { session: ADMIN, local: null }, 'from the link: this tab only');

  // Another tab has nothing to go on: it asks.
  const second = await browser!.newPage();
  await second.goto(`${t.server.url}/`);
  const dialog = second.getByRole('dialog', { name: 'Connect to printbridge' });
  await dialog.waitFor();
  assert.equal(await dialog.getByLabel('Remember me on this browser').isChecked(), false);
  await dialog.getByLabel('Admin token').fill(ADMIN);
  await screenshot(second, 'dashboard-token-remember', false);
  await dialog.getByLabel('Remember me on this browser').check();
  await dialog.getByRole('button', { name: 'Connect' }).click();
  await second.locator('#conn[data-state="open"]').waitFor();
  assert.deepEqual(await stored(second), { session: ADMIN, local: ADMIN }, 'remembered on request');

  // Remembered: a third tab connects by itself.
  const third = await browser!.newPage();
  await third.goto(`${t.server.url}/`);
  await third.locator('#conn[data-state="open"]').waitFor();

  // Forget: gone from this tab and the browser; the page asks again.
  await third.getByRole('button', { name: 'Forget token' }).click();
  await third.getByRole('dialog', { name: 'Connect to printbridge' }).waitFor();
  assert.deepEqual(await stored(third), { session: null, local: null });
  assert.equal(await third.locator('#conn').getAttribute('data-state'), 'closed');
  for (const p of [page, second, third]) await p.close();
  assert.deepEqual(browser!.problems, [], 'no page errors and no console errors');
});
