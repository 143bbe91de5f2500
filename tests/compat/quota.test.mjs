// The official SDKs against an exhausted quota (issue 6 §3): a consumer over its token quota gets
// 429 insufficient_quota with x-should-retry: false, and the SDK gives up at once (it retries a
// plain 429 by default: see ratelimit_backoff.test.mjs), surfacing the gateway's error. Raising
// the quota through the admin API lets the next call through.
//
// Every HTTP exchange the SDK makes is recorded through its `fetch` option.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { harness, freePort, gatewayConfig, postJSON, request, accessLogLines, waitFor } from '../integration/lib.mjs';

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
let adminPort;
let R;                 // tokens of one OpenAI call (measured)
const T = 10;
const ADMIN = { authorization: 'Bearer quota-sdk-admin-token' };
const MESSAGES = [{ role: 'user', content: 'Say something.' }];
const knobs = { headers: { 'x-sim-tokens': String(T) } };

before(async () => {
  const sim = await h.sim();
  const o = await postJSON(sim.port, '/v1/chat/completions', { model: 'gpt-4o-mini', max_tokens: T, messages: MESSAGES }, { 'x-sim-tokens': String(T) });
  R = o.json().usage.total_tokens;
  const port = await freePort();
  adminPort = await freePort();
  const cfg = gatewayConfig({
    port,
    upstreams: [{ name: 'sim', url: sim.url }],
    routes: [
      { name: 'anthropic', match: { path_prefix: '/anthropic/' }, upstream: 'sim', rewrite_prefix: '/', dialect: 'anthropic', key_auth: 'required' },
      { name: 'openai', match: { path_prefix: '/v1/' }, upstream: 'sim', dialect: 'openai', key_auth: 'required' },
    ],
  });
  cfg.rate_limits = {
    key_sources: ['bearer', 'x-api-key'],
    consumers: [{ name: 'alice', keys: ['sk-alice'] }, { name: 'bob', keys: ['sk-bob'] }],
  };
  cfg.store = { type: 'memory' };
  cfg.admin = { listen: `127.0.0.1:${adminPort}`, token: ADMIN.authorization.slice(7) };
  cfg.quota = { enabled: true };
  gw = await h.gateway(cfg);
}, { timeout: 60000 });

const admin = (p, method = 'GET', body) => request({ port: adminPort, path: p, method, body, headers: ADMIN });

/** A fetch that records every exchange: { status, headers }. */
function recordingFetch() {
  const log = [];
  const f = async (url, init) => {
    const e = { url: String(url) };
    log.push(e);
    const res = await fetch(url, init);
    e.status = res.status;
    e.headers = Object.fromEntries(res.headers.entries());
    return res;
  };
  return { fetch: f, log };
}

test('openai SDK: insufficient_quota is not retried; raising the quota lets the next call through', { timeout: 30000 }, async () => {
  assert.equal((await admin('/admin/quota/alice', 'PUT', { quota: R + 1 })).status, 200);
  const rec = recordingFetch();
  const client = new OpenAI({ baseURL: `http://127.0.0.1:${gw.port}/v1`, apiKey: 'sk-alice', maxRetries: 3, timeout: 20000, fetch: rec.fetch });
  const params = { model: 'gpt-4o-mini', max_tokens: T, messages: MESSAGES };
  // Quota R + 1: the first call leaves 1 (> 0), the second is admitted and leaves 1 - R.
  for (let i = 0; i < 2; i++) assert.equal((await client.chat.completions.create(params, knobs)).usage.total_tokens, R);
  await waitFor(async () => (await admin('/admin/quota/alice')).json().quota === 1 - R, { timeout: 3000, what: `quota ${1 - R}` });
  assert.deepEqual(rec.log.splice(0).map((e) => e.status), [200, 200]);

  await assert.rejects(client.chat.completions.create(params, knobs), (err) => {
    assert.ok(err instanceof OpenAI.RateLimitError, `${err?.constructor?.name}: ${err?.message}`);
    assert.equal(err.status, 429);
    assert.equal(err.code, 'insufficient_quota');
    assert.equal(err.type, 'insufficient_quota');
    assert.match(err.message, /quota/);
    return true;
  });
  assert.equal(rec.log.length, 1, `one attempt only, despite maxRetries 3: ${rec.log.map((e) => e.status)}`);
  assert.equal(rec.log[0].headers['x-should-retry'], 'false');
  const [line] = await accessLogLines(gw, [rec.log[0].headers['x-request-id']]);
  assert.equal(line.error, 'insufficient_quota');
  rec.log.splice(0);

  // Another consumer without a quota is not affected.
  const bob = new OpenAI({ baseURL: `http://127.0.0.1:${gw.port}/v1`, apiKey: 'sk-bob', maxRetries: 0, timeout: 20000 });
  assert.equal((await bob.chat.completions.create(params, knobs)).usage.total_tokens, R);

  const up = await admin('/admin/quota/alice/increase', 'POST', { amount: R });
  assert.equal(up.json().quota, 1);
  assert.equal((await client.chat.completions.create(params, knobs)).usage.total_tokens, R);
  assert.deepEqual(rec.log.map((e) => e.status), [200]);
});

test('anthropic SDK: insufficient_quota is not retried', { timeout: 30000 }, async () => {
  assert.equal((await admin('/admin/quota/bob', 'PUT', { quota: 0 })).status, 200);
  const rec = recordingFetch();
  const client = new Anthropic({ baseURL: `http://127.0.0.1:${gw.port}/anthropic`, apiKey: 'sk-bob', maxRetries: 3, timeout: 20000, fetch: rec.fetch });
  await assert.rejects(client.messages.create({ model: 'claude-sonnet-4-5', max_tokens: T, messages: MESSAGES }, knobs), (err) => {
    assert.ok(err instanceof Anthropic.RateLimitError, `${err?.constructor?.name}: ${err?.message}`);
    assert.equal(err.status, 429);
    assert.match(err.message, /quota/);
    return true;
  });
  assert.equal(rec.log.length, 1, `one attempt only, despite maxRetries 3: ${rec.log.map((e) => e.status)}`);
  assert.equal(rec.log[0].headers['x-should-retry'], 'false');
});
