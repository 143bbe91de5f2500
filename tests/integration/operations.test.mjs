// Operations end to end (issue 6 §1-4), through the real gateway and the simulated upstream:
// Prometheus metrics asserted value by value after scripted traffic (parsed as the text
// exposition format, label set by label set), every admin endpoint with and without the token,
// the redacted config, buckets (read and reset), quotas (read, set, increase, decrease,
// enforcement with 429 insufficient_quota / x-should-retry: false, charged the usage the access
// log shows, streaming included), the rate-limit event log's lines, and the access-log and
// rate-limit log files reopened on SIGUSR1 after a rotation.
//
// Hot reload under load is in operations_reload.test.mjs; the circuit breaker in
// breaker.test.mjs; the official SDK against an exhausted quota in tests/compat/quota.test.mjs.
//
// Numbers follow from the config written here and from measurements: the prompt size P of the
// standard request is read from the simulator in before(); every request asks for T output
// tokens (max_tokens = x-sim-tokens = T), so it uses and reserves exactly R = P + T tokens.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {
  harness, freePort, gatewayConfig, request, postJSON, openaiError, anthropicError, accessLogLines,
  awaitWindowRoom, parseAccessLog, waitFor, runCli, streamRequest,
} from './lib.mjs';

const h = harness();
let sim;
let P;   // prompt tokens of chatBody() as the simulator counts them
let PA;  // prompt tokens of anthropicBody()
let R;   // tokens of one standard OpenAI request (P + T)
let RA;  // tokens of one standard Anthropic request (PA + T)

const T = 10;
const HOUR = 3_600_000;
const PROMPT = 'Say something.';
const ADMIN_TOKEN = 'admin-token-7f3a9c1e55';
const UPSTREAM_SECRET = 'sk-upstream-provider-secret-41d2';
const KEYS = { alice: 'sk-alice-key-0a1b2c', bob: 'sk-bob-key-3d4e5f', carol: 'sk-carol-key-6a7b8c' };
const AUTH = Object.fromEntries(Object.entries(KEYS).map(([n, k]) => [n, { authorization: `Bearer ${k}` }]));
const ADMIN = { authorization: `Bearer ${ADMIN_TOKEN}` };

const chatBody = (model = 'gpt-4o-mini') => ({ model, max_tokens: T, messages: [{ role: 'user', content: PROMPT }] });
const anthropicBody = () => ({ model: 'claude-sonnet-4-5', max_tokens: T, messages: [{ role: 'user', content: PROMPT }] });
const knobs = { 'x-sim-tokens': String(T) };
const rid = (r) => r.headers['x-request-id'];
const chat = (gw, who, { prefix = '', headers = {}, body = chatBody() } = {}) =>
  postJSON(gw.port, `${prefix}/v1/chat/completions`, body, { ...knobs, ...(who ? AUTH[who] : {}), ...headers }, { timeout: 15000 });

before(async () => {
  sim = await h.sim();
  const r = await postJSON(sim.port, '/v1/chat/completions', chatBody(), knobs);
  assert.equal(r.status, 200, r.text);
  P = r.json().usage.prompt_tokens;
  R = r.json().usage.total_tokens;
  assert.equal(R, P + T);
  const a = await postJSON(sim.port, '/v1/messages', anthropicBody(), knobs);
  assert.equal(a.status, 200, a.text);
  PA = a.json().usage.input_tokens;
  RA = PA + a.json().usage.output_tokens;
  assert.ok(P > 0 && PA > 0 && RA === PA + T, `P=${P} PA=${PA} RA=${RA}`);
}, { timeout: 60000 });

/**
 * The gateway config of this file: an admin listener with a token, consumers with keys, a
 * per-consumer token limit on the route "chat" (and "anthropic"), a route "flaky" on an
 * upstream with a circuit breaker, and `quota` as given.
 */
async function opsGateway({ limit, quota, server = {}, extra = (c) => c } = {}) {
  const port = await freePort();
  const adminPort = await freePort();
  const cfg = gatewayConfig({
    port,
    server,
    upstreams: [
      { name: 'sim', url: sim.url, headers: { set: { authorization: `Bearer ${UPSTREAM_SECRET}` } }, circuit_breaker: { consecutive_failures: 5, open_for: '30s' } },
      { name: 'flaky', url: sim.url, circuit_breaker: { consecutive_failures: 1, open_for: '1h' } },
    ],
    routes: [
      { name: 'flaky', match: { path_prefix: '/flaky/' }, upstream: 'flaky', rewrite_prefix: '/', key_auth: 'off' },
      { name: 'anthropic', match: { path_prefix: '/anthropic/' }, upstream: 'sim', rewrite_prefix: '/', dialect: 'anthropic', key_auth: 'required' },
      { name: 'free', match: { path_prefix: '/free/' }, upstream: 'sim', rewrite_prefix: '/', dialect: 'openai', key_auth: 'required' },
      { name: 'chat', match: { path_prefix: '/v1/' }, upstream: 'sim', dialect: 'openai', key_auth: 'required' },
    ],
  });
  cfg.rate_limits = {
    consumers: Object.entries(KEYS).map(([name, key]) => ({ name, keys: [key] })),
    policies: [{
      name: 'per-consumer', routes: ['chat', 'anthropic'], reservation: 'prompt_plus_max',
      rules: [{ name: 'hourly', by: 'per_consumer', limits: [{ tokens: limit ?? 1_000_000, per: 'hour' }] }],
    }],
  };
  cfg.store = { type: 'memory' };
  cfg.admin = { listen: `127.0.0.1:${adminPort}`, token: ADMIN_TOKEN };
  if (quota) cfg.quota = quota;
  const gw = await h.gateway(extra(cfg));
  gw.adminPort = adminPort;
  return gw;
}

const admin = (gw, p, { method = 'GET', body, headers = ADMIN } = {}) =>
  request({ port: gw.adminPort, path: p, method, body, headers, timeout: 10000 });

// ---------------------------------------------------------------------------------------------
// The Prometheus text exposition format (0.0.4), parsed strictly.

function unescapeLabel(v) {
  return v.replace(/\\(.)/g, (_, c) => (c === 'n' ? '\n' : c));
}

/**
 * Parses the exposition: { types: Map(family -> type), samples: [{ name, labels, value }] }.
 * Throws on a malformed line, a sample whose family has no TYPE, or a duplicated series.
 */
function parseProm(text) {
  const types = new Map();
  const samples = [];
  const seen = new Set();
  assert.ok(text.endsWith('\n'), 'the exposition ends with a newline');
  for (const line of text.split('\n')) {
    if (line === '') continue;
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
      assert.ok(m, `bad comment line: ${JSON.stringify(line)}`);
      if (m[1] === 'TYPE') {
        assert.ok(['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(m[3]), `bad TYPE: ${line}`);
        assert.ok(!types.has(m[2]), `TYPE twice for ${m[2]}`);
        types.set(m[2], m[3]);
      }
      continue;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(m, `bad sample line: ${JSON.stringify(line)}`);
    const [, name, labelText = '', valueText] = m;
    const labels = {};
    const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)/y;
    let pos = 0;
    while (pos < labelText.length) {
      re.lastIndex = pos;
      const lm = re.exec(labelText);
      assert.ok(lm, `bad label set in ${JSON.stringify(line)} at ${pos}`);
      assert.ok(!(lm[1] in labels), `label ${lm[1]} twice in ${line}`);
      labels[lm[1]] = unescapeLabel(lm[2]);
      pos = re.lastIndex;
    }
    const value = Number(valueText === '+Inf' ? Infinity : valueText);
    assert.ok(!Number.isNaN(value), `bad value in ${line}`);
    const family = types.has(name) ? name : name.replace(/_(bucket|sum|count)$/, '');
    assert.ok(types.has(family), `sample ${name} without a TYPE line`);
    const key = `${name}${JSON.stringify(Object.entries(labels).sort())}`;
    assert.ok(!seen.has(key), `series twice: ${line}`);
    seen.add(key);
    samples.push({ name, labels, value });
  }
  return { types, samples };
}

/** The samples of `name` whose labels include `match`. */
const series = (prom, name, match = {}) =>
  prom.samples.filter((s) => s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v));

/** The value of the one series of `name` with exactly the label set `labels`. */
function value(prom, name, labels) {
  const want = JSON.stringify(Object.entries(labels).sort());
  const hits = prom.samples.filter((s) => s.name === name && JSON.stringify(Object.entries(s.labels).sort()) === want);
  assert.equal(hits.length, 1, `${name}${JSON.stringify(labels)}: ${hits.length} series; family has ${JSON.stringify(series(prom, name).map((s) => s.labels))}`);
  return hits[0].value;
}

/** { "l1=v1,l2=v2": value } of every non-zero series of `name`, with the labels `keys`. */
function nonZero(prom, name, keys) {
  const out = {};
  for (const s of series(prom, name)) {
    assert.deepEqual(Object.keys(s.labels).sort(), [...keys].sort(), `labels of ${name}`);
    if (s.value !== 0) out[keys.map((k) => `${k}=${s.labels[k]}`).join(',')] = s.value;
  }
  return out;
}

async function scrape(gw) {
  const r = await admin(gw, '/metrics');
  assert.equal(r.status, 200, r.text);
  assert.match(r.headers['content-type'], /^text\/plain; version=0\.0\.4/);
  return parseProm(r.text);
}

// ---------------------------------------------------------------------------------------------
// Metrics.

test('metrics: exact values after scripted traffic (requests, tokens, decisions, breaker, build info); 401 without the token', { timeout: 60000 }, async () => {
  const N = 3;                           // alice's allowed requests
  const M = 2;                           // alice's rejected requests
  const LIMIT = N * R + Math.floor(R / 2); // N fit in the hour, the next does not
  const gw = await opsGateway({ limit: LIMIT, server: { workers: 2 } });
  await awaitWindowRoom(HOUR, 60000);

  // Before any traffic: the breaker gauges exist and are closed; build info is there.
  const before0 = await scrape(gw);
  assert.equal(value(before0, 'tokengate_circuit_breaker_state', { upstream: 'sim' }), 0);
  assert.equal(value(before0, 'tokengate_circuit_breaker_state', { upstream: 'flaky' }), 0);

  const sent = [];
  for (let i = 0; i < N; i++) {
    const r = await chat(gw, 'alice');
    assert.equal(r.status, 200, r.text);
    sent.push(r);
  }
  for (let i = 0; i < M; i++) {
    const r = await chat(gw, 'alice');
    assert.equal(r.status, 429, r.text);
    openaiError(r, { code: 'rate_limit_exceeded' });
    sent.push(r);
  }
  const bob = await chat(gw, 'bob', { body: chatBody('gpt-4o') });
  assert.equal(bob.status, 200, bob.text);
  sent.push(bob);
  const nf = await request({ port: gw.port, path: '/nowhere' });
  assert.equal(nf.status, 404);
  sent.push(nf);
  // A 5xx from the breaker's upstream opens its circuit (consecutive_failures: 1).
  const flaky = await chat(gw, null, { prefix: '/flaky', headers: { 'x-sim-status': '500' } });
  assert.equal(flaky.status, 500, flaky.text);
  sent.push(flaky);
  const lines = await accessLogLines(gw, sent.map(rid));

  // Unauthenticated scrapes are refused, and do not count as anything.
  for (const headers of [{}, { authorization: 'Bearer wrong-token' }, { authorization: ADMIN_TOKEN }]) {
    const r = await admin(gw, '/metrics', { headers });
    assert.equal(r.status, 401, `${JSON.stringify(headers)}: ${r.text}`);
    assert.doesNotMatch(r.text, /tokengate_/);
  }

  const prom = await scrape(gw);
  assert.equal(prom.types.get('tokengate_requests_total'), 'counter');
  assert.equal(prom.types.get('tokengate_tokens_total'), 'counter');
  assert.equal(prom.types.get('tokengate_ratelimit_decisions_total'), 'counter');
  assert.equal(prom.types.get('tokengate_circuit_breaker_state'), 'gauge');
  assert.equal(prom.types.get('tokengate_build_info'), 'gauge');

  // Requests: the script, series by series, and the same counts derived from the access log.
  const reqKeys = ['route', 'upstream', 'consumer', 'model', 'status'];
  const requests = nonZero(prom, 'tokengate_requests_total', reqKeys);
  assert.deepEqual(requests, {
    'route=chat,upstream=sim,consumer=alice,model=gpt-4o-mini,status=200': N,
    'route=chat,upstream=sim,consumer=alice,model=gpt-4o-mini,status=429': M,
    'route=chat,upstream=sim,consumer=bob,model=gpt-4o,status=200': 1,
    'route=,upstream=,consumer=,model=,status=404': 1,
    'route=flaky,upstream=flaky,consumer=,model=gpt-4o-mini,status=500': 1,
  });
  const fromLog = {};
  for (const l of lines) {
    const k = `route=${l.route ?? ''},upstream=${l.upstream ?? ''},consumer=${l.consumer ?? ''},model=${l.model ?? ''},status=${l.status}`;
    fromLog[k] = (fromLog[k] ?? 0) + 1;
  }
  assert.deepEqual(requests, fromLog, 'tokengate_requests_total agrees with the access log');

  // Tokens: the sums of the access log's usage, per consumer and model.
  const tokens = {};
  for (const l of lines) {
    for (const [kind, field] of [['input', 'input_tokens'], ['output', 'output_tokens']]) {
      if (!l[field]) continue;
      const k = `consumer=${l.consumer ?? ''},model=${l.model},kind=${kind}`;
      tokens[k] = (tokens[k] ?? 0) + l[field];
    }
  }
  assert.deepEqual(tokens, {
    'consumer=alice,model=gpt-4o-mini,kind=input': N * P,
    'consumer=alice,model=gpt-4o-mini,kind=output': N * T,
    'consumer=bob,model=gpt-4o,kind=input': P,
    'consumer=bob,model=gpt-4o,kind=output': T,
  }, 'the access log shows the usage the simulator reported (nothing for rejected or failed requests)');
  const tok = nonZero(prom, 'tokengate_tokens_total', ['consumer', 'model', 'kind']);
  assert.deepEqual(tok, tokens, 'tokengate_tokens_total equals the access log sums (cached/reasoning 0)');

  // Rate-limit decisions: alice N + bob 1 allowed, alice M rejected, on the one rule.
  const dec = (decision) => value(prom, 'tokengate_ratelimit_decisions_total', { policy: 'per-consumer', rule: 'hourly', decision });
  assert.equal(dec('allowed'), N + 1);
  assert.equal(dec('rejected'), M);
  assert.equal(dec('too_large'), 0);
  assert.equal(dec('shadow_rejected'), 0);
  assert.deepEqual(nonZero(prom, 'tokengate_ratelimit_decisions_total', ['policy', 'rule', 'decision']), {
    'policy=per-consumer,rule=hourly,decision=allowed': N + 1,
    'policy=per-consumer,rule=hourly,decision=rejected': M,
  });
  // Reserved and settled on the route: every admitted request reserved and used R.
  assert.equal(value(prom, 'tokengate_ratelimit_reserved_tokens_total', { route: 'chat' }), (N + 1) * R);
  assert.equal(value(prom, 'tokengate_ratelimit_settled_tokens_total', { route: 'chat' }), (N + 1) * R);

  // The breaker: open (2) on flaky, closed (0) on sim.
  assert.equal(value(prom, 'tokengate_circuit_breaker_state', { upstream: 'flaky' }), 2);
  assert.equal(value(prom, 'tokengate_circuit_breaker_state', { upstream: 'sim' }), 0);

  // Build info: one series, value 1, the version the binary prints.
  const version = (await runCli(['--version'])).stdout.trim().split(/\s+/).pop();
  assert.deepEqual(series(prom, 'tokengate_build_info').map((s) => [s.labels, s.value]), [[{ version }, 1]]);

  // Upstream latency: one observation per request that reached an upstream (N + bob + flaky).
  const fb = (up) => value(prom, 'tokengate_upstream_first_byte_seconds_count', { upstream: up });
  assert.equal(fb('sim') + fb('flaky'), N + 2);
});

// ---------------------------------------------------------------------------------------------
// Admin endpoints.

test('admin: /healthz and /readyz are open; every other endpoint is 401 without or with a wrong token, 200 with it', { timeout: 60000 }, async () => {
  const gw = await opsGateway({ quota: { enabled: true } });
  for (const p of ['/healthz', '/readyz']) {
    const r = await admin(gw, p, { headers: {} });
    assert.equal(r.status, 200, `${p}: ${r.text}`);
    assert.deepEqual(r.json(), { status: p === '/healthz' ? 'ok' : 'ready' });
  }
  const endpoints = [
    ['GET', '/metrics'],
    ['GET', '/admin/config'],
    ['GET', '/admin/buckets?consumer=alice'],
    ['POST', '/admin/buckets/reset?consumer=alice'],
    ['GET', '/admin/quota/alice'],
    ['PUT', '/admin/quota/alice', { quota: 1000 }],
    ['POST', '/admin/quota/alice/increase', { amount: 5 }],
    ['POST', '/admin/quota/alice/decrease', { amount: 2 }],
    ['DELETE', '/admin/quota/alice'],
    ['POST', '/admin/reload'],
  ];
  const wrongs = [{}, { authorization: 'Bearer not-the-token' }, { authorization: `Bearer ${ADMIN_TOKEN}x` },
    { authorization: `Basic ${Buffer.from(`admin:${ADMIN_TOKEN}`).toString('base64')}` }];
  for (const [method, p, body] of endpoints) {
    for (const headers of wrongs) {
      const r = await admin(gw, p, { method, body, headers });
      assert.equal(r.status, 401, `${method} ${p} ${JSON.stringify(headers)}: ${r.status} ${r.text}`);
      assert.match(r.headers['www-authenticate'] ?? '', /^Bearer realm="tokengate-admin"/);
      assert.equal(r.json().error.code, 'unauthorized');
    }
  }
  // None of the refused changes happened: alice has no quota.
  const q0 = await admin(gw, '/admin/quota/alice');
  assert.deepEqual(q0.json(), { consumer: 'alice', quota: null, unlimited: true });

  const answers = [];
  for (const [method, p, body] of endpoints) {
    const r = await admin(gw, p, { method, body });
    assert.equal(r.status, 200, `${method} ${p}: ${r.text}`);
    answers.push(p.startsWith('/metrics') ? null : r.json());
  }
  assert.deepEqual(answers.slice(5, 9), [
    { consumer: 'alice', quota: 1000, unlimited: false },
    { consumer: 'alice', quota: 1005, unlimited: false },
    { consumer: 'alice', quota: 1003, unlimited: false },
    { consumer: 'alice', quota: null, unlimited: true },
  ]);
  assert.deepEqual(answers[9], { ok: true, errors: [] });

  // An unknown path: 401 without the token (reveals nothing), 404 with it.
  assert.equal((await admin(gw, '/admin/nothing-here', { headers: {} })).status, 401);
  assert.equal((await admin(gw, '/admin/nothing-here')).status, 404);
  // The gateway listener does not serve the admin API.
  const onGateway = await request({ port: gw.port, path: '/admin/config', headers: ADMIN });
  assert.equal(onGateway.status, 404, onGateway.text);
});

test('admin: GET /admin/top answers the top consumers by tokens', { timeout: 30000 }, async () => {
  const gw = await opsGateway();
  assert.equal((await chat(gw, 'alice')).status, 200);
  assert.equal((await chat(gw, 'alice')).status, 200);
  assert.equal((await chat(gw, 'bob')).status, 200);
  assert.equal((await admin(gw, '/admin/top', { headers: {} })).status, 401);
  const r = await admin(gw, '/admin/top?n=10');
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json(), { top: [{ consumer: 'alice', tokens: 2 * R }, { consumer: 'bob', tokens: R }] });
});

test('admin: /admin/config is the running config with secrets redacted', { timeout: 30000 }, async () => {
  const gw = await opsGateway({ quota: { enabled: true, routes: ['chat'] } });
  const r = await admin(gw, '/admin/config');
  assert.equal(r.status, 200, r.text);
  assert.match(r.headers['cache-control'] ?? '', /no-store/);
  for (const secret of [UPSTREAM_SECRET, ADMIN_TOKEN, ...Object.values(KEYS)]) {
    assert.ok(!r.text.includes(secret), `secret ${secret} appears in /admin/config`);
  }
  const c = r.json();
  assert.equal(c.listeners[0].address, `127.0.0.1:${gw.port}`);
  assert.deepEqual(c.upstreams.map((u) => u.name), ['sim', 'flaky']);
  assert.equal(c.upstreams[0].url, sim.url);
  assert.deepEqual(c.upstreams[0].headers.set, { authorization: '<redacted>' });
  assert.deepEqual(c.routes.map((x) => x.name), ['flaky', 'anthropic', 'free', 'chat']);
  assert.equal(c.admin.listen, `127.0.0.1:${gw.adminPort}`);
  assert.equal(c.admin.token, '<redacted>');
  assert.deepEqual(c.quota.routes, ['chat']);
  // The token is not logged either.
  assert.ok(!gw.proc.err.includes(ADMIN_TOKEN) && !gw.proc.out.includes(ADMIN_TOKEN), 'the admin token is in the logs');
});

test('admin: /admin/buckets shows what requests used; /admin/buckets/reset admits the consumer again', { timeout: 90000 }, async () => {
  const LIMIT = 2 * R + Math.floor(R / 2); // two requests fit
  const gw = await opsGateway({ limit: LIMIT });
  await awaitWindowRoom(HOUR, 60000);
  const buckets = async (who) => {
    const r = await admin(gw, `/admin/buckets?consumer=${who}`);
    assert.equal(r.status, 200, r.text);
    const b = r.json();
    assert.equal(b.consumer, who);
    assert.equal(b.buckets.length, 1, r.text);
    const [x] = b.buckets;
    assert.equal(x.policy, 'per-consumer');
    assert.equal(x.rule, 'hourly');
    assert.equal(x.limit, LIMIT);
    assert.equal(x.window_ms, HOUR);
    assert.equal(x.used + x.remaining, LIMIT);
    const left = HOUR - (Date.now() % HOUR);
    // A bucket nothing was charged to is full: nothing to wait for.
    if (x.used === 0) assert.ok(x.reset_ms === 0 || Math.abs(x.reset_ms - left) < 5000, `reset_ms ${x.reset_ms} of an unused bucket`);
    else assert.ok(x.reset_ms > 0 && x.reset_ms <= left + 1000 && x.reset_ms >= left - 5000, `reset_ms ${x.reset_ms} vs ${left} left in the hour`);
    return x;
  };
  assert.equal((await buckets('alice')).used, 0);
  const r1 = await chat(gw, 'alice');
  assert.equal(r1.status, 200, r1.text);
  const r2 = await postJSON(gw.port, '/anthropic/v1/messages', anthropicBody(), { ...knobs, ...AUTH.alice });
  assert.equal(r2.status, 200, r2.text);
  await accessLogLines(gw, [rid(r1), rid(r2)]);
  // Reading does not charge: twice the same answer.
  const b1 = await buckets('alice');
  assert.equal(b1.used, R + RA, 'used = the two requests (OpenAI + Anthropic share the consumer bucket)');
  assert.equal(b1.remaining, LIMIT - R - RA);
  assert.equal((await buckets('alice')).used, R + RA);
  assert.equal((await buckets('bob')).used, 0, 'bob has a bucket of his own');

  // Fill the bucket: the next one is rejected.
  const rej = await chat(gw, 'alice');
  assert.equal(rej.status, 429, rej.text);
  assert.equal((await buckets('alice')).used, R + RA, 'a rejected request is not charged');

  // Unknown consumer: 404. A bad query: 400.
  assert.equal((await admin(gw, '/admin/buckets?consumer=nobody')).status, 404);
  assert.equal((await admin(gw, '/admin/buckets/reset?consumer=nobody', { method: 'POST' })).status, 404);
  assert.equal((await admin(gw, '/admin/buckets')).status, 400);

  const reset = await admin(gw, '/admin/buckets/reset?consumer=alice', { method: 'POST' });
  assert.equal(reset.status, 200, reset.text);
  assert.deepEqual(reset.json(), { consumer: 'alice', reset: 1 });
  assert.equal((await buckets('alice')).used, 0);
  const again = await chat(gw, 'alice');
  assert.equal(again.status, 200, again.text);
  assert.equal(Number(again.headers['x-ratelimit-remaining-tokens']), LIMIT - R, 'a fresh bucket');
  await accessLogLines(gw, [rid(again)]);
  assert.equal((await buckets('alice')).used, R);
});

// ---------------------------------------------------------------------------------------------
// Quotas.

/** Waits until GET /admin/quota/NAME answers `want` (the charge lands at settle); returns it. */
async function quotaIs(gw, who, want) {
  let last;
  try {
    return await waitFor(async () => {
      last = (await admin(gw, `/admin/quota/${who}`)).json();
      return last.quota === want ? last : null;
    }, { timeout: 3000, what: `quota of ${who} = ${want}` });
  } catch {
    assert.fail(`quota of ${who}: ${JSON.stringify(last)}, want ${want}`);
  }
}

const totalTokens = (lines) => lines.reduce((s, l) => s + (l.total_tokens ?? 0), 0);

test('quota: set, enforced (429 insufficient_quota, x-should-retry: false) after the usage charged at settle, increase, decrease, delete', { timeout: 60000 }, async () => {
  const gw = await opsGateway({ quota: { enabled: true, routes: ['chat', 'anthropic'] } });
  const Q = 2 * R + Math.floor(R / 2);   // two requests leave R/2 > 0: a third is admitted
  const put = await admin(gw, '/admin/quota/alice', { method: 'PUT', body: { quota: Q } });
  assert.equal(put.status, 200, put.text);
  assert.deepEqual(put.json(), { consumer: 'alice', quota: Q, unlimited: false });
  const change = await waitFor(() => gw.proc.err.split('\n').find((l) => l.includes('"msg":"admin quota change"')),
    { timeout: 3000, what: 'the "admin quota change" log line' });
  assert.deepEqual((({ consumer, action, quota }) => ({ consumer, action, quota }))(JSON.parse(change)),
    { consumer: 'alice', action: 'set', quota: String(Q) });

  const ok = [];
  for (let i = 0; i < 3; i++) {
    const r = await chat(gw, 'alice');
    assert.equal(r.status, 200, `request ${i} with quota ${Q - i * R} left: ${r.text}`);
    ok.push(r);
    await quotaIs(gw, 'alice', Q - (i + 1) * R);
  }
  const okLines = await accessLogLines(gw, ok.map(rid));
  const charged = totalTokens(okLines);
  assert.equal(charged, 3 * R);
  const after3 = await quotaIs(gw, 'alice', Q - charged);
  assert.ok(after3.quota < 0, `the last admitted request drove the quota negative: ${after3.quota}`);

  // Over quota: OpenAI and Anthropic dialects, non-retryable, not charged, never upstream.
  const rej = await chat(gw, 'alice');
  assert.equal(rej.status, 429, rej.text);
  assert.equal(rej.headers['x-should-retry'], 'false');
  assert.equal(rej.headers['retry-after'], undefined);
  const e = openaiError(rej, { code: 'insufficient_quota' }).error;
  assert.equal(e.type, 'insufficient_quota');
  assert.match(e.message, /alice/);
  const rejA = await postJSON(gw.port, '/anthropic/v1/messages', anthropicBody(), { ...knobs, ...AUTH.alice });
  assert.equal(rejA.status, 429, rejA.text);
  assert.equal(rejA.headers['x-should-retry'], 'false');
  anthropicError(rejA);
  // A route outside quota.routes is not limited by the quota.
  const free = await chat(gw, 'alice', { prefix: '/free' });
  assert.equal(free.status, 200, free.text);
  const [lr, lra, lf] = await accessLogLines(gw, [rid(rej), rid(rejA), rid(free)]);
  assert.equal(lr.status, 429);
  assert.equal(lr.error, 'insufficient_quota');
  assert.equal(lr.upstream_first_byte_ms, null, 'a request over quota never went upstream');
  assert.equal(lra.error, 'insufficient_quota');
  assert.equal(lf.status, 200);
  await quotaIs(gw, 'alice', Q - charged);

  // Increase: by exactly enough to make it positive (1 token) -> admitted again.
  const up = await admin(gw, '/admin/quota/alice/increase', { method: 'POST', body: { amount: charged - Q + 1 } });
  assert.equal(up.status, 200, up.text);
  assert.deepEqual(up.json(), { consumer: 'alice', quota: 1, unlimited: false });
  const r4 = await chat(gw, 'alice');
  assert.equal(r4.status, 200, r4.text);
  const [l4] = await accessLogLines(gw, [rid(r4)]);
  await quotaIs(gw, 'alice', 1 - l4.total_tokens);

  // Decrease from a positive value to exactly 0: blocked (admitted only while > 0).
  const inc = await admin(gw, '/admin/quota/alice/increase', { method: 'POST', body: { amount: 1000 } });
  assert.equal(inc.json().quota, 1001 - l4.total_tokens);
  const dec = await admin(gw, '/admin/quota/alice/decrease', { method: 'POST', body: { amount: 1001 - l4.total_tokens } });
  assert.equal(dec.status, 200, dec.text);
  assert.deepEqual(dec.json(), { consumer: 'alice', quota: 0, unlimited: false });
  const r5 = await chat(gw, 'alice');
  assert.equal(r5.status, 429, r5.text);
  openaiError(r5, { code: 'insufficient_quota' });
  const neg = await admin(gw, '/admin/quota/alice/decrease', { method: 'POST', body: { amount: 7 } });
  assert.deepEqual(neg.json(), { consumer: 'alice', quota: -7, unlimited: false }, 'decrease may go negative');

  // Invalid bodies: 400, nothing changes.
  for (const [method, p, body] of [
    ['PUT', '/admin/quota/alice', { quota: -1 }],
    ['PUT', '/admin/quota/alice', { quota: 1.5 }],
    ['PUT', '/admin/quota/alice', { quota: '5' }],
    ['PUT', '/admin/quota/alice', { quota: 5, extra: 1 }],
    ['POST', '/admin/quota/alice/increase', { amount: 0 }],
    ['POST', '/admin/quota/alice/decrease', { amount: -3 }],
    ['PUT', '/admin/quota/alice', 'not json'],
  ]) {
    const r = await admin(gw, p, { method, body, headers: { ...ADMIN, 'content-type': 'application/json' } });
    assert.equal(r.status, 400, `${method} ${p} ${JSON.stringify(body)}: ${r.status} ${r.text}`);
  }
  await quotaIs(gw, 'alice', -7);

  // Delete: unlimited again.
  const del = await admin(gw, '/admin/quota/alice', { method: 'DELETE' });
  assert.deepEqual(del.json(), { consumer: 'alice', quota: null, unlimited: true });
  const r6 = await chat(gw, 'alice');
  assert.equal(r6.status, 200, r6.text);
  await accessLogLines(gw, [rid(r6)]);
  assert.deepEqual((await admin(gw, '/admin/quota/alice')).json(), { consumer: 'alice', quota: null, unlimited: true },
    'using tokens never creates a counter');
});

test('quota: a consumer without a quota is unlimited, and using tokens creates none; increase from nothing starts at 0', { timeout: 60000 }, async () => {
  const gw = await opsGateway({ quota: { enabled: true } });
  // carol is blocked, bob has no quota: bob's traffic is not affected.
  assert.equal((await admin(gw, '/admin/quota/carol', { method: 'PUT', body: { quota: 0 } })).status, 200);
  const carol = await chat(gw, 'carol');
  assert.equal(carol.status, 429, carol.text);
  const sent = [];
  for (let i = 0; i < 5; i++) {
    const r = await chat(gw, 'bob');
    assert.equal(r.status, 200, r.text);
    sent.push(r);
  }
  const lines = await accessLogLines(gw, sent.map(rid));
  assert.equal(totalTokens(lines), 5 * R);
  assert.deepEqual((await admin(gw, '/admin/quota/bob')).json(), { consumer: 'bob', quota: null, unlimited: true });
  // A streaming request is charged its usage too (the usage chunk of the stream).
  const sq = await admin(gw, '/admin/quota/carol', { method: 'PUT', body: { quota: 1000 } });
  assert.equal(sq.status, 200, sq.text);
  const s = await streamRequest({ port: gw.port, path: '/v1/chat/completions', headers: { ...knobs, ...AUTH.carol },
    body: { ...chatBody(), stream: true, stream_options: { include_usage: true } }, timeout: 15000 });
  assert.equal(s.status, 200);
  assert.equal(s.events.at(-1)?.data, '[DONE]');
  const [ls] = await accessLogLines(gw, [s.headers['x-request-id']]);
  assert.equal(ls.total_tokens, R);
  await quotaIs(gw, 'carol', 1000 - R);
  const inc = await admin(gw, '/admin/quota/bob/increase', { method: 'POST', body: { amount: 2 * R } });
  assert.deepEqual(inc.json(), { consumer: 'bob', quota: 2 * R, unlimited: false });
  const dec = await admin(gw, '/admin/quota/dave/decrease', { method: 'POST', body: { amount: 3 } });
  assert.equal(dec.status, 200, dec.text);
  assert.deepEqual(dec.json(), { consumer: 'dave', quota: -3, unlimited: false });
  assert.equal((await chat(gw, 'bob')).status, 200);
  assert.equal((await chat(gw, 'bob')).status, 200);
  await quotaIs(gw, 'bob', 0);
  const blocked = await chat(gw, 'bob');
  assert.equal(blocked.status, 429, blocked.text);
  openaiError(blocked, { code: 'insufficient_quota' });
});

test('quota: without quota.enabled the quota endpoints answer 501 quota_disabled', { timeout: 30000 }, async () => {
  const gw = await opsGateway();
  const r = await admin(gw, '/admin/quota/alice');
  assert.equal(r.status, 501, r.text);
  assert.equal(r.json().error.code, 'quota_disabled');
  assert.equal((await admin(gw, '/admin/quota/alice', { headers: {} })).status, 401);
});

// ---------------------------------------------------------------------------------------------
// Log rotation.

test('SIGUSR1 reopens the access log and the rate-limit event log: after a rename, new lines land in new files at the original paths', { timeout: 90000 }, async () => {
  const dir = h.tmpDir();
  const file = path.join(dir, 'access.log');
  const rlFile = path.join(dir, 'ratelimit.log');
  const LIMIT = R + Math.floor(R / 2); // one request of alice fits in the hour
  const gw = await opsGateway({ limit: LIMIT, quota: { enabled: true }, server: { access_log: file, ratelimit_log: rlFile, workers: 2 } });
  await awaitWindowRoom(HOUR, 60000);
  assert.equal((await admin(gw, '/admin/quota/carol', { method: 'PUT', body: { quota: 0 } })).status, 200);
  const read = (f) => (fs.existsSync(f) ? parseAccessLog(fs.readFileSync(f, 'utf8')) : []);
  const readIds = (f) => read(f).map((l) => l.request_id);
  const waitIds = (f, ids) => waitFor(() => ids.every((id) => readIds(f).includes(id)), { timeout: 5000, what: `${ids.length} lines in ${f}` });

  const first = [];
  for (let i = 0; i < 3; i++) first.push(rid(await request({ port: gw.port, path: '/nowhere' })));
  const allowed = await chat(gw, 'alice');
  assert.equal(allowed.status, 200, allowed.text);
  const rejected = await chat(gw, 'alice');
  assert.equal(rejected.status, 429, rejected.text);
  const refused = await chat(gw, 'carol');
  assert.equal(refused.status, 429, refused.text);
  first.push(...[allowed, rejected, refused].map(rid));
  await waitIds(file, first);
  await waitIds(rlFile, [rid(rejected), rid(refused)]);
  assert.equal(gw.proc.out, '', 'nothing on stdout when both logs are files');

  // The rate-limit event log: one line per request not simply allowed, with the decision.
  const rl = read(rlFile);
  assert.deepEqual(rl.map((l) => l.request_id).sort(), [rid(rejected), rid(refused)].sort(), 'only the two refusals');
  const lr = rl.find((l) => l.request_id === rid(rejected));
  assert.deepEqual(
    (({ route, consumer, model, decision, policy, rule, value, limit, remaining, reserved_tokens, status }) =>
      ({ route, consumer, model, decision, policy, rule, value, limit, remaining, reserved_tokens, status }))(lr),
    { route: 'chat', consumer: 'alice', model: 'gpt-4o-mini', decision: 'rejected', policy: 'per-consumer', rule: 'hourly', value: 'alice', limit: LIMIT, remaining: LIMIT - R, reserved_tokens: R, status: 429 },
  );
  const left = HOUR - (Date.now() % HOUR);
  assert.ok(lr.retry_after_ms > 0 && lr.retry_after_ms <= left + 1000, `retry_after_ms ${lr.retry_after_ms} vs ${left} left in the hour`);
  const lq = rl.find((l) => l.request_id === rid(refused));
  assert.deepEqual([lq.route, lq.consumer, lq.decision, lq.status], ['chat', 'carol', 'insufficient_quota', 429]);
  for (const secret of Object.values(KEYS)) assert.ok(!fs.readFileSync(rlFile, 'utf8').includes(secret), 'no key in the rate-limit log');

  fs.renameSync(file, `${file}.1`);
  fs.renameSync(rlFile, `${rlFile}.1`);
  const reopenedBefore = (gw.proc.err.match(/"msg":"[^"]*reopened"/g) ?? []).length;
  gw.proc.child.kill('SIGUSR1');
  await waitFor(() => (gw.proc.err.match(/"msg":"[^"]*reopened"/g) ?? []).length >= reopenedBefore + 2,
    { timeout: 5000, what: `two "reopened" log lines (have: ${gw.proc.err})` });
  assert.ok(fs.existsSync(file) && fs.existsSync(rlFile), 'both files were created again at their paths');

  const second = [];
  for (let i = 0; i < 4; i++) second.push(rid(await request({ port: gw.port, path: `/nowhere/${i}` })));
  const bob = await chat(gw, 'bob');
  assert.equal(bob.status, 200, bob.text);
  const rejected2 = await chat(gw, 'alice');
  assert.equal(rejected2.status, 429, rejected2.text);
  second.push(rid(bob), rid(rejected2));
  await waitIds(file, second);
  await waitIds(rlFile, [rid(rejected2)]);
  assert.deepEqual(readIds(file).sort(), [...second].sort(), 'the new access log holds exactly the lines written after the reopen');
  assert.deepEqual(readIds(`${file}.1`).sort(), [...first].sort(), 'the rotated access log keeps exactly the lines from before');
  assert.deepEqual(readIds(rlFile), [rid(rejected2)], 'the new rate-limit log holds exactly the refusal after the reopen');
  assert.deepEqual(readIds(`${rlFile}.1`).sort(), [rid(rejected), rid(refused)].sort());
  assert.ok(gw.proc.running);
});
