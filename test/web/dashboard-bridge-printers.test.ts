// "Printers…" on a Node bridge's row, in Chromium, against real parts: a
// test server, a Node bridge (runBridge, in this process) with one TCP
// printer (the printer emulator), and a private CUPS scheduler with a raw
// queue whose device is a second emulator. The page asks the bridge what
// its computer can reach, finds the CUPS queue, adds it, and a test page
// printed on the new printer from its card reaches the emulator behind
// CUPS. A network printer, which no scan finds, is added by its address
// (a third emulator) after the page has refused a bad one and the bridge an
// address it already has, and prints too. A device that announced no such
// capability (the ESP32 firmware, played by a FakeDevice) has no button;
// the bridge going away while the dialog is open shows in it.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Page } from 'playwright-core';
import { runBridge, type Bridge } from '../../device/hosts/node/bridge.js';
import { openStore } from '../../server/store/db.js';
import { addDevice } from '../../server/store/devices.js';
import { cupsServer } from '../../device/hosts/node/ipp.js';
import { startCups, type Cups } from '../helpers/cups.js';
import { Processes } from '../helpers/processes.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { until } from '../helpers/until.js';
import { FakeDevice } from '../server/peers.js';
import { tcpEmulator, tempDir, type TcpEmulator } from '../tools/emulator-fixture.js';
import { launchChromium, screenshot, type Browser } from './browser.js';

const QUEUE = 'counter-58';
const BRIDGE = 'pc-1';
const ESP = 'esp-1';

const procs = new Processes();
const tmp = tempDir('printbridge-finder-');
let t: TestServer | undefined;
let cups: Cups;
/** The bridge's own TCP printer (port 0). */
let tcp: TcpEmulator;
/** The printer behind the CUPS queue. */
let behindCups: TcpEmulator;
let bridge: Bridge | undefined;
let esp: FakeDevice | undefined;
let browser: Browser | undefined;
const bridgeLog: string[] = [];

before(async () => {
  cups = await startCups(procs, tmp.dir);
  behindCups = await tcpEmulator(procs, tmp.dir, [], 'raw');
  await cups.addRawQueue(QUEUE, `socket://127.0.0.1:${behindCups.port}`);
  tcp = await tcpEmulator(procs, tmp.dir, [], 'escpos');

  const data = join(tmp.dir, 'data');
  const store = openStore(data);
  let bridgeToken: string;
  let espToken: string;
  try {
    bridgeToken = addDevice(store, BRIDGE, ['office']);
    espToken = addDevice(store, ESP, []);
  } finally {
    store.close();
  }
  t = await startTestServer({ dataDir: data });
  // No settings file: what is added lasts until the bridge stops, and the page says so.
  bridge = await runBridge({
    server: t.server.url.replace(/^http/, 'ws'), id: BRIDGE, token: bridgeToken,
    printers: [{ uri: `tcp://127.0.0.1:${tcp.port}`, dialect: 'escpos', name: 'Front counter', poll: 500 }],
    // Where the bridge finds CUPS, for its scan and for the cups: printer it opens (the CLI reads CUPS_SERVER).
    portOptions: { cups: cupsServer(cups.server) },
    log: (level, message) => bridgeLog.push(`${level}: ${message}`),
  });
  esp = await FakeDevice.connect(t, ESP, espToken);
  esp.sendJson({ t: 'status', ports: [{ port: 0, state: 'online' }], led: 'online', uptime: 5 });
  browser = await launchChromium();
});

after(async () => {
  esp?.close();
  await browser?.close();
  await bridge?.stop();
  await t?.close();
  await procs.killAll();
  tmp.cleanup();
});

function behindCupsGot(): string {
  try {
    return readFileSync(behindCups.out, 'latin1');
  } catch {
    return '';
  }
}

/** `sent`, when given, collects the printers.add requests the page sends. */
async function openDashboard(sent?: Record<string, unknown>[]): Promise<Page> {
  const page = await browser!.newPage();
  if (sent) {
    page.on('websocket', (ws) => ws.on('framesent', ({ payload }) => {
      const text = typeof payload === 'string' ? payload : payload.toString('utf8');
      if (text.includes('printers.add')) sent.push(JSON.parse(text) as Record<string, unknown>);
    }));
  }
  await page.goto(`${t!.server.url}/#token=test-admin-token`);
  await page.locator('#conn[data-state="open"]').waitFor();
  return page;
}

const deviceRow = (page: Page, id: string) => page.locator('#device-rows tr', { has: page.getByRole('rowheader', { name: id, exact: true }) });

test('a bridge lists what its computer reaches; the CUPS queue is added from the dialog and prints through CUPS', { timeout: 120_000 }, async () => {
  const page = await openDashboard();
  await deviceRow(page, BRIDGE).locator('.badge', { hasText: 'Online' }).waitFor();
  await deviceRow(page, ESP).locator('.badge', { hasText: 'Online' }).waitFor();
  await page.getByRole('listitem', { name: `Printer ${BRIDGE}/0` }).locator('.badge', { hasText: 'Ready' }).waitFor();
  // Only the Node bridge announced printers.scan: the ESP32 stand-in has Identify and nothing more.
  await deviceRow(page, ESP).getByRole('button', { name: `Identify ${ESP}` }).waitFor();
  assert.equal(await page.getByRole('button', { name: `Find printers for ${ESP}` }).count(), 0, 'no button for a device without the capability');

  // Opened from the keyboard.
  const opener = page.getByRole('button', { name: `Find printers for ${BRIDGE}` });
  await opener.focus();
  await page.keyboard.press('Enter');
  const dialog = page.getByRole('dialog', { name: `Printers ${BRIDGE} can reach` });
  await dialog.waitFor();
  const queue = dialog.getByRole('listitem', { name: `cups:${QUEUE}` });
  await queue.waitFor({ timeout: 20_000 });
  assert.match(await queue.innerText(), /CUPS/);
  assert.match(await queue.innerText(), new RegExp(`socket://127\\.0\\.0\\.1:${behindCups.port}`), 'the queue\'s device is in its detail');
  // The bridge's own TCP printer is not searched for, but it is listed as what it is: printer 0.
  const own = dialog.getByRole('listitem', { name: `tcp://127.0.0.1:${tcp.port}` });
  await own.getByText('printer 0').waitFor();
  assert.equal(await own.getByRole('button', { name: /^Add / }).count(), 0, 'a printer of the bridge has no Add form');
  await own.getByRole('button', { name: `Show printer ${BRIDGE}/0` }).waitFor();
  assert.match(await dialog.getByRole('status').innerText(), /found · 1 is already a printer of pc-1/);
  // A CUPS queue prints the bytes as they are: raw is the only dialect offered.
  const dialect = queue.getByRole('combobox', { name: `Dialect for cups:${QUEUE}` });
  const offered = await Promise.all((await dialect.locator('option').all()).map((o) => o.getAttribute('value')));
  assert.deepEqual(offered, ['raw']);
  await screenshot(page, 'dashboard-bridge-printers', false);
  await page.emulateMedia({ colorScheme: 'dark' });
  await screenshot(page, 'dashboard-bridge-printers-dark', false);
  await page.emulateMedia({ colorScheme: 'light' });

  await queue.getByRole('textbox', { name: `Name for cups:${QUEUE}` }).fill('Counter (CUPS)');
  await queue.getByRole('button', { name: `Add cups:${QUEUE}` }).click();
  const toast = page.locator('.toast', { hasText: `Added ${BRIDGE}/1` });
  await toast.waitFor({ timeout: 20_000 });
  assert.match(await toast.innerText(), /not saved/, 'the bridge has no settings file to keep it in');
  const card = page.getByRole('listitem', { name: `Printer ${BRIDGE}/1` });
  await card.getByText('Counter (CUPS)').waitFor({ timeout: 20_000 });
  assert.match(await card.innerText(), /RAW/);
  // Asked again once the bridge came back with it: the queue is now printer 1.
  await queue.getByText('printer 1').waitFor({ timeout: 20_000 });
  assert.equal(await queue.getByRole('button', { name: /^Add / }).count(), 0);
  await screenshot(page, 'dashboard-bridge-printers-added', false);

  // Escape closes it, and focus goes back to the button that opened it.
  await page.keyboard.press('Escape');
  await dialog.waitFor({ state: 'hidden' });
  assert.equal(await page.evaluate<string | null>("document.activeElement?.getAttribute('aria-label') ?? null"), `Find printers for ${BRIDGE}`);

  await card.locator('.badge', { hasText: 'Ready' }).waitFor({ timeout: 20_000 });
  await card.getByRole('button', { name: `Test print on ${BRIDGE}/1` }).click();
  await page.locator('.toast', { hasText: `Test page on ${BRIDGE}/1: done` }).waitFor({ timeout: 60_000 });
  await until('the test page behind the CUPS queue', () => behindCupsGot().endsWith('the printer works.\n\n\n'), 30_000);
  // Raw: the page's bytes exactly as the dashboard sent them (sdk/test-page.ts), nothing added or filtered by CUPS.
  assert.match(behindCupsGot(), /^printbridge test page\n\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\nIf you can read this, the printer works\.\n\n\n$/);
  // CUPS's own record of it.
  assert.match(cups.client('lpstat', ['-W', 'completed', '-o', QUEUE]), new RegExp(`^${QUEUE}-\\d+\\s`, 'm'));
  // From the dialog to the printer's card.
  await opener.click();
  await dialog.getByRole('button', { name: `Show printer ${BRIDGE}/1` }).click();
  await dialog.waitFor({ state: 'hidden' });
  await page.locator(`#printer-list [data-printer="${BRIDGE}/1"][data-marked]`).waitFor();
  await page.close();
});

test('a network printer is added by its address: the page checks it, the bridge refuses one it has, the new one prints', { timeout: 120_000 }, async () => {
  const kitchen = await tcpEmulator(procs, tmp.dir, [], 'escpos');
  const sent: Record<string, unknown>[] = [];
  const page = await openDashboard(sent);
  await page.getByRole('listitem', { name: `Printer ${BRIDGE}/1` }).waitFor();
  await page.getByRole('button', { name: `Find printers for ${BRIDGE}` }).click();
  const dialog = page.getByRole('dialog', { name: `Printers ${BRIDGE} can reach` });
  await dialog.getByRole('listitem', { name: `tcp://127.0.0.1:${tcp.port}` }).getByText('printer 0').waitFor({ timeout: 20_000 });
  const form = dialog.getByRole('form', { name: 'Add a network printer' });
  const host = form.getByRole('textbox', { name: 'Host' });
  const port = form.getByRole('textbox', { name: 'Port' });
  const dialect = form.getByRole('combobox', { name: 'Dialect' });
  const add = form.getByRole('button', { name: 'Add printer' });
  const error = dialog.locator('#finder-net-error');
  const preview = dialog.locator('#finder-net-uri');
  const focused = (): Promise<string | null> => page.evaluate<string | null>('document.activeElement?.id ?? null');
  assert.equal(await port.inputValue(), '9100');
  assert.equal(await dialect.inputValue(), 'raw', 'raw by default, as in the scanned entries\' forms');
  const offered = await Promise.all((await dialect.locator('option').all()).map((o) => o.getAttribute('value')));
  assert.deepEqual(offered, ['raw', 'escpos', 'tspl', 'zpl', 'gcode']);

  // What the page refuses stays in the page: said next to the form, focus on the field to fix.
  await add.click();
  await error.getByText("Enter the printer's host name or IP address.").waitFor();
  assert.equal(await host.getAttribute('aria-invalid'), 'true');
  assert.equal(await focused(), 'finder-net-host');
  await host.fill('front counter');
  assert.equal(await error.textContent(), '', 'the complaint goes once the field is edited');
  assert.equal(await host.getAttribute('aria-invalid'), null);
  await host.press('Enter');
  await error.getByText('front counter is not a host name', { exact: false }).waitFor();
  await host.fill('10.0.0.256');
  await host.press('Enter');
  await error.getByText('10.0.0.256 is not an IPv4 address', { exact: false }).waitFor();
  // An IPv6 address goes in brackets, typed with them or without.
  await host.fill('fe80::1');
  await preview.getByText('Adds tcp://[fe80::1]:9100', { exact: true }).waitFor();
  await host.fill('[::1]');
  await preview.getByText('Adds tcp://[::1]:9100', { exact: true }).waitFor();
  await host.fill('127.0.0.1');
  await port.fill('70000');
  assert.equal(await preview.textContent(), '', 'no address while the port is out of range');
  await port.press('Enter');
  await error.getByText('The port must be a number from 1 to 65535.').waitFor();
  assert.equal(await port.getAttribute('aria-invalid'), 'true');
  assert.equal(await host.getAttribute('aria-invalid'), null);
  assert.equal(await focused(), 'finder-net-port');
  await port.fill('0');
  await add.click();
  await error.getByText('The port must be a number from 1 to 65535.').waitFor();
  assert.deepEqual(sent, [], 'nothing the page refused was sent');

  // The bridge's own printer, by the address it was configured with: the bridge refuses, and its reason is shown with its code.
  await port.fill(String(tcp.port));
  await add.click();
  await error.getByText(new RegExp(`^BAD_FIELD: tcp://127\\.0\\.0\\.1:${tcp.port} is already printer 0 of this bridge$`)).waitFor({ timeout: 20_000 });
  await page.locator('.toast', { hasText: `Adding tcp://127.0.0.1:${tcp.port} to ${BRIDGE} failed` }).waitFor();
  assert.equal(sent.length, 1);
  assert.equal(await host.inputValue(), '127.0.0.1', 'what was typed stays, to be corrected');
  await until('the form usable again', () => add.isEnabled());
  await screenshot(page, 'dashboard-bridge-printers-network', false);

  // The new printer, from the keyboard: Tab from field to field, an arrow key picks the dialect after raw.
  await port.fill(String(kitchen.port));
  await page.keyboard.press('Tab');
  assert.equal(await focused(), 'finder-net-dialect');
  await page.keyboard.press('ArrowDown');
  assert.equal(await dialect.inputValue(), 'escpos');
  await page.keyboard.press('Tab');
  assert.equal(await focused(), 'finder-net-name');
  await page.keyboard.type('Kitchen');
  await preview.getByText(`Adds tcp://127.0.0.1:${kitchen.port}`, { exact: true }).waitFor();
  assert.equal(await error.textContent(), '', 'the bridge\'s reason was about the address as it was');
  await page.keyboard.press('Enter');
  const toast = page.locator('.toast', { hasText: `Added ${BRIDGE}/2` });
  await toast.waitFor({ timeout: 20_000 });
  assert.match(await toast.innerText(), /not saved/);
  assert.equal(sent.length, 2);
  const request = JSON.stringify(sent[1]);
  for (const part of [`"uri":"tcp://127.0.0.1:${kitchen.port}"`, '"dialect":"escpos"', '"name":"Kitchen"']) assert.ok(request.includes(part), `${part} in ${request}`);
  assert.equal(await error.textContent(), '');
  const card = page.getByRole('listitem', { name: `Printer ${BRIDGE}/2` });
  await card.getByText('Kitchen').waitFor({ timeout: 20_000 });
  assert.match(await card.innerText(), /ESCPOS/);
  // Asked again once the bridge came back: the address is listed as its printer 2, and the form is empty for the next one.
  await dialog.getByRole('listitem', { name: `tcp://127.0.0.1:${kitchen.port}` }).getByText('printer 2').waitFor({ timeout: 20_000 });
  assert.equal(await host.inputValue(), '');
  assert.equal(await port.inputValue(), '9100');
  await until('the form usable again', () => host.isEnabled());

  await page.keyboard.press('Escape');
  await dialog.waitFor({ state: 'hidden' });
  await card.locator('.badge', { hasText: 'Ready' }).waitFor({ timeout: 20_000 });
  await card.getByRole('button', { name: `Test print on ${BRIDGE}/2` }).click();
  await page.locator('.toast', { hasText: `Test page on ${BRIDGE}/2: done` }).waitFor({ timeout: 60_000 });
  const printed = (): string => {
    try {
      return readFileSync(kitchen.printed, 'latin1');
    } catch {
      return '';
    }
  };
  await until('the test page at the network printer', () => printed().endsWith('\x1dV\x42\x00'), 30_000);
  // The ESC/POS page (sdk/test-page.ts), as the dashboard made it.
  assert.match(printed(), /^\x1b@\x1ba\x01\x1d!\x11printbridge test page\n\x1d!\x00\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\nIf you can read this, the printer works\.\n\x1ba\x00\x1bd\x04\x1dV\x42\x00$/);
  await page.close();
});

test('the bridge going away while the dialog is open: the list stays, marked as from before, and nothing can be added', { timeout: 60_000 }, async () => {
  const page = await openDashboard();
  await page.getByRole('button', { name: `Find printers for ${BRIDGE}` }).click();
  const dialog = page.getByRole('dialog', { name: `Printers ${BRIDGE} can reach` });
  await dialog.getByRole('listitem', { name: `cups:${QUEUE}` }).getByText('printer 1').waitFor({ timeout: 20_000 });
  const again = dialog.getByRole('button', { name: 'Scan again' });
  await until('Scan again enabled', () => again.isEnabled());
  // A source the bridge cannot read is a line of its own; what it has is still listed.
  await cups.stop();
  await again.click();
  const problems = dialog.getByRole('list', { name: 'Places that could not be read' });
  await problems.getByText(/^CUPS: /).waitFor({ timeout: 20_000 });
  assert.match(await dialog.getByRole('status').innerText(), /one place could not be read/);
  const queue = dialog.getByRole('listitem', { name: `cups:${QUEUE}` });
  await queue.getByText('not found on this computer now').waitFor();
  await queue.getByText('printer 1').waitFor();
  await screenshot(page, 'dashboard-bridge-printers-problem', false);
  await until('Scan again enabled', () => again.isEnabled());
  await bridge!.stop();
  bridge = undefined;
  await dialog.getByRole('status').getByText(`${BRIDGE} is offline. The list is from before`).waitFor({ timeout: 20_000 });
  assert.ok(await again.isDisabled(), 'nothing to ask');
  await dialog.getByRole('listitem', { name: `cups:${QUEUE}` }).waitFor();
  for (const add of await dialog.getByRole('button', { name: /^Add / }).all()) assert.ok(await add.isDisabled(), 'no Add while the bridge is away');
  const network = dialog.getByRole('form', { name: 'Add a network printer' });
  assert.ok(await network.getByRole('button', { name: 'Add printer' }).isDisabled());
  for (const field of await network.locator('input, select').all()) assert.ok(await field.isDisabled(), 'no network printer either');
  // Its row says so too, and no longer offers the dialog.
  await deviceRow(page, BRIDGE).locator('.badge', { hasText: 'Offline' }).waitFor();
  assert.equal(await page.getByRole('button', { name: `Find printers for ${BRIDGE}` }).count(), 0);
  await screenshot(page, 'dashboard-bridge-printers-offline', false);
  await dialog.getByRole('button', { name: 'Close' }).click();
  await dialog.waitFor({ state: 'hidden' });
  assert.deepEqual(browser!.problems, [], 'no page errors and no console errors (CSP included)');
  await page.close();
});
