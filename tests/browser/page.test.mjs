// The web page of `sieve serve` in a real browser (Debian's chromium through playwright-core):
// ask and watch the answer stream in, source cards, upload a document, see it listed, delete it.
// Run by scripts/test-browser, which starts the server and sets SIEVE_TEST_URL and SIEVE_SHOT.
import { chromium } from 'playwright-core';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';

const url = process.env.SIEVE_TEST_URL;
const shot = process.env.SIEVE_SHOT;
let failures = 0;
function check(cond, what) {
  console.log((cond ? 'ok   ' : 'FAIL ') + what);
  if (!cond) failures++;
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
         '--disable-extensions', '--disable-sync', '--no-first-run', '--disable-dev-shm-usage'],
});
try {
  const page = await browser.newPage({ viewport: { width: 1300, height: 900 } });
  const external = [];
  page.on('request', r => { if (!r.url().startsWith(url)) external.push(r.url()); });
  const errors = [];
  page.on('pageerror', e => errors.push(String(e)));
  await page.goto(url + '/', { timeout: 30000 });
  check((await page.title()) === 'Sieve', 'the page loads');

  await page.fill('#q', 'How does reciprocal rank fusion combine rankings?');
  await page.click('#go');
  await page.waitForSelector('#sources .card', { timeout: 30000 });
  const answer = await page.textContent('#answer');
  check(answer.length > 20 && /\[\d+\]/.test(answer), 'the answer arrives with citations');
  const cards = await page.$$('#sources .card');
  check(cards.length > 0, 'source cards are shown (' + cards.length + ')');
  const firstCard = await cards[0].textContent();
  check(/rerank=|bm25=/.test(firstCard), 'a card shows the stages\' scores');
  check((await page.$$('#sources mark')).length > 0, 'cited sentences are highlighted');

  // Upload a document and see it in the list, then delete it.
  const dir = mkdtempSync(join(tmpdir(), 'sieve-browser-'));
  const file = join(dir, 'okapi-notes.md');
  writeFileSync(file, '# Okapi notes\n\nThe okapi is a forest giraffe with striped legs.\n');
  await page.setInputFiles('#files', file);
  await page.fill('#tags', 'animals');
  await page.click('#upload button[type=submit]');
  await page.waitForSelector('#docs tr:has-text("Okapi notes")', { timeout: 30000 });
  check(true, 'the uploaded document appears in the list');
  if (shot) await page.screenshot({ path: shot, fullPage: true });

  const row = page.locator('#docs tr', { hasText: 'Okapi notes' });
  await row.locator('button.del').click();
  await page.waitForFunction(() => !document.querySelector('#docs').textContent.includes('Okapi notes'),
                             null, { timeout: 30000 });
  check(true, 'deleting removes it from the list');
  check(external.length === 0, 'no request leaves the server (' + external.join(', ') + ')');
  check(errors.length === 0, 'no script errors (' + errors.join('; ') + ')');
} catch (e) {
  console.log('FAIL ' + e);
  failures++;
} finally {
  await browser.close();
}
console.log(failures === 0 ? 'browser test passed' : failures + ' browser check(s) failed');
process.exit(failures === 0 ? 0 : 1);
