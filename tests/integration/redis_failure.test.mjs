// The Redis store's failure modes end to end (issue 5), with REAL redis-server processes that
// the tests kill (SIGKILL), hang (SIGSTOP) and restart on the same port, under load:
//   * open: no 5xx and no crash while Redis dies under load; the requests in flight pay at most
//     the configured command timeout, later ones nearly nothing while Redis is skipped; the
//     access log says store_failure; after Redis comes back, counting resumes WITHOUT a reload;
//   * closed: 503 in the route's dialect (OpenAI, Anthropic) with retry-after: 1, until Redis
//     is back;
//   * local: each instance enforces local_share of the limit in its own memory, and goes back
//     to Redis when it recovers;
//   * a wrong password, a wrong database, a server that answers garbage: the gateway starts,
//     logs the cause (Redis's own error text), and serves per the failure policy.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import {
  harness, freePort, gatewayConfig, postJSON, waitFor, openaiError, anthropicError, awaitWindowRoom,
  accessLogLines, sleep, now, redisServer, redisCli, redisMissing, bucketFieldArgs,
} from './lib.mjs';

const skip = redisMissing() ?? false;
const h = harness();
let sim;

const MINUTE = 60_000;
const TIMEOUT_MS = 200;       // store.redis.timeout (and connect_timeout) of these tests

const chatBody = (max = 5) => ({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Say something.' }], max_tokens: max });
const messagesBody = (max = 5) => ({ model: 'claude-sonnet-4', max_tokens: max, messages: [{ role: 'user', content: 'Say something.' }] });
const user = (name, extra = {}) => ({ 'x-user': name, 'x-sim-tokens': '5', ...extra });
const chat = (gw, headers, p = '/v1/chat/completions') => postJSON(gw.port, p, chatBody(), headers, { timeout: 20000 });
const rid = (r) => r.headers['x-request-id'];
const pct = (xs, p) => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
};
const fmt = (x) => x.toFixed(1);

const redisStore = (port, extra = {}) => ({
  type: 'redis',
  redis: { address: `127.0.0.1:${port}`, timeout: `${TIMEOUT_MS}ms`, connect_timeout: `${TIMEOUT_MS}ms`, lease: 'exact', ...extra },
});

/**
 * One policy per_header x-user: `limit` requests per minute for every user, except the users
 * listed in `small` (SMALL requests per minute each), failing per `failure`.
 */
const SMALL = 5;
function policy(name, failure, { limit = 100_000, routes, localShare } = {}) {
  return {
    name, store_failure: failure, ...(localShare !== undefined ? { local_share: localShare } : {}),
    ...(routes ? { routes } : {}),
    rules: [{
      name: 'users', by: 'per_header', header: 'x-user',
      keys: [{ key: 'regexp:^small', limits: [{ requests: SMALL, per: 'minute' }] }, '*'],
      limits: [{ requests: limit, per: 'minute' }],
    }],
  };
}

async function startGateway({ policies, store, workers = 2, routes = [] }) {
  const port = await freePort();
  const cfg = gatewayConfig({
    port,
    server: { workers },
    upstreams: [{ name: 'sim', url: sim.url }],
    routes: [...routes, { name: 'openai', match: { path_prefix: '/' }, upstream: 'sim', dialect: 'openai' }],
  });
  cfg.store = store;
  cfg.rate_limits = { policies };
  const gw = await h.gateway(cfg);
  gw.workers = workers;
  return gw;
}

const logCount = (gw, re) => (gw.proc.err.match(re) ?? []).length;
const CONNECTED = /"msg":"redis: (connected|node reachable again)"/g;
const UNAVAILABLE = /"msg":"redis: node unavailable"/g;
const BACK = /"msg":"redis: node reachable again"/g;

async function waitRedisUp(gw) {
  await waitFor(() => logCount(gw, CONNECTED) >= gw.workers,
    { timeout: 10000, what: `the Redis connections of the gateway on ${gw.port}\n${gw.proc.err}` });
}
/** Waits until every connection that went down (logged unavailable) is back (reachable again). */
async function waitRedisBack(gw, { timeout = 20000 } = {}) {
  await waitFor(() => logCount(gw, UNAVAILABLE) > 0 && logCount(gw, BACK) >= logCount(gw, UNAVAILABLE),
    { timeout, what: `the gateway on ${gw.port} to reconnect to Redis\n${gw.proc.err}` });
}

/**
 * `total` requests from `lanes` concurrent lanes, paced evenly over `durationMs`. `at(ms, fn)`
 * events run at those times after the start (e.g. killing Redis). Returns
 * { results: [{ start, ms, status, id, text }], events: { name: time } } (times from the start).
 */
async function load(gw, { total, lanes, durationMs, headers, at = [] }) {
  const t0 = now();
  const results = [];
  const events = {};
  const perLane = Math.ceil(total / lanes);
  const interval = durationMs / perLane;
  const timers = at.map(({ ms, name, fn }) => new Promise((resolve, reject) => {
    setTimeout(() => { events[name] = now() - t0; Promise.resolve(fn()).then(resolve, reject); }, ms);
  }));
  await Promise.all([...timers, ...Array.from({ length: lanes }, async (_, lane) => {
    for (let i = 0; i < perLane; ++i) {
      const wait = t0 + i * interval + (lane * interval) / lanes - now();
      if (wait > 0) await sleep(wait);
      const start = now() - t0;
      try {
        const r = await chat(gw, headers);
        results.push({ start, ms: r.ms, status: r.status, id: rid(r), text: r.text });
      } catch (e) {
        results.push({ start, ms: now() - t0 - start, status: 0, text: String(e.message) });
      }
    }
  })]);
  return { results: results.sort((a, b) => a.start - b.start), events };
}

/**
 * After an outage: counting in Redis has resumed (no reload): a "small" user gets exactly SMALL
 * requests per minute, decided by Redis (ratelimit allowed/rejected, never store_failure), and
 * its bucket is in Redis holding SMALL.
 */
async function assertCountingInRedis(gw, redis, name) {
  await awaitWindowRoom(MINUTE, 15000);
  const rs = [];
  for (let i = 0; i < SMALL + 2; ++i) rs.push(await chat(gw, user(name)));
  const lines = await accessLogLines(gw, rs.map(rid));
  assert.deepEqual(rs.map((r) => r.status), [...Array(SMALL).fill(200), 429, 429], rs.map((r) => r.text).join('\n'));
  assert.deepEqual(lines.map((l) => l.ratelimit), [...Array(SMALL).fill('allowed'), 'rejected', 'rejected']);
  const keys = (await redis.cli('--scan')).split('\n').filter((k) => k.includes(name));
  assert.equal(keys.length, 1, `the bucket of ${name} is in Redis: ${JSON.stringify(keys)}`);
  assert.equal(Number(await redis.cli(...bucketFieldArgs(keys[0], 'c'))), SMALL);
}

before(async () => {
  if (skip) return;
  sim = await h.sim();
}, { timeout: 60000 });

// ---------------------------------------------------------------------------------------------
// open: Redis killed, then hung, under load.

/** Checks one load run through an outage that began at `outageAt`; returns the numbers. */
async function checkOpenOutage(gw, { results }, outageAt, label) {
  const bad = results.filter((r) => r.status !== 200);
  assert.equal(bad.length, 0, `${label}: every request answered 200 (open): ${bad.slice(0, 5).map((r) => `${r.status} ${r.text}`).join('\n')}`);
  assert.ok(gw.proc.running, `${label}: the gateway is still running`);
  const lines = await accessLogLines(gw, results.map((r) => r.id), { timeout: 10000 });
  const byId = new Map(lines.map((l) => [l.request_id, l]));
  const before = results.filter((r) => r.start + r.ms < outageAt);
  const during = results.filter((r) => r.start >= outageAt);
  const inFlight = results.filter((r) => r.start < outageAt && r.start + r.ms >= outageAt);
  const late = during.filter((r) => r.start >= outageAt + 1000);
  for (const r of before) assert.equal(byId.get(r.id).ratelimit, 'allowed', `${label}: before the outage Redis decides`);
  // Once Redis is skipped (after the timeout of the first requests), store_failure is logged.
  const skipped = during.filter((r) => r.start >= outageAt + TIMEOUT_MS + 100);
  assert.ok(skipped.length > 0 && skipped.every((r) => byId.get(r.id).ratelimit === 'store_failure'),
    `${label}: store_failure logged while Redis is down: ${JSON.stringify(skipped.map((r) => byId.get(r.id).ratelimit))}`);
  const maxDuring = Math.max(...[...inFlight, ...during].map((r) => r.ms));
  const numbers = {
    baselineP95: pct(before.map((r) => r.ms), 95),
    baselineMax: Math.max(...before.map((r) => r.ms)),
    inFlight: inFlight.length,
    maxDuring,
    lateP95: pct(late.map((r) => r.ms), 95),
    late: late.length,
    storeFailures: lines.filter((l) => l.ratelimit === 'store_failure').length,
  };
  // Added latency at most the timeout for whatever was in flight (over the slowest request
  // before the outage, plus 100 ms of scheduling slack for slow sanitizer builds)...
  const bound = TIMEOUT_MS + numbers.baselineMax + 100;
  assert.ok(maxDuring <= bound, `${label}: slowest request during the outage ${fmt(maxDuring)} ms, timeout ${TIMEOUT_MS} ms (bound ${fmt(bound)})`);
  // ...then near zero: a second into the outage Redis is skipped at once (p95 within a quarter
  // of the timeout of the p95 before the outage).
  assert.ok(late.length >= 20, `${label}: enough requests after the first second of the outage (${late.length})`);
  assert.ok(numbers.lateP95 < numbers.baselineP95 + TIMEOUT_MS / 4,
    `${label}: p95 a second into the outage ${fmt(numbers.lateP95)} ms (before: ${fmt(numbers.baselineP95)} ms), want well under the ${TIMEOUT_MS} ms timeout`);
  return numbers;
}

test('open: Redis SIGKILLed under load: no 5xx, latency bounded by the timeout then near zero, store_failure logged; counting resumes after a restart without a reload', { skip, timeout: 120000 }, async () => {
  const redis = await redisServer(h);
  const gw = await startGateway({ policies: [policy('open', 'open')], store: redisStore(redis.port) });
  await waitRedisUp(gw);
  await awaitWindowRoom(MINUTE, 10000);
  const KILL_AT = 500;
  const run = await load(gw, {
    total: 300, lanes: 10, durationMs: 3000, headers: user('load'),
    at: [{ ms: KILL_AT, name: 'kill', fn: () => redis.kill() }],
  });
  const n = await checkOpenOutage(gw, run, run.events.kill, 'SIGKILL');
  console.log(`[redis killed, open] ${run.results.length} requests, all 200; baseline p95 ${fmt(n.baselineP95)} ms; `
    + `${n.inFlight} in flight at the kill; slowest during the outage ${fmt(n.maxDuring)} ms (timeout ${TIMEOUT_MS}); `
    + `p95 of the ${n.late} requests after the first second of the outage ${fmt(n.lateP95)} ms; ${n.storeFailures} store_failure`);

  // The same port, a fresh (empty) Redis: the gateway reconnects by itself and counts again.
  await redis.start();
  await waitRedisBack(gw);
  await assertCountingInRedis(gw, redis, 'small-after-kill');
  assert.ok(gw.proc.running);
});

test('open: Redis hung (SIGSTOP) under load: the requests that reach it wait the timeout, later ones skip it; counting resumes after SIGCONT', { skip, timeout: 120000 }, async () => {
  const redis = await redisServer(h);
  const gw = await startGateway({ policies: [policy('open', 'open')], store: redisStore(redis.port) });
  await waitRedisUp(gw);
  try {
    await awaitWindowRoom(MINUTE, 10000);
    const run = await load(gw, {
      total: 300, lanes: 10, durationMs: 3000, headers: user('load'),
      at: [{ ms: 500, name: 'pause', fn: () => redis.pause() }],
    });
    const n = await checkOpenOutage(gw, run, run.events.pause, 'SIGSTOP');
    // A hung server is only noticed by the timeout: the first requests after the pause paid it.
    assert.ok(n.maxDuring >= TIMEOUT_MS * 0.9, `some request waited for the ${TIMEOUT_MS} ms timeout (slowest ${fmt(n.maxDuring)} ms)`);
    console.log(`[redis hung, open] ${run.results.length} requests, all 200; baseline p95 ${fmt(n.baselineP95)} ms; `
      + `slowest during the outage ${fmt(n.maxDuring)} ms (timeout ${TIMEOUT_MS}); `
      + `p95 of the ${n.late} requests after the first second ${fmt(n.lateP95)} ms; ${n.storeFailures} store_failure`);
  } finally {
    redis.resume();
  }
  await waitRedisBack(gw);
  await assertCountingInRedis(gw, redis, 'small-after-stop');
});

// ---------------------------------------------------------------------------------------------
// closed and local.

test('closed: 503 in the route\'s dialect while Redis is down, 200 again once it is back', { skip, timeout: 90000 }, async () => {
  const redis = await redisServer(h);
  const gw = await startGateway({
    policies: [policy('strict-store', 'closed')],
    store: redisStore(redis.port),
    routes: [{ name: 'anthropic', match: { path_prefix: '/anthropic/' }, upstream: 'sim', rewrite_prefix: '/', dialect: 'anthropic' }],
  });
  await waitRedisUp(gw);
  const anthropic = () => postJSON(gw.port, '/anthropic/v1/messages', messagesBody(), user('c'), { timeout: 20000 });
  assert.equal((await chat(gw, user('c'))).status, 200);
  assert.equal((await anthropic()).status, 200);

  await redis.kill();
  const rs = [];
  for (let i = 0; i < 5; ++i) rs.push(await chat(gw, user('c')), await anthropic());
  for (const [i, r] of rs.entries()) {
    assert.equal(r.status, 503, r.text);
    assert.equal(r.headers['retry-after'], '1');
    assert.ok(r.ms <= TIMEOUT_MS + 150, `a 503 costs at most the timeout: ${fmt(r.ms)} ms`);
    if (i % 2 === 0) {
      const b = openaiError(r, { code: 'ratelimit_store_unavailable' });
      assert.match(b.error.message, /strict-store/, 'the message names the policy');
    } else {
      const b = anthropicError(r);
      assert.equal(b.error.type, 'api_error');
      assert.match(b.error.message, /rate-limit store is unavailable/);
    }
  }
  const lines = await accessLogLines(gw, rs.map(rid));
  for (const l of lines) {
    assert.equal(l.status, 503);
    assert.equal(l.ratelimit, 'store_unavailable', JSON.stringify(l));
    assert.ok(!l.upstream_first_byte_ms, 'nothing was forwarded');
  }

  await redis.start();
  await waitRedisBack(gw);
  assert.equal((await chat(gw, user('c'))).status, 200);
  assert.equal((await anthropic()).status, 200);
  console.log(`[redis closed] 503 (openai + anthropic) while down, slowest ${fmt(Math.max(...rs.map((r) => r.ms)))} ms; 200 after the restart`);
});

test('local: with Redis down each instance enforces local_share of the limit, then Redis decides again', { skip, timeout: 90000 }, async () => {
  const redis = await redisServer(h);
  const LIMIT = 100;
  const SHARE = 0.5;
  const pol = policy('shared', 'local', { limit: LIMIT, localShare: SHARE });
  const gws = [
    await startGateway({ policies: [pol], store: redisStore(redis.port) }),
    await startGateway({ policies: [pol], store: redisStore(redis.port) }),
  ];
  for (const gw of gws) await waitRedisUp(gw);
  for (const gw of gws) assert.equal((await chat(gw, user('warm'))).status, 200);
  await redis.kill();

  await awaitWindowRoom(MINUTE, 20000);
  const share = Math.floor(LIMIT * SHARE);
  const SEND = share + 10;
  const counts = [];
  for (const gw of gws) {
    const rs = [];
    for (let i = 0; i < SEND; i += 10) {
      rs.push(...await Promise.all(Array.from({ length: Math.min(10, SEND - i) }, () => chat(gw, user('loc')))));
    }
    const admitted = rs.filter((r) => r.status === 200);
    for (const r of rs.filter((x) => x.status !== 200)) {
      assert.equal(r.status, 429, r.text);
      assert.match(openaiError(r, { code: 'rate_limit_exceeded' }).error.message, new RegExp(`Limit ${share}\\b`), 'the local limit is the share');
    }
    const lines = await accessLogLines(gw, rs.map(rid));
    for (const l of lines) assert.equal(l.ratelimit, l.status === 200 ? 'store_failure' : 'rejected', JSON.stringify(l));
    counts.push(admitted.length);
    assert.equal(admitted.length, share, `instance ${gw.port}: ${admitted.length} of ${SEND} admitted, local share ${share}`);
  }

  // Redis back (empty): the full limit again, counted in Redis, not the exhausted local bucket.
  await redis.start();
  for (const gw of gws) await waitRedisBack(gw);
  const r = await chat(gws[0], user('loc'));
  assert.equal(r.status, 200, r.text);
  const [l] = await accessLogLines(gws[0], [rid(r)]);
  assert.equal(l.ratelimit, 'allowed');
  assert.equal(Number(r.headers['x-ratelimit-remaining-requests']), LIMIT - 1);
  console.log(`[redis local] limit ${LIMIT}, local_share ${SHARE}: admitted ${counts.join(' + ')} of ${SEND} per instance while Redis was down`);
});

// ---------------------------------------------------------------------------------------------
// Misconfigured or bogus servers.

/** A gateway with an open policy on /open/ and a closed one on /closed/. */
function openAndClosed(store) {
  return startGateway({
    store,
    policies: [policy('p-open', 'open', { routes: ['open'] }), policy('p-closed', 'closed', { routes: ['closed'] })],
    routes: [
      { name: 'open', match: { path_prefix: '/open/' }, upstream: 'sim', rewrite_prefix: '/', dialect: 'openai' },
      { name: 'closed', match: { path_prefix: '/closed/' }, upstream: 'sim', rewrite_prefix: '/', dialect: 'openai' },
    ],
  });
}

/** The gateway logged `re` (the cause), serves per policy, and does not repeat the cause. */
async function assertServesPerPolicy(gw, re, label) {
  await waitFor(() => re.test(gw.proc.err), { timeout: 10000, what: `${label}: ${re} in the gateway's log\n${gw.proc.err}` });
  // Several reconnect attempts (backoff from 100 ms) pass in 1.5 s.
  await sleep(1500);
  const causeLines = gw.proc.err.split('\n').filter((l) => re.test(l));
  for (const l of causeLines) assert.match(l, /"level":"(warn|error)"/, `${label}: ${l}`);
  assert.ok(causeLines.length <= gw.workers, `${label}: the cause is logged once per connection, not per attempt (${causeLines.length} lines)`);
  const rs = [];
  for (let i = 0; i < 3; ++i) {
    rs.push(await chat(gw, user('x'), '/open/v1/chat/completions'), await chat(gw, user('x'), '/closed/v1/chat/completions'));
  }
  const lines = await accessLogLines(gw, rs.map(rid));
  for (const [i, r] of rs.entries()) {
    if (i % 2 === 0) {
      assert.equal(r.status, 200, `${label} open: ${r.text}`);
      assert.equal(lines[i].ratelimit, 'store_failure');
    } else {
      assert.equal(r.status, 503, `${label} closed: ${r.text}`);
      openaiError(r, { code: 'ratelimit_store_unavailable' });
    }
    assert.ok(r.ms <= TIMEOUT_MS + 150, `${label}: ${fmt(r.ms)} ms`);
  }
  assert.ok(gw.proc.running, `${label}: still running`);
  return causeLines[0];
}

test('wrong password, wrong database, a server that answers garbage: the gateway starts, logs the cause, serves per policy', { skip, timeout: 90000 }, async () => {
  const report = [];
  // Wrong password: Redis's own WRONGPASS text is in the log. The right one works (the control).
  const secured = await redisServer(h, { args: ['--requirepass', 'right-password'] });
  const wrongPw = await openAndClosed(redisStore(secured.port, { password: 'wrong-password' }));
  report.push(await assertServesPerPolicy(wrongPw, /WRONGPASS|invalid username-password/, 'wrong password'));
  const rightPw = await openAndClosed(redisStore(secured.port, { password: 'right-password' }));
  await waitRedisUp(rightPw);
  const ok = await chat(rightPw, user('pw'), '/closed/v1/chat/completions');
  assert.equal(ok.status, 200, ok.text);
  assert.equal((await accessLogLines(rightPw, [rid(ok)]))[0].ratelimit, 'allowed');

  // Wrong database (the server has 16): Redis's "DB index is out of range". Database 3 works.
  const plain = await redisServer(h);
  const wrongDb = await openAndClosed(redisStore(plain.port, { database: 99 }));
  report.push(await assertServesPerPolicy(wrongDb, /DB index is out of range/, 'database 99'));
  const db3 = await openAndClosed(redisStore(plain.port, { database: 3 }));
  await waitRedisUp(db3);
  assert.equal((await chat(db3, user('db3'), '/closed/v1/chat/completions')).status, 200);
  assert.ok((await redisCli(plain.port, ['-n', '3', '--scan'])).includes('db3'), 'the bucket is in database 3');
  assert.equal(await redisCli(plain.port, ['-n', '0', 'DBSIZE']), '0', 'nothing in database 0');

  // Not Redis: a server that answers every connection and every write with non-RESP bytes.
  const garbage = await h.fakeUpstream((sock) => {
    sock.write('garbage, not RESP \x00\xff\r\n');
    sock.on('data', () => sock.write('HTTP/1.1 400 Bad Request\r\n\r\n'));
  });
  const bogus = await openAndClosed(redisStore(garbage.port));
  report.push(await assertServesPerPolicy(bogus, /protocol error/i, 'garbage server'));
  assert.ok(garbage.connections >= 2, `the gateway kept probing the bogus server (${garbage.connections} connections)`);
  console.log(`[redis misconfigured] logged: ${report.join(' | ')}`);
});
