// Circuit breaker and fallback upstream (issue 6 §5), against real tokengate-sim processes: a
// failing upstream (5xx answers, or a closed port) opens the circuit; while open, requests get
// a fast 503 `circuit_open` in the route's dialect with retry-after and the upstream sees no
// request (checked with the simulator's /sim/stats); after open_for one probe goes through: a
// failed probe re-opens the circuit, a successful one closes it. A route's fallback upstream
// takes over when the primary answers 500 or 429 or cannot be reached before any byte reached
// the client, and when the primary's circuit is open. A request refused by the breaker is not
// charged tokens.
//
// The gateway runs one worker: each worker keeps its own breaker state (proxy/breaker.h), so
// one worker makes the thresholds exact.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import {
  harness, freePort, gatewayConfig, postJSON, request, openaiError, anthropicError, accessLogLines,
  awaitWindowRoom, sleep, CHAT_BODY,
} from './lib.mjs';

const h = harness();
const sims = {};
let gateway; // async () => the running gateway
let deadPort;

const HOUR = 3_600_000;
const AUTH = { authorization: 'Bearer sk-alice' };
const FAIL = { 'x-sim-status': '500' };

const stats = async (sim) => (await request({ port: sim.port, path: '/sim/stats' })).json();
// Requests `sim` received while `fn` ran (its own two /sim/stats requests left out).
async function hitsDuring(sim, fn) {
  const before = await stats(sim);
  const result = await fn();
  const after = await stats(sim);
  return { hits: after.requests - before.requests - 1, result };
}
const rid = (r) => r.headers['x-request-id'];
const chat = (gw, prefix, headers = {}, body = CHAT_BODY) =>
  postJSON(gw.port, `${prefix}/v1/chat/completions`, body, headers, { timeout: 15000 });
const remaining = (r) => {
  const v = r.headers['x-ratelimit-remaining-tokens'];
  assert.ok(v !== undefined, `no x-ratelimit-remaining-tokens: ${JSON.stringify(r.headers)}`);
  return Number(v);
};

// The breaker's state changes, as logged (one JSON line per transition) for `upstream`.
function transitions(gw, upstream) {
  return gw.proc.err.split('\n').filter((l) => l.includes('circuit breaker state change'))
    .map((l) => JSON.parse(l)).filter((l) => l.upstream === upstream)
    .map((l) => `${l.from}->${l.to}`);
}

function assertCircuitOpen(r, { maxRetryAfter }) {
  assert.equal(r.status, 503, r.text);
  const retry = Number(r.headers['retry-after']);
  assert.ok(Number.isInteger(retry) && retry >= 1 && retry <= maxRetryAfter,
    `retry-after ${r.headers['retry-after']}, want 1..${maxRetryAfter}`);
}

before(async () => {
  sims.flaky = await h.sim();                          // fails when asked (x-sim-status)
  sims.bad = await h.sim({ args: ['--status', '500'] }); // always 500
  sims.backup = await h.sim();
  sims.p429 = await h.sim();
  sims.limBad = await h.sim({ args: ['--status', '500'] });
  deadPort = await freePort(); // nothing listens there
  const quick = { consecutive_failures: 3, open_for: '1s' };
  gateway = h.restartingGateway((port) => {
    const cfg = gatewayConfig({
      port,
      server: { workers: 1 },
      upstreams: [
        { name: 'flaky', url: sims.flaky.url, circuit_breaker: quick },
        { name: 'dead', url: `http://127.0.0.1:${deadPort}`, circuit_breaker: { consecutive_failures: 2, open_for: '30s' } },
        { name: 'bad', url: sims.bad.url, circuit_breaker: { consecutive_failures: 2, open_for: '30s', failure_statuses: ['500-599'] } },
        // The fallback drops the simulator's failure knob, so it answers normally.
        { name: 'backup', url: sims.backup.url, headers: { remove: ['x-sim-status'] } },
        { name: 'p429', url: sims.p429.url, circuit_breaker: { consecutive_failures: 1, open_for: '30s' } },
        { name: 'dead2', url: `http://127.0.0.1:${deadPort}` },
        { name: 'lim-bad', url: sims.limBad.url, circuit_breaker: { consecutive_failures: 2, open_for: '1h' } },
      ],
      routes: [
        { name: 'flaky', match: { path_prefix: '/flaky/' }, upstream: 'flaky', rewrite_prefix: '/' },
        { name: 'flaky-anthropic', match: { path_prefix: '/flaky-anthropic/' }, upstream: 'flaky', rewrite_prefix: '/', dialect: 'anthropic' },
        { name: 'dead', match: { path_prefix: '/dead/' }, upstream: 'dead', rewrite_prefix: '/' },
        { name: 'fb', match: { path_prefix: '/fb/' }, upstream: 'bad', fallback_upstream: 'backup', rewrite_prefix: '/' },
        { name: 'fb429', match: { path_prefix: '/fb429/' }, upstream: 'p429', fallback_upstream: 'backup', rewrite_prefix: '/' },
        { name: 'fbdead', match: { path_prefix: '/fbdead/' }, upstream: 'dead2', fallback_upstream: 'backup', rewrite_prefix: '/' },
        { name: 'lim', match: { path_prefix: '/lim/' }, upstream: 'lim-bad', rewrite_prefix: '/', key_auth: 'required' },
        { name: 'limok', match: { path_prefix: '/limok/' }, upstream: 'backup', rewrite_prefix: '/', key_auth: 'required' },
      ],
    });
    cfg.rate_limits = {
      consumers: [{ name: 'alice', keys: ['sk-alice'] }],
      policies: [{
        name: 'per-consumer',
        routes: ['lim', 'limok'],
        rules: [{ by: 'per_consumer', limits: [{ tokens: 1000000, per: 'hour' }] }],
      }],
    };
    cfg.store = { type: 'memory' };
    return cfg;
  });
  await gateway();
}, { timeout: 60000 });

test('consecutive 5xx open the circuit: fast 503 circuit_open with retry-after, upstream not hit', { timeout: 20000 }, async () => {
  const gw = await gateway();
  for (let i = 0; i < 3; i++) {
    const r = await chat(gw, '/flaky', FAIL);
    assert.equal(r.status, 500, `failure ${i} is the upstream's own 500: ${r.text}`);
  }
  const { hits, result: [r, ra] } = await hitsDuring(sims.flaky, async () => [
    await chat(gw, '/flaky'),
    await chat(gw, '/flaky-anthropic'),
  ]);
  assert.equal(hits, 0, 'an open circuit sends nothing upstream');
  assertCircuitOpen(r, { maxRetryAfter: 1 });
  openaiError(r, { code: 'circuit_open' });
  assertCircuitOpen(ra, { maxRetryAfter: 1 });
  assert.match(anthropicError(ra).error.message, /circuit breaker is open/);
  assert.ok(r.ms < 1000, `the 503 is fast (${r.ms} ms)`);
  const [line] = await accessLogLines(gw, [rid(r)]);
  assert.equal(line.status, 503);
  assert.equal(line.error, 'circuit_open');
  assert.equal(line.upstream, 'flaky');
  assert.deepEqual(transitions(gw, 'flaky'), ['closed->open']);
});

test('after open_for one probe goes through: a failed probe re-opens, a successful one closes', { timeout: 20000 }, async () => {
  const gw = await gateway();
  await sleep(1100);
  // Half-open: the probe reaches the upstream and fails.
  const { hits, result: probe } = await hitsDuring(sims.flaky, () => chat(gw, '/flaky', FAIL));
  assert.equal(hits, 1);
  assert.equal(probe.status, 500, probe.text);
  assertCircuitOpen(await chat(gw, '/flaky'), { maxRetryAfter: 1 });
  await sleep(1100);
  const ok = await chat(gw, '/flaky');
  assert.equal(ok.status, 200, ok.text);
  // Closed: requests flow, and it takes 3 new failures to open it again.
  for (let i = 0; i < 2; i++) assert.equal((await chat(gw, '/flaky', FAIL)).status, 500);
  const again = await chat(gw, '/flaky');
  assert.equal(again.status, 200, again.text);
  assert.deepEqual(transitions(gw, 'flaky'),
    ['closed->open', 'open->half_open', 'half_open->open', 'open->half_open', 'half_open->closed']);
});

test('an unreachable upstream (closed port) opens the circuit', { timeout: 20000 }, async () => {
  const gw = await gateway();
  for (let i = 0; i < 2; i++) {
    const r = await chat(gw, '/dead');
    assert.equal(r.status, 502, r.text);
    openaiError(r, { code: 'upstream_unreachable' });
  }
  const r = await chat(gw, '/dead');
  assertCircuitOpen(r, { maxRetryAfter: 30 });
  openaiError(r, { code: 'circuit_open' });
  assert.ok(Number(r.headers['retry-after']) >= 29, `retry-after ${r.headers['retry-after']}`);
});

test('the fallback upstream answers when the primary answers 500, then while its circuit is open', { timeout: 20000 }, async () => {
  const gw = await gateway();
  const ids = [];
  for (let i = 0; i < 2; i++) {
    const { hits, result: r } = await hitsDuring(sims.bad, () => chat(gw, '/fb'));
    assert.equal(hits, 1, 'the primary was tried');
    assert.equal(r.status, 200, r.text);
    assert.ok(r.json().choices[0].message.content, r.text);
    ids.push(rid(r));
  }
  // Two failures opened the primary's circuit: the request goes straight to the fallback.
  const backupBefore = await stats(sims.backup);
  const { hits, result: r } = await hitsDuring(sims.bad, () => chat(gw, '/fb', {}, { ...CHAT_BODY, stream: true }));
  assert.equal(hits, 0, 'the open primary is skipped');
  assert.equal(r.status, 200, r.text);
  assert.match(r.text, /data: \[DONE\]/, 'a stream relayed from the fallback');
  assert.equal((await stats(sims.backup)).requests - backupBefore.requests - 1, 1);
  ids.push(rid(r));
  const lines = await accessLogLines(gw, ids);
  for (const l of lines) {
    assert.equal(l.upstream, 'backup', JSON.stringify(l));
    assert.equal(l.status, 200);
  }
  assert.deepEqual(transitions(gw, 'bad'), ['closed->open']);
});

test('the fallback upstream answers when the primary answers 429 or cannot be reached', { timeout: 20000 }, async () => {
  const gw = await gateway();
  const { hits, result: r } = await hitsDuring(sims.p429, () => chat(gw, '/fb429', { 'x-sim-status': '429' }));
  assert.equal(hits, 1);
  assert.equal(r.status, 200, r.text);
  // A 429 is not a failure by default: p429's circuit (1 failure opens it) is still closed.
  const again = await hitsDuring(sims.p429, () => chat(gw, '/fb429'));
  assert.equal(again.hits, 1, 'the primary is still used');
  assert.equal(again.result.status, 200);
  assert.deepEqual(transitions(gw, 'p429'), []);

  const d = await chat(gw, '/fbdead');
  assert.equal(d.status, 200, d.text);
  const [line] = await accessLogLines(gw, [rid(d)]);
  assert.equal(line.upstream, 'backup');
});

test('requests refused by the breaker are not charged tokens', { timeout: 30000 }, async () => {
  const gw = await gateway();
  await awaitWindowRoom(HOUR, 20000);
  // Two identical requests: the second one's remaining is lower by the first one's usage.
  const r1 = await chat(gw, '/limok', AUTH);
  const r2 = await chat(gw, '/limok', AUTH);
  assert.equal(r1.status, 200, r1.text);
  assert.equal(r2.status, 200, r2.text);
  const used = remaining(r1) - remaining(r2);
  assert.ok(used > 0, `one request uses tokens (${used})`);
  // Open lim-bad's circuit, then let the breaker refuse five requests of the same consumer.
  for (let i = 0; i < 2; i++) assert.equal((await chat(gw, '/lim', AUTH)).status, 500);
  const r3 = await chat(gw, '/limok', AUTH);
  const { hits, result: refused } = await hitsDuring(sims.limBad, async () => {
    const out = [];
    for (let i = 0; i < 5; i++) out.push(await chat(gw, '/lim', AUTH));
    return out;
  });
  assert.equal(hits, 0);
  for (const r of refused) {
    assert.equal(r.status, 503, r.text);
    openaiError(r, { code: 'circuit_open' });
  }
  const r4 = await chat(gw, '/limok', AUTH);
  assert.equal(remaining(r3) - remaining(r4), used, 'only r3 was charged between r3 and r4');
  const lines = await accessLogLines(gw, refused.map(rid));
  for (const l of lines) {
    assert.equal(l.error, 'circuit_open');
    // Admitted (tokens reserved) before the breaker refused: the reservation went back.
    assert.ok(l.reserved_tokens > 0, JSON.stringify(l));
  }
});
