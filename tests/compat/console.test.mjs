// The operator console (docs/admin.md "Console") in a real browser: headless Chromium driven by
// puppeteer-core against the real gateway and the simulated upstream. A wrong token is refused
// with an error on the page, the right one opens the dashboard; traffic shows up in the consumer
// table within 2 s; a rejection by the consumer's request limit appears in the live event tail
// (GET /admin/events); a quota set through the page (after a confirm() dialog, dismissed once)
// is what the admin API reports and what the gateway enforces.
//
// Screenshots go to tests/compat/artifacts/ (git-ignored; TOKENGATE_ARTIFACTS overrides).
// Skipped when /usr/bin/chromium (or TOKENGATE_CHROMIUM) is missing: scripts/setup.sh
// installs it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { harness, freePort, gatewayConfig, postJSON, request, waitFor, REPO } from '../integration/lib.mjs';

const CHROMIUM = process.env.TOKENGATE_CHROMIUM || '/usr/bin/chromium';
const ARTIFACTS = process.env.TOKENGATE_ARTIFACTS || path.join(REPO, 'tests', 'compat', 'artifacts');
const ADMIN_TOKEN = 'console-admin-token-5b8e';
const ADMIN = { authorization: `Bearer ${ADMIN_TOKEN}` };
const KEY = 'sk-dana-console';
const LIMIT = 3;  // requests per hour for dana
const T = 5;

let puppeteer = null;
let skip = false;
if (!fs.existsSync(CHROMIUM)) {
  skip = `chromium not found at ${CHROMIUM}: install it (scripts/setup.sh) to run the console test`;
} else {
  try {
    ({ default: puppeteer } = await import('puppeteer-core'));
  } catch (e) {
    skip = `puppeteer-core is not installed: run \`npm ci\` in tests/compat (${e.message})`;
  }
}
if (skip) console.log(`# SKIP console.test.mjs: ${skip}`);

const h = harness();
let gw;
let adminPort;
let browser;

const chat = ({ stream = false } = {}) => postJSON(gw.port, '/v1/chat/completions',
  { model: 'gpt-4o-mini', max_tokens: T, stream, messages: [{ role: 'user', content: 'Say something.' }] },
  { authorization: `Bearer ${KEY}`, 'x-sim-tokens': String(T) }, { timeout: 10000 });
const admin = (p, method = 'GET', body) => request({ port: adminPort, path: p, method, body, headers: ADMIN, timeout: 5000 });

before(async () => {
  if (skip) return;
  const sim = await h.sim();
  const port = await freePort();
  adminPort = await freePort();
  const cfg = gatewayConfig({
    port,
    upstreams: [{ name: 'sim', url: sim.url }],
    routes: [{ name: 'chat', match: { path_prefix: '/v1/' }, upstream: 'sim', dialect: 'openai', key_auth: 'required' }],
  });
  cfg.rate_limits = {
    consumers: [{ name: 'dana', keys: [KEY] }],
    policies: [{ name: 'per-consumer', routes: ['chat'], rules: [{ name: 'hourly', by: 'per_consumer', limits: [{ requests: LIMIT, per: 'hour' }] }] }],
  };
  cfg.store = { type: 'memory' };
  cfg.admin = { listen: `127.0.0.1:${adminPort}`, token: ADMIN_TOKEN };
  cfg.quota = { enabled: true };
  gw = await h.gateway(cfg);
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--headless=new', '--disable-gpu', '--no-first-run'],
    timeout: 15000,
  });
}, { timeout: 30000 });

after(async () => {
  if (browser) await browser.close().catch(() => {});
});

async function shot(page, name) {
  const file = path.join(ARTIFACTS, `console-${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

const tableText = (page, id) => page.$eval(`#${id} tbody`, (b) => b.innerText);

test('the console: login, live consumers, event tail, quota change', { skip, timeout: 40000 }, async () => {
  const page = await browser.newPage();
  await page.setViewport({ width: 1280, height: 1000 });
  const consoleErrors = [];
  page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
  page.on('pageerror', (e) => consoleErrors.push(String(e)));
  const requests = [];
  page.on('request', (r) => requests.push(r.url()));

  const res = await page.goto(`http://127.0.0.1:${adminPort}/console`, { waitUntil: 'load', timeout: 10000 });
  assert.equal(res.status(), 200);
  assert.match(res.headers()['content-security-policy'], /default-src 'none'; script-src 'self'/);
  assert.equal(res.headers()['x-content-type-options'], 'nosniff');

  // A wrong token: the API answers 401 and the page says so.
  await page.type('#token', 'not-the-token');
  await page.click('#login-button');
  await page.waitForSelector('#login-error:not([hidden])', { timeout: 5000 });
  assert.match(await page.$eval('#login-error', (e) => e.textContent), /wrong admin token/i);
  assert.equal(await page.$eval('#main', (e) => e.hidden), true);
  await shot(page, '1-wrong-token');

  // The right token.
  await page.type('#token', ADMIN_TOKEN);
  await page.click('#login-button');
  await page.waitForSelector('#main:not([hidden])', { timeout: 5000 });
  assert.equal(await page.$eval('#token', (e) => e.value), '', 'the token is not left in the form');

  // Traffic (a stream, for the time to first token): the consumer appears in the table within 2 s.
  const first = await chat({ stream: true });
  assert.equal(first.status, 200, first.text);
  const t0 = Date.now();
  await page.waitForFunction(() => [...document.querySelectorAll('#consumers tbody tr')].some((tr) => tr.dataset.consumer === 'dana'), { timeout: 2000 });
  console.log(`# dana in the table after ${Date.now() - t0} ms`);
  await page.waitForFunction(() => {
    const tr = document.querySelector('#upstreams tbody tr');
    return tr && tr.cells[0].textContent === 'sim' && / m?s$/.test(tr.cells[2].textContent) && / m?s$/.test(tr.cells[3].textContent);
  }, { timeout: 3000 });
  await page.waitForFunction(() => document.querySelector('#models tbody').innerText.includes('gpt-4o-mini'), { timeout: 3000 });

  // Filtering and sorting.
  await page.type('#filter', 'nobody');
  await page.waitForFunction(() => document.querySelectorAll('#consumers tbody tr').length === 0, { timeout: 2000 });
  await page.$eval('#filter', (e) => { e.value = ''; e.dispatchEvent(new Event('input')); });
  await page.click('#consumers th[data-key="consumer"]');
  assert.equal(await page.$eval('#consumers th[data-key="consumer"]', (e) => e.className), 'sorted-asc');

  // Over the request limit: the rejection reaches the live tail.
  const statuses = [];
  for (let i = 0; i < LIMIT; i++) statuses.push((await chat()).status);
  assert.deepEqual(statuses, [200, 200, 429]);
  await page.waitForFunction(() => /dana\s+rejected\s+per-consumer \/ hourly/.test(document.querySelector('#events tbody').innerText), { timeout: 3000 });
  await page.waitForFunction(() => document.querySelector('#decisions tbody').innerText.includes('rejected'), { timeout: 3000 });
  await page.waitForFunction(() => {
    const tr = [...document.querySelectorAll('#consumers tbody tr')].find((r) => r.dataset.consumer === 'dana');
    return tr && tr.cells[4].textContent === '1';
  }, { timeout: 3000 });
  await shot(page, '2-dashboard');

  // The quota, through the page: pick the consumer, dismiss the dialog once, then accept.
  await page.click('#consumers tbody tr[data-consumer="dana"]');
  await page.waitForFunction(() => document.querySelector('#quota-value').textContent === 'unlimited', { timeout: 3000 });
  // Its limits, each against what is used: the same numbers as GET /admin/buckets.
  const buckets = (await admin('/admin/buckets?consumer=dana')).json().buckets;
  assert.ok(buckets.length > 0);
  await page.waitForFunction((want) => {
    const rows = [...document.querySelectorAll('#buckets tbody tr')];
    return rows.length === want.length && rows.every((tr, i) => tr.cells[0].textContent === `${want[i].policy} / ${want[i].rule}` &&
      tr.dataset.remaining === String(want[i].remaining) && tr.cells[3].textContent === String(want[i].limit));
  }, { timeout: 3000 }, buckets);
  await page.type('#quota-new', '0');
  const dialogs = [];
  let accept = false;
  page.on('dialog', async (d) => { dialogs.push(d.message()); await (accept ? d.accept() : d.dismiss()); });
  await page.click('#quota-set');
  await waitFor(() => dialogs.length === 1, { timeout: 3000, what: 'the confirm dialog' });
  assert.equal((await admin('/admin/quota/dana')).json().unlimited, true, 'a dismissed dialog changes nothing');
  accept = true;
  await page.click('#quota-set');
  await page.waitForFunction(() => document.querySelector('#quota-value').dataset.quota === '0', { timeout: 3000 });
  assert.deepEqual(dialogs, ['Set the quota of "dana" to 0 tokens?', 'Set the quota of "dana" to 0 tokens?']);
  const q = (await admin('/admin/quota/dana')).json();
  assert.equal(q.quota, 0);
  assert.equal(q.unlimited, false);

  // Enforced: with the request limit reset, the quota of 0 refuses the next request.
  assert.equal((await admin('/admin/buckets/reset?consumer=dana', 'POST')).status, 200);
  const refused = await chat();
  assert.equal(refused.status, 429, refused.text);
  assert.equal(refused.json().error.code, 'insufficient_quota', refused.text);
  await page.waitForFunction(() => /dana\s+insufficient_quota/.test(document.querySelector('#events tbody').innerText), { timeout: 3000 });
  await shot(page, '3-quota');

  // Reloads: the generation and the last reload, and a refused one's errors.
  await page.waitForFunction(() => /generation 0 · no reload since start/.test(document.querySelector('#reload-info').textContent), { timeout: 3000 });
  assert.equal((await admin('/admin/reload', 'POST')).status, 200);
  await page.waitForFunction(() => /generation 1 · last reload .*: applied/.test(document.querySelector('#reload-info').textContent), { timeout: 3000 });
  const good = fs.readFileSync(gw.configFile, 'utf8');
  fs.writeFileSync(gw.configFile, good + 'no_such_section: 1\n');
  assert.equal((await admin('/admin/reload', 'POST')).status, 422);
  fs.writeFileSync(gw.configFile, good);
  await page.waitForFunction(() => /generation 1 · last reload .*: refused/.test(document.querySelector('#reload-info').textContent) &&
    /no_such_section/.test(document.querySelector('#reload-errors').textContent), { timeout: 3000 });
  const reloads = JSON.parse((await admin('/admin/reloads')).text);
  assert.equal(reloads.generation, 1);
  assert.deepEqual(reloads.reloads.map((r) => [r.ok, r.generation]), [[true, 1], [false, 1]]);
  await shot(page, '4-reload');

  // Nothing left this origin, and the token never appeared in a URL.
  const origin = `http://127.0.0.1:${adminPort}/`;
  assert.ok(requests.every((u) => u.startsWith(origin)), requests.filter((u) => !u.startsWith(origin)).join('\n'));
  assert.ok(requests.every((u) => !u.includes(ADMIN_TOKEN)));
  assert.ok(await page.evaluate(() => localStorage.length === 0 && sessionStorage.length === 0));
  // Expected: the 401 of the wrong token; nothing else (a CSP violation would be listed).
  assert.deepEqual(consoleErrors.filter((e) => !/401/.test(e)), []);
  console.log(`# screenshots in ${ARTIFACTS}`);
  console.log(`# events: ${await tableText(page, 'events')}`);
  await page.close();
});
