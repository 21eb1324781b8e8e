// What the browser tests share: Debian's Chromium, headless, with a page whose console errors,
// page errors and failed requests are collected; check(what) fails the run if any came.
import { chromium } from 'playwright-core';

export async function openPage() {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    // Chromium's own network features would try to reach Google; this machine's network is closed.
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
           '--disable-component-update', '--disable-sync'],
  });
  // The UMS's certificate is signed by the installation CA, which this browser profile does not
  // know; TLS itself is tested elsewhere (tls_test, openssl s_client).
  const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1000, height: 1000 } });
  const page = await context.newPage();
  const problems = [];
  page.on('console', (m) => { if (m.type() === 'error') problems.push('console: ' + m.text()); });
  page.on('pageerror', (e) => problems.push('page error: ' + e.message));
  page.on('requestfailed', (r) => {
    // noVNC's WebSocket ends when a session ends; that is not a failed request.
    if (!r.url().startsWith('wss:')) problems.push('request failed: ' + r.url() + ' ' + r.failure()?.errorText);
  });
  const check = (what) => {
    if (problems.length) throw new Error(what + ': ' + problems.join('; '));
    console.log('ok: ' + what);
  };
  return { browser, page, problems, check };
}
