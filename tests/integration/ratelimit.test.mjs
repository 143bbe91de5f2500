// Token rate limiting end to end (issue 4), through the real gateway and the simulated upstream:
// key-auth (401 in the caller's dialect, keys from every source, hashed keys, the key never
// forwarded, x-mse-consumer replaced), admission (429 bodies and headers, too-large requests,
// reservation modes, custom rejected_code / rejected_msg), Higress ai-token-ratelimit configs
// accepted unchanged, and config errors from `tokengate check`. Selectors, windows, tiers,
// penalties and shadow mode are in ratelimit_rules.test.mjs; the overshoot scenario of the issue
// and settlement on every exit path in ratelimit_settle.test.mjs.
//
// Numbers are derived from the config written here and from measured requests: the prompt size
// P of the standard request is read from the simulator itself in before(), and every bucket
// amount follows from P and the x-sim-tokens / max_tokens the test chooses.
// Windows are aligned to the Unix epoch: every test first makes sure its window has room left
// (awaitWindowRoom) so that no boundary falls in the middle of it.
import http from 'node:http';
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {
  harness, freePort, gatewayConfig, toYaml, request, postJSON, runCli, sha256,
  openaiError, anthropicError, awaitWindowRoom, accessLogLines, rawExchange, REPO,
} from './lib.mjs';

const h = harness();
let sim;
let P;        // prompt tokens of chatBody() as the simulator counts them
let PA;       // the same for anthropicBody()

const PROMPT = 'Say something.';
const MINUTE = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;

function chatBody({ max, model = 'gpt-4o-mini', content = PROMPT, stream = false } = {}) {
  return {
    model,
    messages: [{ role: 'user', content }],
    ...(max !== undefined ? { max_tokens: max } : {}),
    ...(stream ? { stream: true, stream_options: { include_usage: true } } : {}),
  };
}
const anthropicBody = (max) => ({ model: 'claude-sonnet-4-5', max_tokens: max, messages: [{ role: 'user', content: PROMPT }] });
const knobs = (tokens, extra = {}) => ({ 'x-sim-tokens': String(tokens), ...extra });

/** Milliseconds of a Go duration ("1h2m3.5s", "20ms", "0s"). */
function goDurationMs(s) {
  assert.match(s, /^(\d+(\.\d+)?(h|m|s|ms))+$/, `not a Go duration: ${s}`);
  let ms = 0;
  for (const [, n, u] of s.matchAll(/(\d+(?:\.\d+)?)(ms|h|m|s)/g)) {
    ms += Number(n) * { h: HOUR, m: MINUTE, s: 1000, ms: 1 }[u];
  }
  return ms;
}

/** Milliseconds left in the current epoch-aligned window of `period`. */
const leftInWindow = (period) => period - (Date.now() % period);

/**
 * The gateway config of this file: routes of both dialects on the simulator, plus `extraRoutes`
 * (before the catch-all), and `rate_limits` / `higress` / `server` as given.
 */
function rlConfig(port, { rateLimits, higress, server, extraRoutes = [], keyAuth } = {}) {
  const cfg = gatewayConfig({
    port,
    server,
    upstreams: [{ name: 'sim', url: sim.url }],
    routes: [
      ...extraRoutes.map((r) => ({ upstream: 'sim', rewrite_prefix: '/', dialect: 'openai', ...r })),
      { name: 'anthropic', match: { path_prefix: '/anthropic/' }, upstream: 'sim', rewrite_prefix: '/', dialect: 'anthropic', ...(keyAuth ? { key_auth: keyAuth } : {}) },
      { name: 'openai', match: { path_prefix: '/' }, upstream: 'sim', dialect: 'openai', ...(keyAuth ? { key_auth: keyAuth } : {}) },
    ],
  });
  if (rateLimits) cfg.rate_limits = rateLimits;
  if (higress) cfg.higress = higress;
  // These suites test the embedded store: a Higress `redis:` block would otherwise select the
  // Redis store (there is none here; tests/integration/redis*.test.mjs cover that).
  cfg.store = { type: 'memory' };
  return cfg;
}

async function startGateway(opts) {
  return h.gateway(rlConfig(await freePort(), opts));
}

const chat = (gw, body, headers = {}, p = '/v1/chat/completions') => postJSON(gw.port, p, body, headers, { timeout: 20000 });
const rid = (r) => r.headers['x-request-id'];
const usedFromMessage = (msg) => {
  const m = /Used (\d+)/.exec(msg);
  assert.ok(m, `no "Used N" in ${JSON.stringify(msg)}`);
  return Number(m[1]);
};
const HIGRESS_REDIS = { service_name: 'redis.static', service_port: 6379, timeout: 1000 };

before(async () => {
  sim = await h.sim();
  const r = await postJSON(sim.port, '/v1/chat/completions', chatBody({ max: 1 }), knobs(1));
  assert.equal(r.status, 200, r.text);
  P = r.json().usage.prompt_tokens;
  const a = await postJSON(sim.port, '/v1/messages', anthropicBody(1), knobs(1));
  assert.equal(a.status, 200, a.text);
  PA = a.json().usage.input_tokens;
  assert.ok(P > 0 && PA > 0, `prompt sizes P=${P} PA=${PA}`);
}, { timeout: 60000 });

// ---------------------------------------------------------------------------------------------
// Key-auth.

const ALICE_KEYS = ['sk-alice-one', 'sk-alice-two'];
const BOB_KEY = 'sk-bob-hashed-in-config';

async function keyAuthGateway() {
  return startGateway({
    rateLimits: {
      key_sources: ['bearer', 'x-api-key', { header: 'x-gateway-key' }, { query: 'api_key' }],
      consumers: [
        { name: 'alice', keys: ALICE_KEYS, labels: { tier: 'gold' } },
        { name: 'bob', keys: [`sha256:${sha256(BOB_KEY)}`] },
      ],
    },
    extraRoutes: [
      { name: 'req', match: { path_prefix: '/req/' }, key_auth: 'required' },
      { name: 'req-anthropic', match: { path_prefix: '/reqa/' }, dialect: 'anthropic', key_auth: 'required' },
      { name: 'off', match: { path_prefix: '/off/' }, key_auth: 'off' },
    ],
  });
}

test('key-auth required: a missing or unknown key gets 401 in the route dialect and never reaches the upstream', { timeout: 30000 }, async () => {
  const gw = await keyAuthGateway();
  const missing = await chat(gw, chatBody({ max: 5 }), {}, '/req/v1/chat/completions');
  assert.equal(missing.status, 401, missing.text);
  openaiError(missing, { code: 'invalid_api_key' });
  const unknown = await chat(gw, chatBody({ max: 5 }), { authorization: 'Bearer sk-nobody' }, '/req/v1/chat/completions');
  assert.equal(unknown.status, 401, unknown.text);
  openaiError(unknown, { code: 'invalid_api_key' });
  assert.notEqual(missing.json().error.message, unknown.json().error.message, 'missing and unknown keys are told apart');

  const aMissing = await chat(gw, anthropicBody(5), {}, '/reqa/v1/messages');
  assert.equal(aMissing.status, 401, aMissing.text);
  assert.equal(anthropicError(aMissing).error.type, 'authentication_error');
  const aUnknown = await chat(gw, anthropicBody(5), { 'x-api-key': 'sk-nobody' }, '/reqa/v1/messages');
  assert.equal(aUnknown.status, 401, aUnknown.text);
  assert.equal(anthropicError(aUnknown).error.type, 'authentication_error');

  // A hash of a key is not a key: presenting the configured "sha256:..." text must fail.
  const hashText = await chat(gw, chatBody({ max: 5 }), { authorization: `Bearer sha256:${sha256(BOB_KEY)}` }, '/req/v1/chat/completions');
  assert.equal(hashText.status, 401, hashText.text);

  // Non-LLM requests on a required route need the key too.
  const echo = await request({ port: gw.port, path: '/req/sim/echo' });
  assert.equal(echo.status, 401);

  // The caller is identified before its body is parsed: a bad body from a caller without a
  // valid key is a 401, not a 400 (nothing about the body is told to an unknown caller); with
  // a valid key the same body is a 400. The connection stays usable after the 401.
  const badBody = '{"model": "gpt-4o-mini", "messages": [';
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const noKey = await request({ port: gw.port, method: 'POST', path: '/req/v1/chat/completions', headers: { 'content-type': 'application/json' }, body: badBody, agent });
  assert.equal(noKey.status, 401, noKey.text);
  openaiError(noKey, { code: 'invalid_api_key' });
  const badKey = await request({ port: gw.port, method: 'POST', path: '/req/v1/chat/completions', headers: { 'content-type': 'application/json', authorization: 'Bearer sk-nobody' }, body: badBody, agent });
  assert.equal(badKey.status, 401, badKey.text);
  const goodKey = await request({ port: gw.port, method: 'POST', path: '/req/v1/chat/completions', headers: { 'content-type': 'application/json', authorization: `Bearer ${ALICE_KEYS[0]}` }, body: badBody, agent });
  assert.equal(goodKey.status, 400, goodKey.text);
  openaiError(goodKey, { code: 'invalid_json' });
  agent.destroy();

  // A declared body over max_body_bytes (8 MiB by default; the body is never sent): without a
  // key the caller gets its 401, not the 413 that would tell it the gateway's limit, and the
  // connection closes; with a valid key, the 413.
  const oversized = (key) => rawExchange(gw.port, 'POST /req/v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n'
    + `${key ? `Authorization: Bearer ${key}\r\n` : ''}Content-Type: application/json\r\nContent-Length: 9000000\r\n\r\n`);
  const bigNoKey = await oversized(null);
  assert.equal(bigNoKey.responses.length, 1, bigNoKey.raw.toString('latin1').slice(0, 200));
  const bigNoKeyRes = bigNoKey.responses[0];
  assert.equal(bigNoKeyRes.status, 401, bigNoKeyRes.text);
  assert.equal(JSON.parse(bigNoKeyRes.text).error.code, 'invalid_api_key');
  assert.ok(!bigNoKeyRes.text.includes('exceeds'), bigNoKeyRes.text);
  assert.equal(bigNoKeyRes.headers.connection, 'close');
  const bigKey = await oversized(ALICE_KEYS[0]);
  assert.equal(bigKey.responses[0]?.status, 413, bigKey.raw.toString('latin1').slice(0, 200));

  const lines = await accessLogLines(gw, [missing, unknown, aMissing, aUnknown, hashText, echo, noKey, badKey].map(rid));
  for (const l of lines) {
    assert.equal(l.status, 401);
    assert.equal(l.upstream_first_byte_ms, null, `a 401 never went upstream: ${JSON.stringify(l)}`);
    assert.equal(l.error, 'invalid_api_key');
    assert.equal(l.consumer, undefined);
  }
});

test('key-auth: keys from bearer, x-api-key, a configured header and a query parameter; hashed keys; the key is never forwarded', { timeout: 30000 }, async () => {
  const gw = await keyAuthGateway();
  const echo = async (pathAndQuery, headers, who) => {
    const r = await request({ port: gw.port, path: `/req/sim/echo${pathAndQuery}`, headers });
    assert.equal(r.status, 200, `${JSON.stringify(headers)} ${pathAndQuery}: ${r.text}`);
    const e = r.json();
    assert.equal(e.headers['x-mse-consumer'], who, `consumer for ${JSON.stringify(headers)} ${pathAndQuery}: ${JSON.stringify(e.headers)}`);
    for (const k of ['authorization', 'x-api-key', 'x-gateway-key']) {
      assert.ok(!(k in e.headers), `${k} was forwarded upstream: ${JSON.stringify(e.headers)}`);
    }
    assert.ok(!/api_key=/.test(e.path), `the query key was forwarded: ${e.path}`);
    for (const k of [...ALICE_KEYS, BOB_KEY]) assert.ok(!JSON.stringify(e).includes(k), `key ${k} reached the upstream`);
    return { r, e };
  };
  await echo('', { authorization: `Bearer ${ALICE_KEYS[0]}` }, 'alice');
  await echo('', { 'x-api-key': ALICE_KEYS[1] }, 'alice');
  await echo('', { 'x-gateway-key': ALICE_KEYS[0] }, 'alice');
  const q = await echo(`?a=1&api_key=${ALICE_KEYS[1]}&b=2`, {}, 'alice');
  assert.match(q.e.path, /^\/sim\/echo\?a=1&b=2$/, `other query parameters are kept in order: ${q.e.path}`);
  const onlyKey = await echo(`?api_key=${ALICE_KEYS[0]}`, {}, 'alice');
  assert.match(onlyKey.e.path, /^\/sim\/echo\??$/);
  const bob = await echo('', { authorization: `Bearer ${BOB_KEY}` }, 'bob');

  // Sources are tried in order and the first present one decides: a wrong bearer key is not
  // rescued by a right x-api-key.
  const firstWins = await request({ port: gw.port, path: '/req/sim/echo', headers: { authorization: 'Bearer sk-wrong', 'x-api-key': ALICE_KEYS[0] } });
  assert.equal(firstWins.status, 401);

  // An LLM call authenticated by key: the consumer is logged.
  const c = await chat(gw, chatBody({ max: 3 }), { ...knobs(3), authorization: `Bearer ${BOB_KEY}` }, '/req/v1/chat/completions');
  assert.equal(c.status, 200, c.text);
  const [lb, lc] = await accessLogLines(gw, [rid(bob.r), rid(c)]);
  assert.equal(lb.consumer, 'bob');
  assert.equal(lc.consumer, 'bob');
  assert.doesNotMatch(gw.proc.out, new RegExp(ALICE_KEYS.concat(BOB_KEY).join('|')), 'no key appears in the access log');
});

test('key-auth: a client-sent x-mse-consumer is dropped on every route and replaced by the authenticated consumer', { timeout: 30000 }, async () => {
  const gw = await keyAuthGateway();
  const echo = async (p, headers) => {
    const r = await request({ port: gw.port, path: p, headers });
    assert.equal(r.status, 200, r.text);
    return r.json().headers;
  };
  const spoof = { 'x-mse-consumer': 'mallory' };
  assert.equal((await echo('/req/sim/echo', { ...spoof, authorization: `Bearer ${ALICE_KEYS[0]}` }))['x-mse-consumer'], 'alice');
  assert.equal((await echo('/sim/echo', { ...spoof, 'x-api-key': BOB_KEY }))['x-mse-consumer'], 'bob', 'optional route with a valid key');
  const anon = await echo('/sim/echo', { 'X-MSE-Consumer': 'mallory' });
  assert.ok(!('x-mse-consumer' in anon), `optional route without key: ${JSON.stringify(anon)}`);
  const off = await echo('/off/sim/echo', { ...spoof, authorization: `Bearer ${ALICE_KEYS[0]}` });
  assert.ok(!('x-mse-consumer' in off), `key_auth off: ${JSON.stringify(off)}`);
  // Optional route with an unknown key: passes, unauthenticated (no consumer).
  const unknown = await echo('/sim/echo', { ...spoof, authorization: 'Bearer sk-nobody' });
  assert.ok(!('x-mse-consumer' in unknown), `optional route, unknown key: ${JSON.stringify(unknown)}`);
});

// ---------------------------------------------------------------------------------------------
// Admission: 429 bodies and headers, too large, reservation modes, custom code and message.

test('admission: success and 429 headers, dialect bodies, too-large requests, default_max_tokens', { timeout: 60000 }, async () => {
  const T = 40;
  const R = P + T;                        // reservation and real usage of one request (max_tokens = output)
  const LIMIT = 2 * R + Math.floor(R / 2); // two fit, the third does not
  const DEF = 3 * LIMIT;                  // default_max_tokens: a request without max_tokens is too large
  const gw = await startGateway({
    rateLimits: {
      policies: [{
        name: 'strict', routes: ['openai', 'anthropic'], reservation: 'prompt_plus_max', default_max_tokens: DEF,
        rules: [{ name: 'all', by: 'global', limits: [{ tokens: LIMIT, per: 'minute' }] }],
      }],
    },
  });
  await awaitWindowRoom(MINUTE, 15000);

  const r1 = await chat(gw, chatBody({ max: T }), knobs(T));
  assert.equal(r1.status, 200, r1.text);
  assert.equal(r1.json().usage.total_tokens, R, 'the measured prompt size holds');
  assert.equal(Number(r1.headers['x-ratelimit-limit-tokens']), LIMIT);
  assert.equal(Number(r1.headers['x-ratelimit-remaining-tokens']), LIMIT - R, 'remaining after this reservation');
  const reset = goDurationMs(r1.headers['x-ratelimit-reset-tokens']);
  assert.ok(Math.abs(reset - leftInWindow(MINUTE)) < 2000, `reset ${reset} ms vs ${leftInWindow(MINUTE)} ms left in the minute`);
  assert.equal(r1.headers['retry-after'], undefined, 'no retry headers on a success');
  const [l1] = await accessLogLines(gw, [rid(r1)]);
  assert.equal(l1.ratelimit, 'allowed');
  assert.equal(l1.reserved_tokens, R, 'reservation = prompt estimate + max_tokens');
  assert.equal(l1.total_tokens, R);

  const r2 = await chat(gw, chatBody({ max: T }), knobs(T));
  assert.equal(r2.status, 200, r2.text);
  assert.equal(Number(r2.headers['x-ratelimit-remaining-tokens']), LIMIT - 2 * R);
  await accessLogLines(gw, [rid(r2)]);

  const r3 = await chat(gw, chatBody({ max: T }), knobs(T));
  const left = leftInWindow(MINUTE);
  assert.equal(r3.status, 429, r3.text);
  const e = openaiError(r3, { code: 'rate_limit_exceeded' }).error;
  assert.equal(e.type, 'tokens');
  assert.equal(usedFromMessage(e.message), 2 * R, e.message);
  assert.match(e.message, new RegExp(`Limit ${LIMIT}\\b`));
  assert.match(e.message, new RegExp(`Requested ${R}\\b`));
  assert.equal(Number(r3.headers['x-ratelimit-limit-tokens']), LIMIT);
  assert.equal(Number(r3.headers['x-ratelimit-remaining-tokens']), LIMIT - 2 * R);
  const ms = Number(r3.headers['retry-after-ms']);
  assert.ok(ms > 0 && ms <= 60000 && Math.abs(ms - left) < 2000, `retry-after-ms ${ms} vs ${left} ms left in the window`);
  assert.equal(Number(r3.headers['retry-after']), Math.ceil(ms / 1000), 'retry-after: seconds rounded up');
  assert.equal(r3.headers['x-tokenratelimit-reset'], r3.headers['retry-after']);
  assert.equal(r3.headers['x-should-retry'], undefined);

  assert.ok(PA + T > LIMIT - 2 * R, 'the Anthropic request does not fit in what is left either');
  const a = await chat(gw, anthropicBody(T), knobs(T), '/anthropic/v1/messages');
  assert.equal(a.status, 429, a.text);
  const ab = anthropicError(a);
  assert.equal(ab.error.type, 'rate_limit_error');
  assert.ok(a.headers['retry-after-ms']);

  // Larger than the whole limit: non-retryable, no retry-after.
  const big = await chat(gw, chatBody({ max: LIMIT + 1 }), knobs(T));
  assert.equal(big.status, 429, big.text);
  const be = openaiError(big, { code: 'rate_limit_exceeded' }).error;
  assert.match(be.message, new RegExp(`Requested ${P + LIMIT + 1}\\b`));
  assert.equal(big.headers['x-should-retry'], 'false');
  assert.equal(big.headers['retry-after'], undefined);
  assert.equal(big.headers['retry-after-ms'], undefined);
  // No max_tokens: default_max_tokens is reserved.
  const def = await chat(gw, chatBody(), knobs(T));
  assert.equal(def.status, 429, def.text);
  assert.match(openaiError(def).error.message, new RegExp(`Requested ${P + DEF}\\b`));
  assert.equal(def.headers['x-should-retry'], 'false');

  const [l3, la, lbig, ldef] = await accessLogLines(gw, [r3, a, big, def].map(rid));
  assert.equal(l3.ratelimit, 'rejected');
  assert.equal(l3.ratelimit_policy, 'strict');
  assert.equal(l3.ratelimit_rule, 'all');
  assert.equal(l3.status, 429);
  assert.equal(l3.upstream_first_byte_ms, null, 'a rejected request never went upstream');
  assert.equal(la.ratelimit, 'rejected');
  assert.equal(lbig.ratelimit, 'too_large');
  assert.equal(ldef.ratelimit, 'too_large');
  assert.equal(ldef.reserved_tokens, P + DEF);
});

test('admission: reservation none / prompt / prompt_plus_max, settled to the real usage', { timeout: 60000 }, async () => {
  const T = 30;
  const BIG = 1_000_000;
  const policy = (name, reservation) => ({
    name, routes: [name], reservation, rules: [{ by: 'global', limits: [{ tokens: BIG, per: 'minute' }] }],
  });
  const gw = await startGateway({
    rateLimits: { policies: [policy('none', 'none'), policy('prompt', 'prompt'), policy('full', 'prompt_plus_max')] },
    extraRoutes: ['none', 'prompt', 'full'].map((n) => ({ name: n, match: { path_prefix: `/${n}/` } })),
  });
  await awaitWindowRoom(MINUTE, 15000);
  for (const [name, reserved] of [['none', 0], ['prompt', P], ['full', P + T]]) {
    const first = await chat(gw, chatBody({ max: T }), knobs(T), `/${name}/v1/chat/completions`);
    assert.equal(first.status, 200, first.text);
    assert.equal(Number(first.headers['x-ratelimit-remaining-tokens']), BIG - reserved, `${name}: remaining after reserving`);
    const [l] = await accessLogLines(gw, [rid(first)]);
    assert.equal(l.reserved_tokens ?? 0, reserved, `${name}: ${JSON.stringify(l)}`);
    assert.equal(l.ratelimit, 'allowed');
    // The bucket holds the real usage (P + T) once settled, whatever was reserved.
    const second = await chat(gw, chatBody({ max: T }), knobs(T), `/${name}/v1/chat/completions`);
    assert.equal(second.status, 200, second.text);
    assert.equal(Number(second.headers['x-ratelimit-remaining-tokens']), BIG - (P + T) - reserved, `${name}: settled to the real usage`);
  }
});

test('admission: hour windows say x-should-retry: false; custom rejected_code and rejected_msg of a native policy', { timeout: 150000 }, async () => {
  const T = 20;
  const R = P + T;
  const gw = await startGateway({
    rateLimits: {
      policies: [
        { name: 'hourly', routes: ['hourly'], rules: [{ by: 'global', limits: [{ tokens: R + Math.floor(R / 2), per: 'hour' }] }] },
        {
          name: 'custom', routes: ['custom'], rejected_code: 503, rejected_msg: '{"error":"busy, come back later"}',
          rules: [{ by: 'global', limits: [{ requests: 1, per: 'hour' }] }],
        },
        {
          name: 'text', routes: ['text'], rejected_code: 403, rejected_msg: 'quota exhausted',
          rules: [{ by: 'global', limits: [{ requests: 1, per: 'hour' }] }],
        },
      ],
    },
    extraRoutes: ['hourly', 'custom', 'text'].map((n) => ({ name: n, match: { path_prefix: `/${n}/` } })),
  });
  // More than a minute must be left in the hour: a shorter wait is one SDKs should retry
  // (x-should-retry: true), which is right in the last minute of an hour but not this test.
  await awaitWindowRoom(HOUR, 75000);
  const ok = await chat(gw, chatBody({ max: T }), knobs(T), '/hourly/v1/chat/completions');
  assert.equal(ok.status, 200, ok.text);
  await accessLogLines(gw, [rid(ok)]);
  const no = await chat(gw, chatBody({ max: T }), knobs(T), '/hourly/v1/chat/completions');
  assert.equal(no.status, 429, no.text);
  const left = leftInWindow(HOUR);
  assert.equal(no.headers['x-should-retry'], 'false', 'a wait over 60 s stops SDK retries');
  assert.equal(no.headers['retry-after-ms'], undefined);
  const ra = Number(no.headers['retry-after']);
  assert.ok(Math.abs(ra * 1000 - left) < 2000, `retry-after ${ra} s vs ${left} ms left in the hour`);

  for (const [name, code, body, ct] of [['custom', 503, '{"error":"busy, come back later"}', /^application\/json/],
    ['text', 403, 'quota exhausted', /^text\/plain/]]) {
    const first = await chat(gw, chatBody({ max: T }), knobs(T), `/${name}/v1/chat/completions`);
    assert.equal(first.status, 200, first.text);
    assert.equal(first.headers['x-ratelimit-limit-requests'], '1');
    assert.equal(first.headers['x-ratelimit-remaining-requests'], '0');
    const second = await chat(gw, chatBody({ max: T }), knobs(T), `/${name}/v1/chat/completions`);
    assert.equal(second.status, code, second.text);
    assert.equal(second.text, body, 'rejected_msg is sent raw');
    assert.match(second.headers['content-type'], ct);
    assert.ok(second.headers['retry-after'], 'retry headers come with a custom code too');
  }
});

// ---------------------------------------------------------------------------------------------
// Higress configs accepted unchanged.

test('examples/higress-ai-token-ratelimit.yaml works unchanged under higress: (per_param, per_ip from X-Forwarded-For)', { timeout: 60000 }, async () => {
  const example = fs.readFileSync(path.join(REPO, 'examples', 'higress-ai-token-ratelimit.yaml'), 'utf8');
  const port = await freePort();
  const text = `${toYaml(rlConfig(port))}\n${example}\n`;
  const gw = await h.gateway(text, { port });
  await awaitWindowRoom(MINUTE, 20000);
  await awaitWindowRoom(DAY, 20000);
  const T = 600;   // one request (P + 600) exceeds the example's "plan: free" 500 tokens per minute
  const free = async () => chat(gw, chatBody({ max: T }), knobs(T), '/v1/chat/completions?plan=free');
  const f1 = await free();
  assert.equal(f1.status, 200, f1.text);
  await accessLogLines(gw, [rid(f1)]);
  const f2 = await free();
  assert.equal(f2.status, 429, f2.text);
  assert.equal(f2.text, 'Too many requests', 'the example\'s rejected_msg');
  const other = await chat(gw, chatBody({ max: T }), knobs(T), '/v1/chat/completions?plan=pro');
  assert.equal(other.status, 200, 'limit_by_param counts only the listed value');

  // limit_by_per_ip: from-header-x-forwarded-for; 1.1.1.1 has 10 tokens/day, the rest of
  // 1.1.1.0/24 100 per day and per IP. Check-then-charge admits while used <= limit.
  const S = 20;
  const R = P + S;
  const admittedUntilOver = (limit) => Math.floor(limit / R) + 1;
  for (const [ip, limit] of [['1.1.1.1', 10], ['1.1.1.77', 100]]) {
    let admitted = 0;
    for (let i = 0; i < admittedUntilOver(limit) + 2; i++) {
      const r = await chat(gw, chatBody({ max: S }), { ...knobs(S), 'x-forwarded-for': ip });
      if (r.status === 200) {
        admitted += 1;
        await accessLogLines(gw, [rid(r)]);
      } else {
        assert.equal(r.status, 429, r.text);
      }
    }
    assert.equal(admitted, admittedUntilOver(limit), `${ip}: limit ${limit}/day, ${R} tokens per request`);
  }
  const [lf2] = await accessLogLines(gw, [rid(f2)]);
  assert.equal(lf2.ratelimit, 'rejected');
  assert.equal(lf2.ratelimit_policy, 'default_rule');
  assert.match(lf2.ratelimit_rule, /plan/);
});

test('higress: a list of configs with their own rejected_code and rejected_msg (per_header, per_cookie, consumer, per_ip)', { timeout: 60000 }, async () => {
  const T = 30;
  const R = P + T;
  const gw = await startGateway({
    higress: [
      {
        rule_name: 'by_user',
        rule_items: [{ limit_by_per_header: 'x-user', limit_keys: [{ key: '*', token_per_minute: R - 1 }] }],
        rejected_code: 403,
        rejected_msg: 'user quota exhausted',
        redis: HIGRESS_REDIS,
      },
      {
        rule_name: 'by_session',
        rule_items: [{ limit_by_per_cookie: 'sid', limit_keys: [{ key: 'regexp:^s-', token_per_minute: R - 1 }] }],
        rejected_code: 503,
        rejected_msg: '{"error":{"message":"session quota"}}',
        redis: HIGRESS_REDIS,
      },
      {
        rule_name: 'by_consumer',
        rule_items: [
          { limit_by_consumer: '', limit_keys: [{ key: 'alice', token_per_minute: R - 1 }] },
          { limit_by_per_ip: 'from-header-x-forwarded-for', limit_keys: [{ key: '192.0.2.0/24', token_per_minute: R - 1 }] },
        ],
        redis: HIGRESS_REDIS,
      },
    ],
    rateLimits: { consumers: [{ name: 'alice', keys: ['sk-alice'] }] },
  });
  await awaitWindowRoom(MINUTE, 15000);
  const send = (headers) => chat(gw, chatBody({ max: T }), { ...knobs(T), ...headers });
  const u1 = await send({ 'x-user': 'u1' });
  assert.equal(u1.status, 200, u1.text);
  await accessLogLines(gw, [rid(u1)]);
  const u1b = await send({ 'x-user': 'u1' });
  assert.equal(u1b.status, 403, u1b.text);
  assert.equal(u1b.text, 'user quota exhausted');
  assert.match(u1b.headers['content-type'], /^text\/plain/);
  assert.equal((await send({ 'x-user': 'u2' })).status, 200, 'per_header: one counter per value');

  const s1 = await send({ cookie: 'a=1; sid=s-123' });
  assert.equal(s1.status, 200, s1.text);
  await accessLogLines(gw, [rid(s1)]);
  const s1b = await send({ cookie: 'sid=s-123' });
  assert.equal(s1b.status, 503, s1b.text);
  assert.deepEqual(s1b.json(), { error: { message: 'session quota' } });
  assert.match(s1b.headers['content-type'], /^application\/json/);
  assert.equal((await send({ cookie: 'sid=s-456' })).status, 200, 'per_cookie: one counter per value');
  for (let i = 0; i < 3; i++) assert.equal((await send({ cookie: 'sid=x-1' })).status, 200, 'a value no key matches is not limited');

  // limit_by_consumer reads the consumer key-auth authenticated, never a client-sent x-mse-consumer.
  for (let i = 0; i < 3; i++) assert.equal((await send({ 'x-mse-consumer': 'alice' })).status, 200, 'a spoofed consumer is not alice');
  const c1 = await send({ authorization: 'Bearer sk-alice' });
  assert.equal(c1.status, 200, c1.text);
  await accessLogLines(gw, [rid(c1)]);
  const c2 = await send({ authorization: 'Bearer sk-alice' });
  assert.equal(c2.status, 429, c2.text);
  assert.equal(c2.text, 'Too many requests', 'Higress default rejected_msg');
  const [lc2] = await accessLogLines(gw, [rid(c2)]);
  assert.deepEqual([lc2.consumer, lc2.ratelimit_policy, lc2.ratelimit], ['alice', 'by_consumer', 'rejected']);

  // from-header-x-forwarded-for: the first X-Forwarded-For entry, as Higress reads it.
  const x1 = await send({ 'x-forwarded-for': '192.0.2.10, 198.51.100.1' });
  assert.equal(x1.status, 200, x1.text);
  await accessLogLines(gw, [rid(x1)]);
  assert.equal((await send({ 'x-forwarded-for': '192.0.2.10' })).status, 429, 'same first entry, same counter');
  assert.equal((await send({ 'x-forwarded-for': '198.51.100.1, 192.0.2.10' })).status, 200, 'a later entry is not the client');
});

// ---------------------------------------------------------------------------------------------
// Config errors.

const BASE_TEXT = toYaml({
  listeners: [{ address: '127.0.0.1:1' }],
  upstreams: [{ name: 'sim', url: 'http://127.0.0.1:2' }],
  routes: [
    { name: 'chat', match: { path_prefix: '/v1/' }, upstream: 'sim' },
    { name: 'legacy', match: { path_prefix: '/legacy/' }, upstream: 'sim' },
  ],
});

/** Writes BASE_TEXT + `tail`, runs `tokengate check -c`, returns { code, out, file, lineOf(s) }. */
async function check(tail, base = BASE_TEXT) {
  const text = `${base}\n${tail}`;
  const file = h.writeFile('check.yaml', text);
  const r = await runCli(['check', '-c', file]);
  const lines = text.split('\n');
  return {
    ...r,
    out: r.stdout + r.stderr,
    file,
    lineOf: (needle) => {
      const i = lines.findIndex((l) => l.includes(needle));
      assert.ok(i >= 0, `${needle} not in the config`);
      return i + 1;
    },
  };
}

test('config: the documented examples pass `tokengate check`', { timeout: 30000 }, async () => {
  const limits = fs.readFileSync(path.join(REPO, 'examples', 'limits.yaml'), 'utf8');
  const higress = fs.readFileSync(path.join(REPO, 'examples', 'higress-ai-token-ratelimit.yaml'), 'utf8');
  const r = await check(`${limits}\n${higress}`);
  assert.equal(r.code, 0, r.out);
});

test('config: an invalid rate_limits section fails `tokengate check` with its YAML path and line', { timeout: 30000 }, async () => {
  const bad = await check(toYaml({
    rate_limits: { policies: [{ name: 'p', rules: [{ by: 'per_bogus', limits: [{ tokens: 10, per: 'minute' }] }] }] },
  }));
  assert.equal(bad.code, 1, bad.out);
  assert.ok(bad.out.includes(`${bad.file}:${bad.lineOf('per_bogus')}: rate_limits.policies[0].rules[0].by`), bad.out);

  const unknownKey = await check(toYaml({
    rate_limits: { policies: [{ name: 'p', rules: [{ by: 'global', limits: [{ tokenz: 10, per: 'minute' }] }] }] },
  }));
  assert.equal(unknownKey.code, 1, unknownKey.out);
  assert.ok(unknownKey.out.includes(`${unknownKey.file}:${unknownKey.lineOf('tokenz')}: rate_limits.policies[0].rules[0].limits[0]`), unknownKey.out);

  const badWindow = await check(toYaml({
    rate_limits: { policies: [{ name: 'p', rules: [{ by: 'global', limits: [{ tokens: 10, per: 'fortnight' }] }] }] },
  }));
  assert.equal(badWindow.code, 1, badWindow.out);
  assert.match(badWindow.out, /rate_limits\.policies\[0\]\.rules\[0\]\.limits\[0\]/);

  const ambiguous = await check(toYaml({
    higress: {
      rule_name: 'r', redis: HIGRESS_REDIS,
      rule_items: [{ limit_by_per_header: 'x-a', limit_keys: [{ key: '*', token_per_minute: 10, token_per_hour: 100 }] }],
    },
  }));
  assert.equal(ambiguous.code, 1, ambiguous.out);
  assert.ok(ambiguous.out.includes(`${ambiguous.file}:${ambiguous.lineOf('key: "*"')}: higress.rule_items[0].limit_keys[0]`), ambiguous.out);
});

test('config: a policy naming an unknown route, and key_auth: required without consumers, are rejected', { timeout: 30000 }, async () => {
  const unknownRoute = await check(toYaml({
    rate_limits: { policies: [{ name: 'p', routes: ['chat', 'no-such-route'], rules: [{ by: 'global', limits: [{ tokens: 10, per: 'minute' }] }] }] },
  }));
  assert.equal(unknownRoute.code, 1, unknownRoute.out);
  assert.match(unknownRoute.out, /rate_limits\.policies\[0\]\.routes/);
  assert.match(unknownRoute.out, /no-such-route/);

  const required = toYaml({
    listeners: [{ address: '127.0.0.1:1' }],
    upstreams: [{ name: 'sim', url: 'http://127.0.0.1:2' }],
    routes: [{ name: 'chat', match: { path_prefix: '/v1/' }, upstream: 'sim', key_auth: 'required' }],
  });
  const noConsumers = await check('', required);
  assert.equal(noConsumers.code, 1, noConsumers.out);
  assert.match(noConsumers.out, /routes\[0\]\.key_auth/);
  const withConsumers = await check(toYaml({ rate_limits: { consumers: [{ name: 'a', keys: ['k'] }] } }), required);
  assert.equal(withConsumers.code, 0, withConsumers.out);

  // `tokengate run` refuses the same config.
  const port = await freePort();
  const gw = await h.gateway(required.replace('127.0.0.1:1', `127.0.0.1:${port}`), { port, wait: false, allowExit: true });
  const exit = await gw.proc.waitExit(15000);
  assert.ok(exit && exit.code !== 0, `tokengate run exit: ${JSON.stringify(exit)}`);
});
