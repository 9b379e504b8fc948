// A real headless browser for the web view's tests: Debian's chromium (infra/provision.sh), driven by playwright-core
// (its own browser downloads are not reachable here). As root it runs without its sandbox.
import { mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Browser, chromium, Page } from 'playwright-core';

export const CHROMIUM = process.env.ZANSHIN_CHROMIUM ?? '/usr/bin/chromium';
/** Where the tests leave their screenshots (the README's come from a run of the images test). */
export const SCREENSHOTS = path.join(os.tmpdir(), 'zanshin-test-logs', 'screenshots');

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
}

/** A fresh browser context (its own cookies) on the web view, logged in through the page's form with `token`. */
export async function loggedIn(browser: Browser, baseUrl: string, token: string): Promise<Page> {
  const page = await (await browser.newContext({ viewport: { width: 1200, height: 800 } })).newPage();
  await page.goto(`${baseUrl}/`);
  await page.fill('#token', token);
  await page.click('#login button[type=submit]');
  await page.waitForSelector('#campus:not([hidden])');
  return page;
}

export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  const file = path.join(SCREENSHOTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}
