// Debian's Chromium driven by playwright-core (npm cannot download a browser
// here): a fresh profile per launch, closed and removed on teardown. Install
// the browser with scripts/install-system-deps.sh.

import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Locator, type Page } from 'playwright-core';
import { REPO_ROOT } from '../helpers/processes.js';

export const CHROMIUM = '/usr/bin/chromium';
export const SCREENSHOTS = join(REPO_ROOT, 'test-output');

const ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync',
];

export interface Browser {
  context: BrowserContext;
  /** Uncaught page errors and console errors (a CSP violation shows up here). */
  problems: string[];
  newPage(): Promise<Page>;
  close(): Promise<void>;
}

/**
 * `trustAnyCertificate` is for a server with a throwaway test CA that
 * Chromium cannot be told about per profile; use it only where the page's
 * own TLS is not what the test checks.
 */
export async function launchChromium(viewport = { width: 1440, height: 1000 }, opts: { trustAnyCertificate?: boolean } = {}): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: run scripts/install-system-deps.sh (apt-get install chromium)`);
  const profile = mkdtempSync(join(tmpdir(), 'printbridge-chromium-'));
  // launchPersistentContext is Playwright's way of passing --user-data-dir.
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM, headless: true, args: ARGS, viewport, ignoreHTTPSErrors: opts.trustAnyCertificate === true,
  });
  const problems: string[] = [];
  const watch = (page: Page): void => {
    page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(`console: ${m.text()}`);
    });
  };
  context.pages().forEach(watch);
  context.on('page', watch);
  return {
    context,
    problems,
    newPage: () => context.newPage(),
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

export async function screenshot(page: Page, name: string, fullPage = true): Promise<string> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  const path = join(SCREENSHOTS, `${name}.png`);
  await page.screenshot({ path, fullPage });
  return path;
}

/** A screenshot of one element (a printer's card), beside the page's. */
export async function screenshotOf(locator: Locator, name: string): Promise<string> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  const path = join(SCREENSHOTS, `${name}.png`);
  await locator.screenshot({ path });
  return path;
}
