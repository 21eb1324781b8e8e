// The Web App's folder tree (tests/e2e/folders.sh): logs in, reads the tree beside the device
// list, and clicks each folder EXPECT_TREE names: the list must then hold exactly the devices
// named for it (those in the folder and below it), each row showing its folder. The folders'
// lists differ from one another, so a tree that filtered nothing would fail.
// Usage: node folders.mjs URL USER PASSWORD SHOTS_DIR; EXPECT_TREE='{"berlin": ["tc-b"], ...}'
// ("" is "All devices"); EXPECT_LABELS: the tree's labels with their counts, in order.
import { openPage } from './harness.mjs';

const [url, user, password, shots] = process.argv.slice(2);
const expected = JSON.parse(process.env.EXPECT_TREE);
const fail = (why) => { throw new Error(why); };

const { browser, page, check } = await openPage();
try {
  await page.goto(url);
  await page.fill('#user', user);
  await page.fill('#password', password);
  await page.click('form#login button');
  await page.locator('#tree button[data-folder=""]').waitFor({ timeout: 10000 });
  const labels = (await page.locator('#tree button').allTextContents()).join(' | ');
  if (labels !== process.env.EXPECT_LABELS) fail('the tree shows "' + labels + '", expected "' + process.env.EXPECT_LABELS + '"');
  check('the tree shows the folders ' + user + ' may see, nested, with their devices counted: ' + labels);

  const ids = async () => (await page.locator('#devices tbody tr td:nth-child(2)').allTextContents()).sort().join(' ');
  for (const [folder, devices] of Object.entries(expected)) {
    await page.click(`#tree button[data-folder="${folder}"]`);
    const want = [...devices].sort().join(' ');
    for (let i = 0; i < 50 && await ids() !== want; ++i) await page.waitForTimeout(100);
    if (await ids() !== want) fail('folder "' + folder + '" lists "' + await ids() + '", expected "' + want + '"');
    if (await page.getAttribute(`#tree button[data-folder="${folder}"]`, 'aria-current') !== 'true') fail('folder "' + folder + '" is not marked as chosen');
    for (const row of await page.locator('#devices tbody tr').all()) {
      const where = await row.locator('td:nth-child(3)').textContent();
      if (!(folder === '' || where === folder || where.startsWith(folder + '/'))) fail('a row in "' + folder + '" is in folder ' + where);
    }
    await page.screenshot({ path: `${shots}/folder-${folder === '' ? 'all' : folder.replaceAll('/', '_')}.png` });
    check('folder "' + folder + '" lists ' + (want || 'no device'));
  }
  console.log('ok: the folder tree');
} finally {
  await browser.close();
}
