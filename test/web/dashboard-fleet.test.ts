// The dashboard with a fleet, in Chromium: 10,000 devices (and 13,333
// printers) seeded straight into the store as devices that said hello once
// and went away, and one of them, far down the list, online for real. The
// page must show one page of rows, not thousands; search and the filters
// must find that device; and its going offline must show on its row.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Page } from 'playwright-core';
import type { PortInfo } from '../../protocol/device-messages.js';
import { openStore } from '../../server/store/db.js';
import { addDevice, recordHello } from '../../server/store/devices.js';
import { startTestServer, tempDir, type TestServer } from '../helpers/server.js';
import { FakeDevice } from '../server/peers.js';
import { launchChromium, screenshot, type Browser } from './browser.js';

const DEVICES = 10_000;
/** Every third device has a second printer (labels), but the online one: its hello names one port. */
const PRINTERS = DEVICES + Math.ceil(DEVICES / 3) - ((DEVICES - 1) % 3 === 0 ? 1 : 0);
const n = (x: number): string => x.toLocaleString('en');
const TAGS = ['north', 'south', 'east', 'west'];
/** The one online device: the last of the list. */
const FAR = `shop-${DEVICES - 1}`;
/** What one page may hold (web/devices.ts, web/printers.ts). */
const MAX_ROWS = 50;
const MAX_CARDS = 24;

let t: TestServer;
let browser: Browser | undefined;
let farToken = '';
let far: FakeDevice | undefined;

before(async () => {
  const dir = tempDir('printbridge-fleet-');
  const store = openStore(dir);
  try {
    const seen = Date.now() - 3_600_000;
    store.db.transaction(() => {
      for (let i = 0; i < DEVICES; i++) {
        const id = `shop-${i}`;
        const token = addDevice(store, id, [TAGS[i % TAGS.length]!]);
        if (id === FAR) farToken = token;
        const ports: PortInfo[] = i % 3 === 0 ? [{ port: 0, dialect: 'escpos' }, { port: 1, dialect: 'zpl', name: `Labels ${i}` }] : [{ port: 0, dialect: 'escpos' }];
        recordHello(store, id, { fw: 'fleet-1.0', ports }, seen);
      }
    })();
  } finally {
    store.close();
  }
  t = await startTestServer({ dataDir: dir });
  far = await FakeDevice.connect(t, FAR, farToken);
  far.sendJson({ t: 'status', ports: [{ port: 0, state: 'online' }], led: 'online', uptime: 5 });
  browser = await launchChromium();
});

after(async () => {
  far?.close();
  await browser?.close();
  await t?.close();
});

async function open(): Promise<Page> {
  const page = await browser!.newPage();
  await page.goto(`${t.server.url}/#token=test-admin-token`);
  await page.locator('#conn[data-state="open"]').waitFor();
  await page.locator('#devices-count', { hasText: `1 of ${DEVICES.toLocaleString('en')} online` }).waitFor();
  return page;
}

const deviceRow = (page: Page, id: string) => page.locator('#device-rows tr', { has: page.getByRole('rowheader', { name: id, exact: true }) });

test('10,000 devices: one page of rows and cards, counts of all of them; the printer to print on is found by a search', { timeout: 60_000 }, async () => {
  const page = await open();
  const rows = await page.locator('#device-rows tr').count();
  const cards = await page.locator('#printer-list > li').count();
  assert.ok(rows > 0 && rows <= MAX_ROWS, `${rows} device rows`);
  assert.ok(cards > 0 && cards <= MAX_CARDS, `${cards} printer cards`);
  const elements = await page.locator('*').count();
  assert.ok(elements < 5000, `${elements} elements in the page`);
  assert.equal(await page.locator('#devices-range').innerText(), `1–${MAX_ROWS} of ${n(DEVICES)}`);
  assert.equal(await page.locator('#printers-range').innerText(), `1–${MAX_CARDS} of ${n(PRINTERS)}`);
  assert.ok((await page.locator('#summary').innerText()).startsWith(`1/${n(DEVICES)} devices online · ${n(PRINTERS)} printers`));
  // The printer to print a file on is found by a search, not in a list of thousands.
  // The first 50 of them, and the placeholder: none would pass a mere "at most".
  assert.equal(await page.locator('#upload-printer option').count(), 51);
  await page.getByLabel('Find a printer to print on').fill('labels 2997');
  await page.getByLabel('Printer', { exact: true }).selectOption('shop-2997/1');
  // Ids sort as a person reads them: shop-2 before shop-10.
  assert.deepEqual((await page.locator('#device-rows tr th').allInnerTexts()).slice(0, 3), ['shop-0', 'shop-1', 'shop-2']);

  await page.getByRole('button', { name: 'Next page of printers' }).click();
  await page.locator('#printers-range', { hasText: `${MAX_CARDS + 1}–${2 * MAX_CARDS} of ${n(PRINTERS)}` }).waitFor();
  assert.ok((await page.locator('#printer-list > li').count()) <= MAX_CARDS);
  await screenshot(page, 'dashboard-fleet');
  await page.close();
});

test('search and filters find the device at the end of the list; its going offline shows on its row', { timeout: 60_000 }, async () => {
  const page = await open();
  assert.equal(await deviceRow(page, FAR).count(), 0, 'the last device is pages away');

  await page.getByLabel('Search devices').fill(String(DEVICES - 1));
  const row = deviceRow(page, FAR);
  await row.locator('.badge', { hasText: 'Online' }).waitFor();
  assert.equal(await page.locator('#devices-range').innerText(), '1–1 of 1 matching');

  // The state filter alone finds it too, and the tag filter narrows by the device's tag.
  await page.getByLabel('Search devices').fill('');
  await page.getByLabel('Device state').selectOption('online');
  await row.waitFor();
  assert.equal(await page.locator('#device-rows tr').count(), 1);
  await page.getByLabel('Device state').selectOption('all');
  await page.getByLabel('Device tag').selectOption(TAGS[(DEVICES - 1) % TAGS.length]!);
  await page.locator('#devices-range', { hasText: `of ${n(DEVICES / TAGS.length)} matching` }).waitFor();
  await page.getByLabel('Device tag').selectOption('');

  // Printers: by name, and by the state filter.
  await page.getByLabel('Search printers').fill('labels 2997');
  await page.getByRole('listitem', { name: 'Printer shop-2997/1' }).waitFor();
  assert.equal(await page.locator('#printer-list > li').count(), 1);
  await page.getByLabel('Search printers').fill('');
  await page.getByLabel('Printer state').selectOption('ready');
  await page.getByRole('listitem', { name: `Printer ${FAR}/0` }).locator('.badge', { hasText: 'Ready' }).waitFor();
  await page.getByLabel('Printer state').selectOption('all');

  await page.getByLabel('Search devices').fill(FAR);
  await row.locator('.badge', { hasText: 'Online' }).waitFor();
  far?.close();
  await row.locator('.badge', { hasText: 'Offline' }).waitFor();
  assert.equal(await row.getAttribute('data-online'), 'false');
  await page.locator('#devices-count', { hasText: `0 of ${n(DEVICES)} online` }).waitFor();
  await page.locator('#activity-log li', { hasText: `${FAR} went offline` }).waitFor();
  // Back, with its status at once as a real device sends it: the page, which
  // subscribes coalescing, may hear only the status, and still logs the return.
  far = await FakeDevice.connect(t, FAR, farToken);
  far.sendJson({ t: 'status', ports: [{ port: 0, state: 'online' }], led: 'online', uptime: 1 });
  await page.locator('#activity-log li', { hasText: `${FAR} came online` }).waitFor();
  await page.close();
  assert.deepEqual(browser!.problems, [], 'no page errors and no console errors');
});
