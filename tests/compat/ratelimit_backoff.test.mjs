// The official SDKs against a token limit (issue 4): a call that hits the limit gets the 429, the
// SDK backs off for exactly the retry-after-ms the gateway gave, and the retry succeeds once the
// window allows. A request that no retry can fix (larger than the whole limit) carries
// x-should-retry: false, and the SDK gives up at once.
//
// The limit is per second (windows aligned to the Unix epoch), so the wait is short: each test
// starts at the beginning of a fresh second, makes one call that fills the window and a second
// that must wait for the next one. Every HTTP exchange the SDK makes is recorded through its
// `fetch` option, and the gateway's access log is checked for the 429 followed by the 200.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { harness, freePort, gatewayConfig, postJSON, sleep, accessLogLines } from '../integration/lib.mjs';

let OpenAI;
let Anthropic;
try {
  ({ default: OpenAI } = await import('openai'));
  ({ default: Anthropic } = await import('@anthropic-ai/sdk'));
} catch (e) {
  throw new Error(`the SDKs are not installed: run \`npm ci\` in tests/compat (or scripts/setup.sh): ${e.message}`);
}

const h = harness();
let gw;
const T = 10;          // output tokens (and max_tokens) of every call
let R;                 // tokens of one OpenAI call (measured)
let RA;                // tokens of one Anthropic call (measured)
let LIMIT;             // per second, per route: one call fits, two do not
let LIMIT_A;

const MESSAGES = [{ role: 'user', content: 'Say something.' }];
const knobs = { headers: { 'x-sim-tokens': String(T) } };

before(async () => {
  const sim = await h.sim();
  const o = await postJSON(sim.port, '/v1/chat/completions', { model: 'gpt-4o-mini', max_tokens: T, messages: MESSAGES }, { 'x-sim-tokens': String(T) });
  R = o.json().usage.total_tokens;
  const a = await postJSON(sim.port, '/v1/messages', { model: 'claude-sonnet-4-5', max_tokens: T, messages: MESSAGES }, { 'x-sim-tokens': String(T) });
  RA = a.json().usage.input_tokens + a.json().usage.output_tokens;
  LIMIT = R + Math.floor(R / 2);
  LIMIT_A = RA + Math.floor(RA / 2);
  const port = await freePort();
  const cfg = gatewayConfig({
    port,
    upstreams: [{ name: 'sim', url: sim.url }],
    routes: [
      { name: 'anthropic', match: { path_prefix: '/anthropic/' }, upstream: 'sim', rewrite_prefix: '/', dialect: 'anthropic' },
      { name: 'openai', match: { path_prefix: '/v1/' }, upstream: 'sim', dialect: 'openai' },
    ],
  });
  const policy = (name, limit) => ({
    name, routes: [name], reservation: 'prompt_plus_max',
    rules: [{ by: 'global', limits: [{ tokens: limit, per: 'second' }] }],
  });
  cfg.rate_limits = { policies: [policy('openai', LIMIT), policy('anthropic', LIMIT_A)] };
  gw = await h.gateway(cfg);
}, { timeout: 60000 });

/** A fetch that records every exchange: { start, end, status, headers } (performance.now() ms). */
function recordingFetch() {
  const log = [];
  const f = async (url, init) => {
    const e = { start: performance.now(), url: String(url) };
    log.push(e);
    const res = await fetch(url, init);
    e.end = performance.now();
    e.status = res.status;
    e.headers = Object.fromEntries(res.headers.entries());
    return res;
  };
  return { fetch: f, log };
}

/** Sleeps until 30 ms after the start of the next second (a fresh window). */
const freshSecond = () => sleep(1000 - (Date.now() % 1000) + 30);

/**
 * Checks the recorded exchanges of the call that had to wait: 429 then 200, the retry sent
 * retry-after-ms after the 429 (the SDK's timer may fire late, never early), and the gateway
 * logged both.
 */
async function checkBackoff(log, what) {
  assert.deepEqual(log.map((e) => e.status), [429, 200], `${what}: exchanges ${JSON.stringify(log.map((e) => [e.status, e.headers?.['retry-after-ms']]))}`);
  const [rej, ok] = log;
  const wait = Number(rej.headers['retry-after-ms']);
  assert.ok(wait > 0 && wait <= 1000, `${what}: retry-after-ms ${wait} within the one-second window`);
  assert.equal(Number(rej.headers['retry-after']), Math.ceil(wait / 1000));
  assert.equal(rej.headers['x-should-retry'], undefined);
  const gap = ok.start - rej.end;
  assert.ok(gap >= wait - 5, `${what}: the SDK retried after ${gap.toFixed(1)} ms, before the ${wait} ms it was told`);
  assert.ok(gap <= wait + 500, `${what}: the SDK retried after ${gap.toFixed(1)} ms, far later than the ${wait} ms it was told (not the header's wait)`);
  const lines = await accessLogLines(gw, [rej.headers['x-request-id'], ok.headers['x-request-id']]);
  assert.deepEqual(lines.map((l) => [l.status, l.ratelimit]), [[429, 'rejected'], [200, 'allowed']]);
  assert.ok(Date.parse(lines[1].time) >= Date.parse(lines[0].time), 'the 429 came first');
  return { wait, gap };
}

test('openai SDK: 429, backs off per retry-after-ms, succeeds in the next window', { timeout: 30000 }, async () => {
  const rec = recordingFetch();
  const client = new OpenAI({ baseURL: `http://127.0.0.1:${gw.port}/v1`, apiKey: 'dummy', maxRetries: 2, timeout: 20000, fetch: rec.fetch });
  await freshSecond();
  const first = await client.chat.completions.create({ model: 'gpt-4o-mini', max_tokens: T, messages: MESSAGES }, knobs);
  assert.equal(first.usage.total_tokens, R);
  const firstExchanges = rec.log.splice(0);
  assert.deepEqual(firstExchanges.map((e) => e.status), [200], 'the first call fits');
  assert.equal(Number(firstExchanges[0].headers['x-ratelimit-limit-tokens']), LIMIT);

  const t0 = performance.now();
  const second = await client.chat.completions.create({ model: 'gpt-4o-mini', max_tokens: T, messages: MESSAGES }, knobs);
  const elapsed = performance.now() - t0;
  assert.equal(second.usage.total_tokens, R, 'the retried call succeeded');
  const { wait } = await checkBackoff(rec.log, 'openai');
  assert.ok(elapsed >= wait, `the call took ${elapsed.toFixed(0)} ms, less than the ${wait} ms wait`);
});

test('openai SDK: too large for the limit is not retried (x-should-retry: false)', { timeout: 30000 }, async () => {
  const rec = recordingFetch();
  const client = new OpenAI({ baseURL: `http://127.0.0.1:${gw.port}/v1`, apiKey: 'dummy', maxRetries: 2, timeout: 20000, fetch: rec.fetch });
  await assert.rejects(
    client.chat.completions.create({ model: 'gpt-4o-mini', max_tokens: LIMIT + 1, messages: MESSAGES }, knobs),
    (err) => {
      assert.ok(err instanceof OpenAI.RateLimitError, `${err?.constructor?.name}: ${err?.message}`);
      assert.equal(err.status, 429);
      assert.equal(err.code, 'rate_limit_exceeded');
      assert.equal(err.type, 'tokens');
      return true;
    },
  );
  assert.equal(rec.log.length, 1, `one attempt only: ${rec.log.map((e) => e.status)}`);
  assert.equal(rec.log[0].headers['x-should-retry'], 'false');
});

test('anthropic SDK: 429 rate_limit_error, backs off per retry-after-ms, succeeds in the next window', { timeout: 30000 }, async () => {
  const rec = recordingFetch();
  const client = new Anthropic({ baseURL: `http://127.0.0.1:${gw.port}/anthropic`, apiKey: 'dummy', maxRetries: 2, timeout: 20000, fetch: rec.fetch });
  const params = { model: 'claude-sonnet-4-5', max_tokens: T, messages: MESSAGES };
  await freshSecond();
  const first = await client.messages.create(params, knobs);
  assert.equal(first.usage.output_tokens, T);
  assert.deepEqual(rec.log.splice(0).map((e) => e.status), [200]);
  const second = await client.messages.create(params, knobs);
  assert.equal(second.usage.output_tokens, T, 'the retried call succeeded');
  await checkBackoff(rec.log, 'anthropic');

  // Without retries the SDK surfaces the gateway's error as a RateLimitError.
  const noRetry = new Anthropic({ baseURL: `http://127.0.0.1:${gw.port}/anthropic`, apiKey: 'dummy', maxRetries: 0, timeout: 20000 });
  await assert.rejects(noRetry.messages.create({ ...params, max_tokens: LIMIT_A + 1 }, knobs), (err) => {
    assert.ok(err instanceof Anthropic.RateLimitError, `${err?.constructor?.name}: ${err?.message}`);
    assert.equal(err.error?.error?.type, 'rate_limit_error');
    return true;
  });
});
