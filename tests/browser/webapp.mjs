// Headless Chromium (Debian's) against the Web App of a real UMS:
//   node webapp.mjs URL USER PASSWORD DEVICE_NAME SCREENSHOT_DIR
// Logs in, finds the device in the list (and the filter), shadows it in full control and in view
// only, waits until noVNC's canvas shows the red/blue checkerboard of the device's Xvnc (with a
// negative control), clicks into the screen and reads the device's pointer on its X server
// ($DEVICE_DISPLAY, with xdotool): it must land where the browser clicked in full control (the
// positive control) and stay put in view only, even when the page's own view-only guard is
// switched off (then only the device's filter stands in the way). Sessions show in the sessions
// list; one is ended from the viewer, the other from the list. Then it logs out and checks that
// the shadowing WebSocket is refused. Any console
// error, page error, failed request or CSP violation fails the run. Screenshots go to
// SCREENSHOT_DIR. Prints one line per check; exits 1 on the first failure.
// Keys typed in the browser are read on the device's X server with xev (they arrive in full
// control, not in view only); the clipboard panel carries text both ways in full control and is
// hidden in view only. Optional environment: EXPECT_STEP, words the set-up status must show while
// the session is being set up (e.g. "waiting for the device's user"); REFUSED_DEVICE, the name of
// a device that refuses, whose reason the page must show in words.
import { execFileSync, spawn } from 'node:child_process';
import { openPage } from './harness.mjs';

const [url, user, password, deviceName, shots] = process.argv.slice(2);
const fail = (why) => { throw new Error(why); };

let xev = null;  // the device's key log, stopped at the end
const { browser, page, problems, check } = await openPage();
try {

  await page.goto(url);
  check('the page loads without CSP violations or errors');
  await page.fill('#user', user);
  await page.fill('#password', password);
  await page.click('form#login button');
  const row = page.locator('#devices tbody tr', { hasText: deviceName });
  await row.waitFor({ timeout: 10000 });
  check('login shows the device list with ' + deviceName);

  const os = process.env.EXPECT_OS || 'OS 12';
  if (!(await row.textContent()).includes(os)) fail('the device row does not show its OS family (' + os + '): ' + await row.textContent());
  await page.fill('#filter', 'no-such-device-xyz');
  if (await row.count() !== 0) fail('the filter did not hide ' + deviceName);
  await page.fill('#filter', deviceName.slice(0, 4));
  await row.waitFor({ timeout: 5000 });
  check('the filter hides and shows devices');

  // Reads the framebuffer pixel at (x, y) from noVNC's canvas.
  const pixel = (x, y) => page.evaluate(([x, y]) => {
    const c = document.querySelector('#screen canvas');
    if (!c || c.width < 16) return null;
    return Array.from(c.getContext('2d').getImageData(x, y, 1, 1).data.slice(0, 3));
  }, [x, y]);
  const near = (p, rgb) => p && p.every((v, i) => Math.abs(v - rgb[i]) <= 16);
  const waitCheckerboard = async (what) => {
    for (let i = 0; i < 100; ++i) {
      if (near(await pixel(4, 4), [255, 0, 0]) && near(await pixel(12, 4), [0, 0, 255])) break;
      await page.waitForTimeout(100);
    }
    const red = await pixel(4, 4), blue = await pixel(12, 4);
    if (!near(red, [255, 0, 0])) fail(what + ': (4,4) is ' + red + ', expected red');
    if (!near(blue, [0, 0, 255])) fail(what + ': (12,4) is ' + blue + ', expected blue');
    if (near(red, [0, 0, 255]) || near(blue, [255, 0, 0])) fail(what + ': negative control passed');
    check(what + ': noVNC shows the checkerboard (negative control rejected)');
  };

  // The device's X server, read and moved with xdotool.
  const xdotool = (...args) => execFileSync('xdotool', args, { env: { ...process.env, DISPLAY: process.env.DEVICE_DISPLAY },
                                                              timeout: 5000 }).toString();
  const devicePointer = () => {
    const m = /x:(\d+) y:(\d+)/.exec(xdotool('getmouselocation'));
    return [Number(m[1]), Number(m[2])];
  };
  // Clicks the framebuffer position (fx, fy) through the scaled canvas.
  const clickScreen = async (fx, fy) => {
    await page.locator('#screen canvas').scrollIntoViewIfNeeded();
    const box = await page.locator('#screen canvas').boundingBox();
    const [w, h] = await page.evaluate(() => { const c = document.querySelector('#screen canvas'); return [c.width, c.height]; });
    const x = box.x + (fx + 0.5) * box.width / w, y = box.y + (fy + 0.5) * box.height / h;
    await page.mouse.move(x - 5, y - 5);
    await page.mouse.move(x, y);
    await page.mouse.click(x, y);
  };
  const pointerAt = async (x, y, ms) => {
    for (let waited = 0; waited <= ms; waited += 100) {
      const [px, py] = devicePointer();
      if (Math.abs(px - x) <= 2 && Math.abs(py - y) <= 2) return true;
      await page.waitForTimeout(100);
    }
    return false;
  };

  // The device's keyboard as its X server sees it: xev on the root window (no window manager, so
  // the focus follows the pointer, which is over the root window).
  const deviceEnv = { ...process.env, DISPLAY: process.env.DEVICE_DISPLAY };
  let keysSeen = '';
  xev = spawn('xev', ['-root', '-event', 'keyboard'], { env: deviceEnv, stdio: ['ignore', 'pipe', 'ignore'] });
  xev.stdout.on('data', (d) => { keysSeen += d.toString(); });
  const keyArrived = async (ch, ms) => {
    const mark = 'keysym 0x' + ch.charCodeAt(0).toString(16) + ', ' + ch;
    for (let waited = 0; waited <= ms; waited += 100) {
      if (keysSeen.includes(mark)) return true;
      await page.waitForTimeout(100);
    }
    return false;
  };
  const deviceClipboard = () => execFileSync('xclip', ['-o', '-selection', 'clipboard'], { env: deviceEnv, timeout: 5000 }).toString();

  for (const viewOnly of [false, true]) {
    const mode = viewOnly ? 'view only' : 'full control';
    await page.setChecked('#view-only', viewOnly);
    await row.locator('button').click();
    if (process.env.EXPECT_STEP) {
      await page.locator('#status', { hasText: process.env.EXPECT_STEP }).waitFor({ timeout: 10000 });
      check(mode + ': while it is set up the page shows "' + (await page.textContent('#status')) + '"');
      await page.screenshot({ path: `${shots}/webapp-setup-${viewOnly ? 'view-only' : 'full-control'}.png` });
    }
    await page.waitForFunction(() => document.title.startsWith('shadowing '), null, { timeout: 20000 });
    await waitCheckerboard(mode);
    await page.locator('#sessions tbody tr', { hasText: mode }).waitFor({ timeout: 10000 });
    check(mode + ': the session is in the sessions list');

    xdotool('mousemove', '300', '200');
    await clickScreen(80, 60);
    if (!viewOnly) {
      if (!await pointerAt(80, 60, 3000)) fail('full control: the click did not move the device pointer to 80,60 but ' + devicePointer());
      check('full control: the browser\'s click lands on the device (' + devicePointer() + ')');
      await page.keyboard.type('shl');
      for (const ch of 'shl') if (!await keyArrived(ch, 3000)) fail('full control: the key ' + ch + ' typed in the browser did not reach the device');
      check('full control: keys typed in the browser arrive on the device\'s X server');
      // Clipboard: the device's text shows in the panel; the panel's text reaches the device.
      const fromDevice = 'from-the-device-' + Date.now();
      const owner = spawn('xclip', ['-i', '-selection', 'clipboard', '-quiet'], { env: deviceEnv, stdio: ['pipe', 'ignore', 'ignore'] });
      owner.stdin.end(fromDevice);
      try {
        await page.click('#clipboard-panel summary');
        await page.waitForFunction((t) => document.querySelector('#clipboard').value === t, fromDevice, { timeout: 10000 });
      } finally {
        owner.kill();
      }
      const fromBrowser = 'from-the-browser-' + Date.now();
      if (fromBrowser === fromDevice) fail('the two clipboard texts must differ');
      await page.fill('#clipboard', fromBrowser);
      await page.click('#clipboard-send');
      let got = '';
      for (let i = 0; i < 50 && got !== fromBrowser; ++i) { await page.waitForTimeout(100); got = deviceClipboard(); }
      if (got !== fromBrowser) fail('full control: the clipboard panel\'s text did not reach the device (device has "' + got + '")');
      check('full control: the clipboard panel shows the device\'s clipboard and sends its text to the device');
    } else {
      if (await page.isVisible('#clipboard-panel')) fail('view only: the clipboard panel is shown');
      if (await page.isVisible('#keys')) fail('view only: the special keys are offered');
      if (!await pointerAt(300, 200, 0) || await pointerAt(80, 60, 1500)) fail('view only: the device pointer moved to ' + devicePointer());
      // A client that ignores view only: the device's filter must still drop its input.
      await page.evaluate(() => { window.shadowlinkRfb.viewOnly = false; });
      await clickScreen(120, 90);
      if (await pointerAt(120, 90, 1500) || !await pointerAt(300, 200, 0)) fail('view only: input got through the device\'s filter: ' + devicePointer());
      await page.keyboard.type('vxq');
      for (const ch of 'vxq') if (await keyArrived(ch, ch === 'q' ? 1500 : 0)) fail('view only: the key ' + ch + ' reached the device');
      check('view only: no click or key reaches the device, even with the page\'s guard off; no clipboard panel, no special keys');
    }
    await page.screenshot({ path: `${shots}/webapp-${viewOnly ? 'view-only' : 'full-control'}.png` });
    if (!viewOnly) await page.click('#disconnect');
    else await page.locator('#sessions tbody tr', { hasText: mode }).locator('button').click();
    await page.locator('#status', { hasText: 'ended' }).waitFor({ timeout: 10000 });
    check(mode + ': ending the session ' + (viewOnly ? 'from the sessions list' : 'from the viewer') + ' shows it ended');
    await row.locator('button:not([disabled])').waitFor({ timeout: 10000 });
  }

  if (process.env.REFUSED_DEVICE) {
    // A device that refuses: the reason reaches the page in words, not as a bare "disconnected".
    await page.setChecked('#view-only', false);
    await page.fill('#filter', '');
    await page.locator('#devices tbody tr', { hasText: process.env.REFUSED_DEVICE }).locator('button').click();
    await page.locator('#status', { hasText: 'Could not shadow' }).waitFor({ timeout: 20000 });
    const said = await page.textContent('#status');
    if (!said.includes('not reachable')) fail('the refusal\'s reason is not shown: ' + said);
    // noVNC logs a refused connection as a console error with the server's close reason: expected
    // here, and only that one.
    const expected = (p) => p.startsWith('console: Failed when connecting: Connection closed') && p.includes('not reachable');
    if (problems.every(expected)) problems.length = 0;
    check('a refusing device: the page says why ("' + said + '")');
    await page.screenshot({ path: `${shots}/webapp-refused.png` });
  }

  await page.click('#logout');
  await page.locator('form#login').waitFor({ state: 'visible', timeout: 5000 });
  const status = await page.evaluate(() => new Promise((resolve) => {
    const ws = new WebSocket('wss://' + location.host + '/webapp/shadow?device=x');
    ws.onopen = () => resolve('open');
    ws.onerror = () => resolve('refused');
  }));
  if (status !== 'refused') fail('after logout the shadowing WebSocket was ' + status);
  // The refused upgrade is logged by Chromium as a console error: expected here, not a problem.
  problems.length = 0;
  console.log('ok: after logout the shadowing WebSocket is refused');
  await page.screenshot({ path: `${shots}/webapp-logged-out.png` });
} catch (e) {
  console.error('FAIL: ' + e.message);
  process.exitCode = 1;
} finally {
  xev?.kill();
  await browser.close();
}
