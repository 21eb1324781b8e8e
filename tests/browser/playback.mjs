// Headless Chromium (Debian's) against a UMS that records the device's sessions:
//   node playback.mjs URL USER PASSWORD DEVICE_NAME SCREENSHOT_DIR   (DEVICE_DISPLAY: the device's X display)
// Shadows the device in the Web App while its screen turns red, then green, then blue (xsetroot
// on the device's Xvnc), ends the session, opens its recording from the list of recorded sessions
// and plays it at 2x: the player's canvas must show red, green and blue in that order (sampled
// as it plays; colours are judged with a negative control). Then: pause holds the position,
// seeking to the end shows blue, seeking back to where red was shows red again (the player
// replays from the start). Any console error, page error or failed request fails the run.
// With RECORDED_ELSEWHERE=1 the newest recording was made by another viewer (another pixel
// format): the same playback checks, on the UMS's browser copy of it.
import { execFileSync } from 'node:child_process';
import { openPage } from './harness.mjs';

const [url, user, password, deviceName, shots] = process.argv.slice(2);
const fail = (why) => { throw new Error(why); };
const { browser, page, check } = await openPage();
try {
  const root = (colour) => execFileSync('xsetroot', ['-solid', colour], { env: { ...process.env, DISPLAY: process.env.DEVICE_DISPLAY }, timeout: 5000 });
  const pixel = (selector, x, y) => page.evaluate(([selector, x, y]) => {
    const c = document.querySelector(selector + ' canvas');
    if (!c || c.width < 16) return null;
    return Array.from(c.getContext('2d').getImageData(x, y, 1, 1).data.slice(0, 3));
  }, [selector, x, y]);
  const colours = { red: [255, 0, 0], green: [0, 255, 0], blue: [0, 0, 255] };
  const near = (p, rgb) => p && p.every((v, i) => Math.abs(v - rgb[i]) <= 16);
  const nameOf = (p) => Object.keys(colours).find((k) => near(p, colours[k])) || 'other';
  if (nameOf([0, 255, 0]) === 'red' || nameOf([250, 5, 3]) !== 'red' || nameOf([128, 128, 0]) !== 'other') fail('test bug: colour names');
  const waitColour = async (selector, name, ms) => {
    for (let waited = 0; waited <= ms; waited += 50) {
      if (nameOf(await pixel(selector, 12, 4)) === name) return true;
      await page.waitForTimeout(50);
    }
    return false;
  };

  await page.goto(url);
  await page.fill('#user', user);
  await page.fill('#password', password);
  await page.click('form#login button');
  const row = page.locator('#devices tbody tr', { hasText: deviceName });
  await row.waitFor({ timeout: 10000 });
  check('login shows ' + deviceName + ' and the recordings list');

  // RECORDED_ELSEWHERE=1: the session was recorded by another viewer (the caller made it); this
  // run only plays it, which must go through the UMS's browser copy.
  const elsewhere = process.env.RECORDED_ELSEWHERE === '1';
  if (!elsewhere) {
    await row.locator('button').click();
    await page.waitForFunction(() => document.title.startsWith('shadowing '), null, { timeout: 20000 });
    // (12,4) is blue in the checkerboard: the first change to see is red.
    if (!(await waitColour('#screen', 'blue', 10000))) fail('the live session does not show the checkerboard');
    for (const name of ['red', 'green', 'blue']) {
      root(name);
      if (!(await waitColour('#screen', name, 5000))) fail('the live session did not turn ' + name);
      await page.waitForTimeout(1000);
    }
    check('the live session showed red, green, blue');
    await page.click('#disconnect');
    await page.locator('#status', { hasText: 'ended' }).waitFor({ timeout: 10000 });
  }

  // The newest recording is the first row; its state is complete once the session has ended.
  const recorded = page.locator('#recordings tbody tr', { hasText: 'complete' }).first();
  await recorded.waitFor({ timeout: 15000 });
  if (!(await recorded.textContent()).includes(process.env.DEVICE_ID || 'tc-1')) fail('the recording row does not name the device');
  check('the recording is listed: ' + (await recorded.textContent()).replace(/\s+/g, ' '));
  await recorded.locator('button').click();
  await page.waitForFunction(() => window.shadowlinkPlayer && !document.querySelector('#play').disabled, null, { timeout: 60000 });
  // The Web App's own recordings play as recorded; another viewer's from the browser copy.
  const said = await page.textContent('#status');
  if (said.includes('prepared for the browser') !== elsewhere) fail('the player says "' + said + '"');
  check('the player says: ' + said);
  await page.selectOption('#speed', '2');
  await page.click('#play');
  const seen = [];
  const times = {};
  let ended = 0;
  for (let i = 0; i < 400; ++i) {
    const name = nameOf(await pixel('#playback', 12, 4));
    if (name !== 'other' && seen[seen.length - 1] !== name) {
      seen.push(name);
      times[name] = await page.evaluate(() => window.shadowlinkPlayer.now);
    }
    // Once the last block is delivered, noVNC still draws it (on its next animation frame).
    if (await page.evaluate(() => !window.shadowlinkPlayer.playing)) {
      if (seen[seen.length - 1] === 'blue' || (ended = (ended || 0) + 1) > 40) break;
    }
    await page.waitForTimeout(25);
  }
  const tail = seen.slice(-3).join(', ');
  if (tail !== 'red, green, blue') fail('playback showed ' + seen.join(', ') + ', not red, green, blue at the end (page status: ' + await page.textContent('#status') + ')');
  if (seen.indexOf('red') > seen.indexOf('green') || seen.indexOf('green') > seen.lastIndexOf('blue')) fail('colours out of order: ' + seen.join(', '));
  check('playback at 2x showed ' + seen.join(', ') + ' (red at ' + Math.round(times.red) + ' ms of ' +
        Math.round(await page.evaluate(() => window.shadowlinkPlayer.duration)) + ')');
  await page.screenshot({ path: `${shots}/playback.png` });

  // Pause holds the position.
  await page.evaluate((t) => window.shadowlinkPlayer.seek(t), times.red);
  await page.click('#play');
  await page.waitForTimeout(200);
  await page.click('#play');
  const pausedAt = await page.evaluate(() => window.shadowlinkPlayer.now);
  await page.waitForTimeout(600);
  if (await page.evaluate(() => window.shadowlinkPlayer.now) !== pausedAt) fail('the position moved while paused');
  check('pause holds the position');
  // Seeking: to the end (blue), then back to where red was (a replay from the start).
  const duration = await page.evaluate(() => window.shadowlinkPlayer.duration);
  await page.evaluate((t) => window.shadowlinkPlayer.seek(t), duration);
  if (!(await waitColour('#playback', 'blue', 2000))) fail('seeking to the end does not show blue');
  await page.evaluate((t) => window.shadowlinkPlayer.seek(t), times.red);
  if (!(await waitColour('#playback', 'red', 2000))) fail('seeking back to ' + times.red + ' ms does not show red: ' + await pixel('#playback', 12, 4));
  check('seeking to the end shows blue, seeking back shows red again');
  await page.screenshot({ path: `${shots}/playback-seek.png` });
  check('playback: all checks passed');
} catch (e) {
  console.log('FAIL: ' + e.message);
  process.exitCode = 1;
} finally {
  await browser.close();
}

