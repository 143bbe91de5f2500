// Rate-limit rules end to end (issue 4), through the real gateway and the simulated upstream:
// every selector of the native `rate_limits:` config (per_consumer, consumer, global, per_header
// with regexp: keys and a fallback bucket, per_param, per_cookie, per_model, per_ip with CIDR
// keys, longest prefix, X-Forwarded-For behind trusted proxies, IPv4-mapped IPv6), max_keys,
// several windows at once, request-count and concurrency limits, tiers, schedules, penalties,
// shadow mode and weighted tokens. Admission, overshoot, Higress configs and config errors are in
// ratelimit.test.mjs.
//
// Most selector tests count requests (`requests: N`), so that which bucket a request lands in is
// read directly from which request is the first 429; token quantities are derived from the prompt
// size P the simulator reports for the standard request (measured in before()).
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import {
  harness, freePort, gatewayConfig, postJSON, rawExchange, sleep, openaiError, awaitWindowRoom, accessLogLines,
} from './lib.mjs';

const h = harness();
let sim;
let P;

const MINUTE = 60_000;
const HOUR = 3_600_000;
const T = 8;   // output tokens of the standard request

const chatBody = ({ max = T, model = 'gpt-4o-mini' } = {}) => ({ model, max_tokens: max, messages: [{ role: 'user', content: 'Say something.' }] });
const knobs = (tokens = T, extra = {}) => ({ 'x-sim-tokens': String(tokens), ...extra });
const rid = (r) => r.headers['x-request-id'];

before(async () => {
  sim = await h.sim();
  const r = await postJSON(sim.port, '/v1/chat/completions', chatBody(), knobs());
  assert.equal(r.status, 200, r.text);
  P = r.json().usage.prompt_tokens;
}, { timeout: 60000 });

const CONSUMERS = [
  { name: 'alice', keys: ['sk-alice'], labels: { tier: 'gold', plan: 'pro' } },
  { name: 'bob', keys: ['sk-bob'], labels: { tier: 'free', plan: 'free' } },
  { name: 'carol', keys: ['sk-carol'] },
];
const as = (who) => ({ authorization: `Bearer sk-${who}` });

/**
 * A gateway with one route per policy: policy `name` limits route /name/ only. `policies` are
 * native policies without `routes`; `server` merges over the test defaults.
 */
async function gatewayWith(policies, { server } = {}) {
  const port = await freePort();
  const cfg = gatewayConfig({
    port,
    server,
    upstreams: [{ name: 'sim', url: sim.url }],
    routes: [
      ...policies.map((p) => ({ name: p.name, match: { path_prefix: `/${p.name}/` }, upstream: 'sim', rewrite_prefix: '/', dialect: 'openai' })),
      { name: 'openai', match: { path_prefix: '/' }, upstream: 'sim', dialect: 'openai' },
    ],
  });
  cfg.rate_limits = { consumers: CONSUMERS, policies: policies.map((p) => ({ routes: [p.name], ...p })) };
  const gw = await h.gateway(cfg);
  gw.send = (route, headers = {}, { query = '', body = chatBody() } = {}) =>
    postJSON(gw.port, `/${route}/v1/chat/completions${query}`, body, { ...knobs(), ...headers }, { timeout: 20000 });
  return gw;
}

/** Sends `n` requests one after the other; returns their statuses (each awaited, so each is settled). */
async function statuses(gw, n, route, headers, opts) {
  const out = [];
  for (let i = 0; i < n; i++) {
    const r = await gw.send(route, headers, opts);
    assert.ok([200, 429].includes(r.status), `${route} ${JSON.stringify(headers)}: ${r.status} ${r.text}`);
    out.push(r.status);
  }
  return out;
}
const ok = (n) => Array(n).fill(200);
const okThen429 = (n) => [...ok(n), 429];

// ---------------------------------------------------------------------------------------------
// Selectors.

test('selectors: per_consumer, consumer (listed keys only) and global', { timeout: 60000 }, async () => {
  const gw = await gatewayWith([
    { name: 'pc', rules: [{ name: 'each', by: 'per_consumer', limits: [{ requests: 2, per: 'minute' }] }] },
    { name: 'lc', rules: [{ name: 'listed', by: 'consumer', keys: ['alice'], limits: [{ requests: 1, per: 'minute' }] }] },
    { name: 'gl', rules: [{ name: 'all', by: 'global', limits: [{ requests: 3, per: 'minute' }] }] },
  ]);
  await awaitWindowRoom(MINUTE, 15000);
  assert.deepEqual(await statuses(gw, 3, 'pc', as('alice')), okThen429(2), 'per_consumer: alice has her own 2');
  assert.deepEqual(await statuses(gw, 3, 'pc', as('bob')), okThen429(2), 'per_consumer: bob has his own 2');
  const rej = await gw.send('pc', as('alice'));
  assert.equal(rej.status, 429);
  assert.match(openaiError(rej, { code: 'rate_limit_exceeded' }).error.message, /pc\/each \(alice\)/);
  assert.equal(openaiError(rej).error.type, 'requests', 'a request-count bucket says type requests');
  assert.equal(rej.headers['x-ratelimit-limit-requests'], '2');
  assert.equal(rej.headers['x-ratelimit-remaining-requests'], '0');
  const anon = await statuses(gw, 3, 'pc', {});
  assert.deepEqual(anon, ok(3), 'per_consumer does not limit unauthenticated requests (no fallback)');

  assert.deepEqual(await statuses(gw, 2, 'lc', as('alice')), okThen429(1), 'consumer: alice is listed');
  assert.deepEqual(await statuses(gw, 3, 'lc', as('bob')), ok(3), 'consumer: bob is not listed');

  const g = [await gw.send('gl', as('alice')), await gw.send('gl', as('bob')), await gw.send('gl', {}), await gw.send('gl', as('carol'))];
  assert.deepEqual(g.map((r) => r.status), okThen429(3), 'global: one counter for everybody');
  const [la, lb, lc, ld] = await accessLogLines(gw, g.map(rid));
  assert.deepEqual([la.consumer, lb.consumer, lc.consumer, ld.consumer], ['alice', 'bob', undefined, 'carol']);
  assert.deepEqual([la.ratelimit, ld.ratelimit, ld.ratelimit_policy, ld.ratelimit_rule], ['allowed', 'rejected', 'gl', 'all']);
});

test('selectors: per_header with regexp: keys and a fallback bucket; max_keys overflow bucket', { timeout: 60000 }, async () => {
  const gw = await gatewayWith([
    {
      name: 'hdr',
      rules: [{
        name: 'users', by: 'per_header', header: 'x-user-id',
        keys: [{ key: 'regexp:^svc-', limits: [{ requests: 3, per: 'minute' }] }, '*'],
        limits: [{ requests: 1, per: 'minute' }],
        fallback: [{ requests: 2, per: 'minute' }],
      }],
    },
    { name: 'cap', rules: [{ by: 'per_header', header: 'x-user-id', max_keys: 2, limits: [{ requests: 1, per: 'minute' }] }] },
  ]);
  await awaitWindowRoom(MINUTE, 15000);
  assert.deepEqual(await statuses(gw, 2, 'hdr', { 'x-user-id': 'u1' }), okThen429(1), '"*": the rule limit');
  assert.deepEqual(await statuses(gw, 2, 'hdr', { 'x-user-id': 'u2' }), okThen429(1), 'one counter per value');
  assert.deepEqual(await statuses(gw, 4, 'hdr', { 'x-user-id': 'svc-a' }), okThen429(3), 'regexp key: its own limit');
  assert.deepEqual(await statuses(gw, 4, 'hdr', { 'x-user-id': 'svc-b' }), okThen429(3), 'per_ + regexp: still one counter per value');
  assert.deepEqual(await statuses(gw, 2, 'hdr', { 'x-user-id': 'my-svc-c' }), okThen429(1), 'regexp ^ anchors');
  assert.deepEqual(await statuses(gw, 3, 'hdr', {}), okThen429(2), 'missing header: the shared fallback bucket');
  const fb = await gw.send('hdr', {});
  const [l] = await accessLogLines(gw, [rid(fb)]);
  assert.equal(l.ratelimit, 'rejected');
  assert.equal(l.ratelimit_rule, 'users');

  // max_keys 2: the first two values get their own buckets, later ones share one overflow bucket.
  assert.deepEqual(await statuses(gw, 2, 'cap', { 'x-user-id': 'a' }), okThen429(1));
  assert.deepEqual(await statuses(gw, 2, 'cap', { 'x-user-id': 'b' }), okThen429(1));
  assert.deepEqual(await statuses(gw, 1, 'cap', { 'x-user-id': 'c' }), ok(1), 'overflow bucket: first use');
  assert.deepEqual(await statuses(gw, 1, 'cap', { 'x-user-id': 'd' }), [429], 'a new value lands in the (used) overflow bucket');
});

test('selectors: per_param, per_cookie, per_model; a missing value without fallback is not limited', { timeout: 60000 }, async () => {
  const gw = await gatewayWith([
    { name: 'param', rules: [{ by: 'per_param', param: 'team', limits: [{ requests: 1, per: 'minute' }] }] },
    { name: 'cookie', rules: [{ by: 'per_cookie', cookie: 'sid', limits: [{ requests: 1, per: 'minute' }] }] },
    { name: 'model', rules: [{ by: 'per_model', limits: [{ requests: 1, per: 'minute' }] }] },
  ]);
  await awaitWindowRoom(MINUTE, 15000);
  assert.deepEqual(await statuses(gw, 2, 'param', {}, { query: '?team=a' }), okThen429(1));
  assert.deepEqual(await statuses(gw, 2, 'param', {}, { query: '?x=1&team=b' }), okThen429(1));
  assert.deepEqual(await statuses(gw, 3, 'param', {}), ok(3), 'no team param: no bucket');
  const noParam = await gw.send('param', {});
  const [lp] = await accessLogLines(gw, [rid(noParam)]);
  assert.equal(lp.ratelimit, undefined, `no limit applied: ${JSON.stringify(lp)}`);

  assert.deepEqual(await statuses(gw, 2, 'cookie', { cookie: 'theme=dark; sid=s1' }), okThen429(1));
  assert.deepEqual(await statuses(gw, 2, 'cookie', { cookie: 'sid=s2' }), okThen429(1));
  assert.deepEqual(await statuses(gw, 2, 'cookie', { cookie: 'theme=dark' }), ok(2), 'no sid cookie: no bucket');

  assert.deepEqual(await statuses(gw, 2, 'model', {}, { body: chatBody({ model: 'gpt-4o-mini' }) }), okThen429(1));
  assert.deepEqual(await statuses(gw, 2, 'model', {}, { body: chatBody({ model: 'gpt-4o' }) }), okThen429(1), 'per_model: one counter per model');
});

test('selectors: per_ip with CIDR keys (longest prefix), X-Forwarded-For behind trusted_proxies, IPv4-mapped IPv6', { timeout: 60000 }, async () => {
  const rule = {
    name: 'ips', by: 'per_ip',
    keys: [
      { key: '10.0.0.0/8', limits: [{ requests: 3, per: 'minute' }] },
      { key: '10.1.0.0/16', limits: [{ requests: 1, per: 'minute' }] },   // listed second, longer prefix: wins
      '0.0.0.0/0',
    ],
    limits: [{ requests: 2, per: 'minute' }],
  };
  const gw = await gatewayWith([{ name: 'ip', rules: [rule] }], { server: { trusted_proxies: 1 } });
  const xff = (v) => ({ 'x-forwarded-for': v });
  await awaitWindowRoom(MINUTE, 15000);
  assert.deepEqual(await statuses(gw, 2, 'ip', xff('10.1.2.3')), okThen429(1), '10.1.0.0/16 (longest prefix)');
  assert.deepEqual(await statuses(gw, 4, 'ip', xff('10.2.3.4')), okThen429(3), '10.0.0.0/8');
  assert.deepEqual(await statuses(gw, 2, 'ip', xff('10.1.9.9')), okThen429(1), 'per_ip: one counter per address');
  assert.deepEqual(await statuses(gw, 3, 'ip', xff('203.0.113.5')), okThen429(2), '0.0.0.0/0 inherits the rule limit');
  // One trusted proxy: the client is the last X-Forwarded-For entry, whatever the client wrote before it.
  assert.deepEqual(await statuses(gw, 1, 'ip', xff('198.51.100.1, 10.1.2.3')), [429], 'spoofed first entry ignored');
  assert.deepEqual(await statuses(gw, 1, 'ip', { 'x-forwarded-for': '10.1.2.3, 198.51.100.7' }), ok(1), 'last entry decides');
  assert.deepEqual(await statuses(gw, 1, 'ip', xff('::ffff:10.1.2.3')), [429], 'IPv4-mapped IPv6 is the IPv4 address');

  // No trusted proxy (the default): X-Forwarded-For is ignored, the socket address counts.
  const direct = await gatewayWith([{ name: 'ip', rules: [{ by: 'per_ip', limits: [{ requests: 1, per: 'minute' }] }] }]);
  const a = await direct.send('ip', xff('10.9.9.1'));
  const b = await direct.send('ip', xff('10.9.9.2'));
  assert.deepEqual([a.status, b.status], [200, 429], 'both come from 127.0.0.1');
  assert.match(openaiError(b).error.message, /127\.0\.0\.1/);
});

// ---------------------------------------------------------------------------------------------
// Windows, quantities, tiers, schedules.

/** Sleeps until `ms` after the start of the next second. */
async function nextSecond(ms = 50) {
  await sleep(1000 - (Date.now() % 1000) + ms);
}

test('several windows at once: per second and per minute', { timeout: 60000 }, async () => {
  const R = P + T;
  const gw = await gatewayWith([{
    name: 'win', reservation: 'prompt_plus_max',
    rules: [{ name: 'both', by: 'global', limits: [{ tokens: R + Math.floor(R / 2), per: 'second' }, { tokens: 3 * R, per: 'minute' }] }],
  }]);
  await awaitWindowRoom(MINUTE, 15000);
  await nextSecond();
  const s1 = await gw.send('win');
  const s2 = await gw.send('win');
  assert.deepEqual([s1.status, s2.status], [200, 429], 'the second window is full after one request');
  const e2 = openaiError(s2).error.message;
  assert.match(e2, /tokens per second/, e2);
  const ms = Number(s2.headers['retry-after-ms']);
  assert.ok(ms > 0 && ms <= 1000, `retry-after-ms ${ms} within the second`);
  await nextSecond();
  assert.equal((await gw.send('win')).status, 200, 'a new second');
  await nextSecond();
  assert.equal((await gw.send('win')).status, 200, 'another second: 3 R used in the minute');
  await nextSecond();
  const m = await gw.send('win');
  assert.equal(m.status, 429, m.text);
  const em = openaiError(m).error.message;
  assert.match(em, /tokens per minute/, em);
  assert.equal(/Used (\d+)/.exec(em)?.[1], String(3 * R));
  const left = MINUTE - (Date.now() % MINUTE);
  assert.ok(Math.abs(Number(m.headers['retry-after-ms']) - left) < 2000, `retry-after-ms ${m.headers['retry-after-ms']} vs ${left} left in the minute`);
  assert.equal(Number(m.headers['x-ratelimit-limit-tokens']), 3 * R, 'headers describe the rejecting bucket');
});

test('request-count and concurrency limits in one rule: all or nothing', { timeout: 60000 }, async () => {
  const gw = await gatewayWith([{
    name: 'rc', rules: [{ name: 'rpm', by: 'global', limits: [{ requests: 3, per: 'minute' }, { concurrent: 1 }] }],
  }]);
  await awaitWindowRoom(MINUTE, 15000);
  const slow = gw.send('rc', knobs(T, { 'x-sim-ttft-ms': '2500' }));
  await sleep(700);
  const busy = await gw.send('rc');
  assert.equal(busy.status, 429, busy.text);
  const be = openaiError(busy, { code: 'rate_limit_exceeded' }).error;
  assert.match(be.message, /concurrent/);
  assert.equal(be.type, 'requests');
  assert.equal(busy.headers['retry-after'], '1', 'unknown wait: 1 s');
  assert.equal((await slow).status, 200);
  // The rejected request took no request-count slot: 3 admitted in total, then 429.
  const rest = await statuses(gw, 3, 'rc');
  assert.deepEqual(rest, okThen429(2));
  const last = await gw.send('rc');
  assert.equal(last.headers['x-ratelimit-limit-requests'], '3');
  assert.match(openaiError(last).error.message, /requests per minute/);
});

test('tiers: a consumer label picks its limits (tier_label)', { timeout: 60000 }, async () => {
  const gw = await gatewayWith([
    { name: 'tier', rules: [{ by: 'per_consumer', limits: [{ requests: 3, per: 'minute' }], tiers: { free: [{ requests: 1, per: 'minute' }] } }] },
    { name: 'plan', tier_label: 'plan', rules: [{ by: 'per_consumer', limits: [{ requests: 1, per: 'minute' }], tiers: { pro: [{ requests: 2, per: 'minute' }] } }] },
  ]);
  await awaitWindowRoom(MINUTE, 15000);
  assert.deepEqual(await statuses(gw, 2, 'tier', as('bob')), okThen429(1), 'bob: tier free');
  assert.deepEqual(await statuses(gw, 4, 'tier', as('alice')), okThen429(3), 'alice: tier gold has no tier limits: the rule\'s');
  assert.deepEqual(await statuses(gw, 4, 'tier', as('carol')), okThen429(3), 'carol: no label: the rule\'s');
  assert.deepEqual(await statuses(gw, 3, 'plan', as('alice')), okThen429(2), 'tier_label plan: alice is pro');
  assert.deepEqual(await statuses(gw, 2, 'plan', as('bob')), okThen429(1), 'bob is plan free: the rule\'s');
  const r = await gw.send('tier', as('bob'));
  assert.equal(r.headers['x-ratelimit-limit-requests'], '1');
});

test('schedules: the active time-of-day / weekday override in the policy time zone replaces the limits', { timeout: 60000 }, async () => {
  const OFFSET_MIN = 5 * 60 + 30;                 // time_zone "+05:30"
  const offsetMs = OFFSET_MIN * 60_000;
  const leftInLocalHour = () => HOUR - ((Date.now() + offsetMs) % HOUR);
  if (leftInLocalHour() < 15000) await sleep(leftInLocalHour() + 50);
  const local = new Date(Date.now() + offsetMs);  // read with getUTC*: the local wall clock
  const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];
  const hh = (n) => `${String(n).padStart(2, '0')}:00`;
  const hour = local.getUTCHours();
  const now = { from: hh(hour), to: hh(hour + 1) };
  const today = DAYS[local.getUTCDay()];
  const tomorrow = DAYS[(local.getUTCDay() + 1) % 7];
  const policy = (name, schedules) => ({
    name, time_zone: '+05:30',
    rules: [{ by: 'global', limits: [{ requests: 3, per: 'minute' }], schedules }],
  });
  const gw = await gatewayWith([
    policy('active', [{ days: today, ...now, limits: [{ requests: 1, per: 'minute' }] }]),
    policy('otherday', [{ days: tomorrow, ...now, limits: [{ requests: 1, per: 'minute' }] }]),
    policy('otherhour', [{ days: 'sun-sat', from: hh((hour + 2) % 24), to: hh((hour + 3) % 24 || 24), limits: [{ requests: 1, per: 'minute' }] }]),
  ]);
  await awaitWindowRoom(MINUTE, 15000);
  assert.deepEqual(await statuses(gw, 2, 'active', {}), okThen429(1), `schedule ${today} ${now.from}-${now.to} +05:30 is active`);
  assert.deepEqual(await statuses(gw, 4, 'otherday', {}), okThen429(3), `schedule on ${tomorrow} is not`);
  assert.deepEqual(await statuses(gw, 4, 'otherhour', {}), okThen429(3), 'a schedule two hours later is not');
});

// ---------------------------------------------------------------------------------------------
// Penalty, shadow mode, weighted tokens.

test('penalty: after exceeding, the bucket stays blocked for the configured time, even in a new window', { timeout: 60000 }, async () => {
  const PENALTY_MS = 2000;
  const gw = await gatewayWith([
    { name: 'pen', penalty: '2s', rules: [{ name: 'rps', by: 'global', limits: [{ requests: 1, per: 'second' }] }] },
    { name: 'nopen', rules: [{ by: 'global', limits: [{ requests: 1, per: 'second' }] }] },
  ]);
  await nextSecond();
  const r1 = await gw.send('pen');
  const r2 = await gw.send('pen');
  const tOver = Date.now();
  const c1 = await gw.send('nopen');
  const c2 = await gw.send('nopen');
  assert.deepEqual([r1.status, r2.status, c1.status, c2.status], [200, 429, 200, 429]);
  await nextSecond(100);
  assert.ok(Date.now() - tOver < PENALTY_MS - 500, 'still well inside the penalty');
  const c3 = await gw.send('nopen');
  assert.equal(c3.status, 200, 'without a penalty a new second admits again');
  const r3 = await gw.send('pen');
  assert.equal(r3.status, 429, r3.text);
  assert.match(openaiError(r3).error.message, /blocked/);
  const wait = Number(r3.headers['retry-after-ms']);
  const expected = tOver + PENALTY_MS - Date.now();
  assert.ok(Math.abs(wait - expected) < 500, `retry-after-ms ${wait} vs ${expected} ms left of the penalty`);
  const [l3] = await accessLogLines(gw, [rid(r3)]);
  assert.equal(l3.ratelimit, 'rejected');
  assert.equal(l3.ratelimit_rule, 'rps');
  await sleep(wait + 150);
  const r4 = await gw.send('pen');
  assert.equal(r4.status, 200, `after the penalty: ${r4.text}`);
});

test('shadow mode never rejects, and logs shadow_rejected with the policy and rule', { timeout: 60000 }, async () => {
  const gw = await gatewayWith([
    { name: 'shadow', shadow: true, rules: [{ name: 'rpm', by: 'global', limits: [{ requests: 1, per: 'minute' }] }] },
    {
      name: 'ruleshadow',
      rules: [
        { name: 'enforced', by: 'global', limits: [{ requests: 3, per: 'minute' }] },
        { name: 'trial', by: 'global', shadow: true, limits: [{ requests: 1, per: 'minute' }] },
      ],
    },
  ]);
  await awaitWindowRoom(MINUTE, 15000);
  const rs = [];
  for (let i = 0; i < 3; i++) rs.push(await gw.send('shadow'));
  assert.deepEqual(rs.map((r) => r.status), ok(3));
  const lines = await accessLogLines(gw, rs.map(rid));
  assert.deepEqual(lines.map((l) => l.ratelimit), ['allowed', 'shadow_rejected', 'shadow_rejected']);
  assert.equal(lines[1].ratelimit_policy, 'shadow');
  assert.equal(lines[1].ratelimit_rule, 'rpm');
  assert.ok(lines.every((l) => l.total_tokens === P + T), 'shadowed requests are served normally');

  // A shadow rule beside an enforced one: the shadow one only logs, the enforced one rejects.
  const rr = [];
  for (let i = 0; i < 4; i++) rr.push(await gw.send('ruleshadow'));
  assert.deepEqual(rr.map((r) => r.status), okThen429(3));
  const rl = await accessLogLines(gw, rr.map(rid));
  assert.deepEqual(rl.map((l) => l.ratelimit), ['allowed', 'shadow_rejected', 'shadow_rejected', 'rejected']);
  assert.deepEqual([rl[1].ratelimit_rule, rl[3].ratelimit_rule], ['trial', 'enforced']);
});

test('weighted tokens: output counted x4 (policy weights)', { timeout: 60000 }, async () => {
  const OUT = 20;
  const W = P + 4 * OUT;   // weighted usage of one request: input x1 + output x4
  const gw = await gatewayWith([{
    name: 'wt', weights: { input: 1, output: 4 },
    rules: [{ by: 'global', limits: [{ weighted_tokens: W + Math.floor(W / 2), per: 'minute' }] }],
  }]);
  await awaitWindowRoom(MINUTE, 15000);
  const body = chatBody({ max: OUT });
  const r1 = await gw.send('wt', knobs(OUT), { body });
  assert.equal(r1.status, 200, r1.text);
  assert.equal(r1.json().usage.total_tokens, P + OUT);
  const [l1] = await accessLogLines(gw, [rid(r1)]);
  assert.equal(l1.reserved_tokens, W, 'reservation weighted too: prompt + 4 x max_tokens');
  const r2 = await gw.send('wt', knobs(OUT), { body });
  assert.equal(r2.status, 429, r2.text);
  const msg = openaiError(r2).error.message;
  assert.match(msg, /weighted tokens per minute/);
  assert.equal(/Used (\d+)/.exec(msg)?.[1], String(W), msg);
});

test('rejections on a keep-alive connection: pipelined requests are all answered, the connection stays usable', { timeout: 30000 }, async () => {
  const gw = await gatewayWith([{ name: 'ka', rules: [{ by: 'global', limits: [{ requests: 2, per: 'minute' }] }] }]);
  await awaitWindowRoom(MINUTE, 15000);
  const body = JSON.stringify(chatBody());
  const req = `POST /ka/v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\ncontent-type: application/json\r\nx-sim-tokens: ${T}\r\n`
    + `content-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
  const r = await rawExchange(gw.port, req.repeat(4), { responses: 4, timeout: 10000 });
  assert.equal(r.error, null);
  assert.deepEqual(r.responses.map((x) => x.status), [200, 200, 429, 429]);
  assert.deepEqual(r.responses.map((x) => x.headers['x-ratelimit-remaining-requests']), ['1', '0', '0', '0']);
  assert.equal(r.closed, false, 'a 429 does not close the connection');
  for (const x of r.responses.slice(2)) assert.equal(JSON.parse(x.text).error.code, 'rate_limit_exceeded');
});
