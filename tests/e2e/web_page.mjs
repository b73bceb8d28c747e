// The web chat page in a real browser: Debian's chromium driven headless by playwright-core.
// Usage: node web_page.mjs URL SCREENSHOT.png [reasoning]   (exit 0 and "OK ..." on success)
// "reasoning": the model is an R1-style one, so the answer must show a collapsible reasoning part.
import { chromium } from 'playwright-core';
import assert from 'node:assert/strict';

const [url, shot, mode] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
});
try {
  const page = await browser.newPage({ viewport: { width: 1100, height: 700 } });
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(url);
  // The page's Markdown renderer: code blocks, inline code, emphasis, lists; HTML escaped.
  const md = await page.evaluate(() => markdown('**b** and `c` <i>\n\n```py\nx<1\n```\n\n- one\n- two'));
  assert.match(md, /<strong>b<\/strong>/);
  assert.match(md, /<code>c<\/code>/);
  assert.match(md, /&lt;i&gt;/);
  assert.match(md, /<pre><code data-lang="py">x&lt;1<\/code><\/pre>/);
  assert.match(md, /<ul><li>one<\/li><li>two<\/li><\/ul>/);
  await page.fill('#maxtok', '24');
  await page.fill('#input', 'Hello from headless Chromium');
  await page.click('#send');
  // Streaming shows the stop button; then the answer is complete and the page idle again.
  await page.waitForSelector('body[data-state="streaming"]');
  await page.waitForFunction(() => document.querySelector('.msg.assistant .body')?.textContent.length > 0, null, { timeout: 30000 });
  await page.waitForSelector('body[data-state="idle"]', { timeout: 30000 });
  const answer = await page.textContent('.msg.assistant .body');
  if (mode === 'reasoning') {
    const think = await page.textContent('.msg.assistant details.reasoning .think');
    assert.ok(think.length > 0, 'no reasoning shown');
    assert.equal(await page.getAttribute('.msg.assistant details.reasoning', 'open'), null, 'reasoning should collapse when done');
  }
  const usage = await page.textContent('.msg.assistant .usage');
  assert.ok(answer.length > 0, 'empty answer');
  assert.match(usage, /completion tokens/);
  const stored = await page.evaluate(() => JSON.parse(localStorage.getItem('qiusuo.conversations')));
  assert.equal(stored.length, 1);
  assert.equal(stored[0].messages.length, 2);
  assert.equal(await page.locator('.conv').count(), 1);
  // Stop button: a long answer, stopped mid-stream.
  await page.fill('#maxtok', '3000');
  await page.fill('#input', 'A long one please');
  await page.click('#send');
  await page.waitForSelector('body[data-state="streaming"]');
  await page.waitForFunction(() => document.querySelectorAll('.msg.assistant')[1]?.querySelector('.body')?.textContent.length > 0);
  await page.click('#stop');
  await page.waitForSelector('body[data-state="idle"]', { timeout: 10000 });
  assert.match(await page.textContent('.msg.assistant:nth-of-type(4) .usage'), /stopped/);
  if (mode === 'reasoning') {  // expand the first reasoning part for the screenshot; it stays open
    await page.click('.msg.assistant details.reasoning summary');
    assert.notEqual(await page.getAttribute('.msg.assistant details.reasoning', 'open'), null);
  }
  await page.screenshot({ path: shot, fullPage: true });
  assert.deepEqual(errors, []);
  console.log(`OK answer=${JSON.stringify(answer.slice(0, 40))}`);
} finally {
  await browser.close();
}
