// The token-fair admission queue (a rate-limit policy's `on_limit: queue`), through the real
// gateway and the simulator: a request that does not fit its bucket waits for the refill
// instead of getting a 429 at once, is admitted in start-time-fair order by reserved tokens
// across consumers (weighted by the tier's `priority`), and is refused at once when waiting
// could not help (the estimated wait is over `max_wait`, or `max_queued` wait already). A client
// that leaves while queued is charged nothing and never reaches the upstream.
//
// Every bucket here is a token bucket (capacity = limit, refilled continuously at limit per
// window), so what a test expects follows from arithmetic on the reservation R (prompt estimate
// + max_tokens) of one request: e.g. at 10 tokens/s a request R tokens short waits R / 10 s.
// Timing assertions are lower bounds (tokens cannot be admitted before they exist) with
// generous upper bounds: the box running them is small and loaded.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import {
  harness, freePort, gatewayConfig, postJSON, request, openaiError, now, sleep, waitFor,
  accessLogLines, parseAccessLog, redisServer, redisMissing, redisConnections, runCli, toYaml,
} from './lib.mjs';

const h = harness();
const ADMIN_TOKEN = 'admin-secret';
const BODY = Object.freeze({ model: 'm', max_tokens: 50, messages: [{ role: 'user', content: 'hi' }] });
const KNOBS = Object.freeze({ 'x-sim-tokens': '50' });
const CHAT = '/v1/chat/completions';

let sim;
let R;  // what one BODY request reserves (prompt estimate + max_tokens)
let C;  // what it is charged (the simulator's usage.total_tokens)

const bearer = (key) => ({ authorization: `Bearer ${key}` });
const rid = (r) => r.headers['x-request-id'];
const header = (r, name) => {
  const v = r.headers[name];
  assert.ok(v !== undefined, `no ${name} header on ${r.status}: ${JSON.stringify(r.headers)} ${r.text}`);
  return Number(v);
};

/** The value of one metric series, or undefined when the series is absent. */
function metricValue(text, name, labels = {}) {
  const want = `${name}{${Object.entries(labels).map(([k, v]) => `${k}="${v}"`).join(',')}} `;
  const line = text.split('\n').find((l) => l.startsWith(want));
  return line === undefined ? undefined : Number(line.slice(want.length));
}

/** A token-bucket policy on `route` with one global bucket of `limit`, queueing unless told. */
function policy(name, route, limit, extra = {}) {
  return {
    name,
    routes: [route],
    algorithm: 'token_bucket',
    on_limit: 'queue',
    ...extra,
    rules: [{ name: 'all', by: 'global', limits: [limit] }],
  };
}

/**
 * A gateway in front of `upstream` (default: the shared simulator) with one OpenAI route per
 * name in `routes` (path prefix /<name>/, rewritten to /), an admin listener, and `policies`.
 */
async function startGateway({ routes, policies, consumers = [], server = {}, store, upstream } = {}) {
  const port = await freePort();
  const adminPort = await freePort();
  const cfg = gatewayConfig({
    port,
    server,
    upstreams: [{ name: 'sim', url: (upstream ?? sim).url }],
    routes: routes.map((name) => ({
      name, match: { path_prefix: `/${name}/` }, upstream: 'sim', dialect: 'openai', rewrite_prefix: '/',
    })),
  });
  cfg.admin = { listen: `127.0.0.1:${adminPort}`, token: ADMIN_TOKEN };
  if (store) cfg.store = store;
  cfg.rate_limits = { consumers, policies };
  const gw = await h.gateway(cfg);
  const metrics = async () => (await request({
    port: adminPort, method: 'GET', path: '/metrics', headers: bearer(ADMIN_TOKEN),
  })).text;
  const send = (route, headers = {}, { body = BODY, agent = false, timeout = 60000 } = {}) =>
    postJSON(port, `/${route}${CHAT}`, body, { ...KNOBS, ...headers }, { agent, timeout });
  return { gw, port, metrics, send };
}

/** Waits until `policy`'s queue holds `n` waiters (by the depth gauge). */
const awaitDepth = (g, policyName, n) => waitFor(
  async () => metricValue(await g.metrics(), 'tokengate_ratelimit_queue_depth', { policy: policyName }) === n,
  { timeout: 5000, interval: 20, what: `${n} waiter(s) in the queue of ${policyName}` },
);

const simStats = async (s) => JSON.parse((await request({ port: s.port, method: 'GET', path: '/sim/stats' })).text);

/**
 * A request whose socket the test can destroy while it waits. `settled` resolves with
 * { status } if a response arrived, else { error } / { closed }.
 */
function openRequest(port, p, headers = {}, body = BODY) {
  const payload = JSON.stringify(body);
  const req = http.request({
    host: '127.0.0.1', port, path: p, method: 'POST', agent: false,
    headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload), ...KNOBS, ...headers },
  });
  const settled = new Promise((resolve) => {
    req.on('response', (res) => { res.resume(); res.on('end', () => resolve({ status: res.statusCode })); });
    req.on('error', (error) => resolve({ error }));
    req.on('close', () => resolve({ closed: true }));
  });
  req.end(payload);
  return { req, settled };
}

/** Jain's fairness index of the values (1 = equal). */
const jain = (xs) => {
  const s = xs.reduce((a, b) => a + b, 0);
  const s2 = xs.reduce((a, b) => a + b * b, 0);
  return s2 === 0 ? 0 : (s * s) / (xs.length * s2);
};

before(async () => {
  sim = await h.sim();
  // R and C as the gateway counts them: one request through a policy it fits easily.
  const g = await startGateway({ routes: ['probe'], policies: [policy('probe', 'probe', { tokens: 100000, per: 'minute' })] });
  const r = await g.send('probe');
  assert.equal(r.status, 200, r.text);
  const [line] = await accessLogLines(g.gw, [rid(r)]);
  R = line.reserved_tokens;
  C = r.json().usage.total_tokens;
  assert.ok(R > 50 && R < 100 && C > 50 && C < 100, `reservation ${R}, charge ${C}`);
  await g.gw.proc.stop();
}, { timeout: 60000 });

// ---------------------------------------------------------------------------------------------

test('a burst: on_limit reject answers 429 at once; on_limit queue admits every request as the bucket refills, in order', { timeout: 60000 }, async () => {
  const N = 8;
  const RATE = 100;  // tokens per second, capacity 100
  const g = await startGateway({
    routes: ['reject', 'queue'],
    policies: [
      { name: 'plain', routes: ['reject'], algorithm: 'token_bucket', rules: [{ name: 'all', by: 'global', limits: [{ tokens: RATE, per: 'second' }] }] },
      policy('burst', 'queue', { tokens: RATE, per: 'second' }, { max_wait: '10s' }),
    ],
  });

  const rejected = await Promise.all(Array.from({ length: N }, () => g.send('reject')));
  const st = rejected.map((r) => r.status).sort();
  // One fits the bucket (two if the burst straggled over the ~R / 100 s the bucket needs).
  const admitted = st.filter((s) => s === 200).length;
  assert.ok(admitted >= 1 && admitted <= 2, `${admitted} admitted: ${st}`);
  assert.deepEqual([...new Set(st.slice(admitted))], [429], `the rest are refused: ${st}`);
  for (const r of rejected.filter((x) => x.status === 429)) {
    openaiError(r, { code: 'rate_limit_exceeded' });
    assert.ok(r.ms < 1000, `a reject-policy 429 is answered at once, not after ${r.ms} ms`);
  }

  const t0 = now();
  const rs = await Promise.all(Array.from({ length: N }, () => g.send('queue').then((r) => ({ ...r, done: now() - t0 }))));
  const elapsed = now() - t0;
  for (const r of rs) assert.equal(r.status, 200, r.text);
  // Tokens cannot be admitted before they exist: the k-th admission (0-based) needs (k+1)*R
  // tokens out of a full bucket of RATE refilled at RATE per second.
  const done = rs.map((r) => r.done).sort((a, b) => a - b);
  const minCharge = Math.min(R, C);
  for (let k = 1; k < N; ++k) {
    const earliest = (((k + 1) * minCharge - RATE) / RATE) * 1000;
    assert.ok(done[k] >= earliest - 20, `admission #${k} at ${done[k].toFixed(0)} ms, before its tokens existed (${earliest.toFixed(0)} ms): ${done.map(Math.round)}`);
  }
  const drain = ((N * R - RATE) / RATE) * 1000;
  assert.ok(elapsed >= drain - 100, `the burst took ${elapsed.toFixed(0)} ms, the refill alone ${drain} ms`);
  assert.ok(elapsed < drain + 3000, `the burst took ${elapsed.toFixed(0)} ms, the refill ${drain} ms: waiters are served at the refill, not later`);

  const lines = await accessLogLines(g.gw, rs.map(rid));
  const queued = lines.filter((l) => l.queue !== undefined);
  for (const l of queued) assert.equal(l.queue, 'admitted', JSON.stringify(l));
  assert.ok(queued.length >= N - 2, `${queued.length} of ${N} met the queue`);
  for (const l of lines.filter((x) => x.queue === undefined)) assert.equal(l.queued_ms, undefined);
  // The waits grow: each waiter waited about R / RATE s longer than the one before it.
  const waits = queued.map((l) => l.queued_ms).sort((a, b) => a - b);
  for (let i = 1; i < waits.length; ++i) assert.ok(waits[i] > waits[i - 1], `waits ${waits}`);
  assert.ok(waits.at(-1) >= drain - 300, `the last waiter waited ${waits.at(-1)} ms, the refill takes ${drain} ms: ${waits}`);
  assert.ok((waits.at(-1) - waits[0]) / (waits.length - 1) >= (R / RATE) * 1000 * 0.7,
    `waits ${waits}: about ${(R / RATE) * 1000} ms apart`);

  const m = await g.metrics();
  assert.equal(metricValue(m, 'tokengate_ratelimit_queue_total', { policy: 'burst', result: 'admitted' }), queued.length, m);
  assert.equal(metricValue(m, 'tokengate_ratelimit_queue_wait_seconds_count', { policy: 'burst' }), queued.length);
  const sum = metricValue(m, 'tokengate_ratelimit_queue_wait_seconds_sum', { policy: 'burst' });
  const logged = waits.reduce((a, b) => a + b, 0) / 1000;
  assert.ok(Math.abs(sum - logged) <= 0.05 + 0.02 * logged, `wait histogram sum ${sum} s, the log says ${logged} s`);
  assert.equal(metricValue(m, 'tokengate_ratelimit_queue_wait_seconds_bucket', { policy: 'burst', le: '+Inf' }), queued.length);
  assert.equal(metricValue(m, 'tokengate_ratelimit_queue_depth', { policy: 'burst' }), 0);
  assert.equal(metricValue(m, 'tokengate_ratelimit_queue_total', { policy: 'plain', result: 'admitted' }), undefined, 'the reject policy has no queue');
});

test('max_wait: a wait longer than max_wait is refused at once with the exact wait as retry-after; the tokens queued ahead count', { timeout: 60000 }, async () => {
  const g = await startGateway({
    routes: ['slow', 'fast'],
    policies: [
      policy('slow', 'slow', { tokens: 60, per: 'minute' }, { max_wait: '5s' }),   // 1 token per second
      policy('fast', 'fast', { tokens: 100, per: '10s' }, { max_wait: '5s' }),     // 10 tokens per second
    ],
  });
  const retryMs = (r) => header(r, 'retry-after-ms');

  // Alone in front of an empty queue: the wait is the bucket's deficit / rate.
  const first = await g.send('slow');
  assert.equal(first.status, 200, first.text);
  const t0 = now();
  const long = await g.send('slow');
  assert.ok(now() - t0 < 1000, `refused at once, not after ${(now() - t0).toFixed(0)} ms`);
  assert.equal(long.status, 429, long.text);
  const msg = openaiError(long, { code: 'rate_limit_exceeded' }).error.message;
  assert.match(msg, /longer than max_wait \(5s\)/);
  const rem = header(long, 'x-ratelimit-remaining-tokens');
  // The balance is rem plus a fraction: the deficit is between R - rem - 1 and R - rem tokens.
  const lo = (R - rem - 1) * 1000;
  const hi = (R - rem) * 1000;
  assert.ok(retryMs(long) > lo && retryMs(long) <= hi + 1, `retry-after-ms ${retryMs(long)}, the deficit of ${R} - ${rem} tokens at 1/s is in (${lo}, ${hi}]`);
  assert.equal(header(long, 'retry-after'), Math.ceil(retryMs(long) / 1000));
  const said = Number(/would take ([\d.]+)s/.exec(msg)?.[1]);
  assert.ok(Math.abs(said * 1000 - retryMs(long)) <= 0.01 * retryMs(long), `the message says ${said} s, retry-after-ms ${retryMs(long)}`);

  // Behind a waiter: its tokens are refilled first, so the newcomer's wait is longer by R / rate.
  const a0 = await g.send('fast');
  assert.equal(a0.status, 200, a0.text);
  const waiter = g.send('fast');  // R - 43 short: waits (R - 43) / 10 s, under max_wait
  await awaitDepth(g, 'fast', 1);
  const t1 = now();
  const behind = await g.send('fast');
  assert.ok(now() - t1 < 1000, `refused at once, not after ${(now() - t1).toFixed(0)} ms`);
  assert.equal(behind.status, 429, behind.text);
  assert.match(openaiError(behind).error.message, /longer than max_wait/);
  const remB = header(behind, 'x-ratelimit-remaining-tokens');
  const alone = (R - remB) * 100;  // its own deficit at 10 tokens/s (up to 100 ms less)
  const extra = retryMs(behind) - alone;
  assert.ok(extra > R * 100 - 100 - 1 && extra <= R * 100 + 1,
    `retry-after-ms ${retryMs(behind)} = ${alone} (its own deficit) + ${extra}, want + ${R * 100} (the waiter ahead's ${R} tokens at 10/s)`);
  console.log(`# max_wait: alone retry-after-ms ${retryMs(long)} for a deficit of ${R - rem} tokens at 1/s; `
    + `behind a waiter ${retryMs(behind)} = ${alone} + ${extra} (want + ${R * 100})`);
  const w = await waiter;
  assert.equal(w.status, 200, w.text);
  const [lw, lb] = await accessLogLines(g.gw, [rid(w), rid(behind)]);
  assert.equal(lw.queue, 'admitted');
  assert.equal(lb.queue, 'too_long');
  assert.equal(lb.status, 429);

  const m = await g.metrics();
  assert.equal(metricValue(m, 'tokengate_ratelimit_queue_total', { policy: 'slow', result: 'too_long' }), 1);
  assert.equal(metricValue(m, 'tokengate_ratelimit_queue_total', { policy: 'fast', result: 'too_long' }), 1);
  assert.equal(metricValue(m, 'tokengate_ratelimit_queue_total', { policy: 'fast', result: 'admitted' }), 1);
  assert.equal(metricValue(m, 'tokengate_ratelimit_queue_wait_seconds_count', { policy: 'slow' }) ?? 0, 0, 'a refusal is not a wait');
});

test('max_wait: joining behind a waiter, the newcomer\'s own deficit counts too (refused at once, not after max_wait)', { timeout: 60000 }, async () => {
  // 10 tokens per second. After one request the bucket holds 100 - R. A waiter needs R - (100 - R)
  // more; a newcomer behind it waits for both: (2R - (100 - R)) / 10 s, about 7 s > max_wait 6.2 s,
  // although the waiter's tokens alone (R / 10 s, about 5.7 s) would fit in max_wait.
  const g = await startGateway({ routes: ['q'], policies: [policy('q', 'q', { tokens: 100, per: '10s' }, { max_wait: '6200ms' })] });
  const a0 = await g.send('q');
  assert.equal(a0.status, 200, a0.text);
  const start = now();
  const waiter = g.send('q');
  await awaitDepth(g, 'q', 1);
  const t1 = now();
  const behind = await g.send('q');
  const took = now() - t1;
  const expected = ((3 * R - 100) / 10) * 1000 - (t1 - start);
  assert.ok(expected > 6200 + 300, `test setup: the true wait ${expected} ms must exceed max_wait`);
  assert.equal(behind.status, 429, behind.text);
  assert.ok(took < 1000, `refused after ${took.toFixed(0)} ms (${openaiError(behind).error.message}); the wait it faced (~${expected.toFixed(0)} ms) was over max_wait 6.2 s from the start`);
  assert.match(openaiError(behind).error.message, /longer than max_wait/);
  assert.ok(Math.abs(header(behind, 'retry-after-ms') - expected) < 300, `retry-after-ms ${header(behind, 'retry-after-ms')}, the wait ${expected.toFixed(0)} ms`);
  assert.equal((await waiter).status, 200);
});

test('max_queued: with 2 waiting the third is refused at once; the queue depth gauge counts them', { timeout: 60000 }, async () => {
  const g = await startGateway({ routes: ['q'], policies: [policy('mq', 'q', { tokens: 100, per: '10s' }, { max_wait: '20s', max_queued: 2 })] });
  const a0 = await g.send('q');
  assert.equal(a0.status, 200, a0.text);
  const w1 = g.send('q');                               // waits ~ (R - 43) / 10 s
  await awaitDepth(g, 'mq', 1);
  const w2 = openRequest(g.port, `/q${CHAT}`);           // waits behind it; aborted below
  await awaitDepth(g, 'mq', 2);
  const t0 = now();
  const third = await g.send('q');
  assert.ok(now() - t0 < 1000, `refused at once, not after ${(now() - t0).toFixed(0)} ms`);
  assert.equal(third.status, 429, third.text);
  assert.match(openaiError(third, { code: 'rate_limit_exceeded' }).error.message, /2 requests already wait for this limit \(max_queued\)/);
  // Its retry-after: its own deficit plus both waiters' tokens, at 10 tokens per second.
  const rem = header(third, 'x-ratelimit-remaining-tokens');
  const want = (R - rem + 2 * R) * 100;
  console.log(`# max_queued: retry-after-ms ${header(third, 'retry-after-ms')}, computed ${want}`);
  assert.ok(Math.abs(header(third, 'retry-after-ms') - want) <= 101, `retry-after-ms ${header(third, 'retry-after-ms')}, want ~${want}`);

  const r1 = await w1;
  assert.equal(r1.status, 200, r1.text);
  w2.req.destroy();
  const s2 = await w2.settled;
  assert.equal(s2.status, undefined, 'the aborted waiter got no answer');
  await awaitDepth(g, 'mq', 0);
  const m = await g.metrics();
  assert.equal(metricValue(m, 'tokengate_ratelimit_queue_total', { policy: 'mq', result: 'full' }), 1);
  assert.equal(metricValue(m, 'tokengate_ratelimit_queue_total', { policy: 'mq', result: 'admitted' }), 1);
  assert.equal(metricValue(m, 'tokengate_ratelimit_queue_total', { policy: 'mq', result: 'gone' }), 1);
  const [l3] = await accessLogLines(g.gw, [rid(third)]);
  assert.equal(l3.queue, 'full');
});

test('timeout: a waiter that others overtake in fair order waits max_wait, then gets 429 "It waited max_wait"', { timeout: 60000 }, async () => {
  // 20 tokens per second. x queues two requests, then y one: y's start tag is before x's second,
  // so y is served first and x's second cannot get its R tokens within max_wait, although its
  // estimate when it joined (x's first ahead of it) fitted.
  const consumers = [{ name: 'x', keys: ['key-x'] }, { name: 'y', keys: ['key-y'] }];
  const g = await startGateway({ routes: ['q'], consumers, policies: [policy('to', 'q', { tokens: 100, per: '5s' }, { max_wait: '4500ms' })] });
  const a0 = await g.send('q', bearer('key-x'));
  assert.equal(a0.status, 200, a0.text);
  const t0 = now();
  const order = [];
  const track = (who, p) => p.then((r) => { order.push(who); return { ...r, at: now() - t0 }; });
  const x1 = track('x1', g.send('q', bearer('key-x')));
  await awaitDepth(g, 'to', 1);
  const x2 = track('x2', g.send('q', bearer('key-x')));
  await awaitDepth(g, 'to', 2);
  const y1 = track('y1', g.send('q', bearer('key-y')));
  const [rx1, rx2, ry1] = await Promise.all([x1, x2, y1]);
  assert.equal(rx1.status, 200, rx1.text);
  assert.equal(ry1.status, 200, ry1.text);
  assert.equal(rx2.status, 429, `x's second: ${rx2.status} after ${rx2.at.toFixed(0)} ms ${rx2.text}`);
  assert.deepEqual(order, ['x1', 'y1', 'x2'], 'y overtook x\'s second request');
  assert.match(openaiError(rx2, { code: 'rate_limit_exceeded' }).error.message, /It waited max_wait \(4\.5s\)/);
  assert.ok(rx2.ms >= 4400 && rx2.ms < 6500, `x's second was refused after ${rx2.ms.toFixed(0)} ms, max_wait is 4.5 s`);
  assert.ok(ry1.at >= ((3 * Math.min(R, C) - 100) / 20) * 1000 - 20, `y admitted at ${ry1.at} ms`);
  const [l2] = await accessLogLines(g.gw, [rid(rx2)]);
  assert.equal(l2.queue, 'timeout');
  assert.ok(l2.queued_ms >= 4400 && l2.queued_ms < 6500, JSON.stringify(l2));
  const m = await g.metrics();
  assert.equal(metricValue(m, 'tokengate_ratelimit_queue_total', { policy: 'to', result: 'timeout' }), 1);
  assert.equal(metricValue(m, 'tokengate_ratelimit_queue_total', { policy: 'to', result: 'admitted' }), 2);
  assert.equal(metricValue(m, 'tokengate_ratelimit_queue_depth', { policy: 'to' }), 0);
});

test('a client that disconnects while queued leaves the queue, reaches no upstream and is charged nothing', { timeout: 60000 }, async () => {
  const own = await h.sim();
  const rlFile = path.join(h.tmpDir(), 'ratelimit.log');
  const consumers = [{ name: 'alice', keys: ['key-alice'] }];
  const g = await startGateway({
    routes: ['q'], consumers, upstream: own, server: { ratelimit_log: rlFile },
    policies: [policy('gone', 'q', { tokens: 100, per: '10s' }, { max_wait: '20s' })],  // 10 tokens per second
  });
  const before0 = (await simStats(own)).requests;
  const a0 = await g.send('q', bearer('key-alice'));
  assert.equal(a0.status, 200, a0.text);
  const t0 = now();
  const gone = openRequest(g.port, `/q${CHAT}`, bearer('key-alice'));
  await awaitDepth(g, 'gone', 1);
  await sleep(300);
  gone.req.destroy();
  assert.equal((await gone.settled).status, undefined, 'no answer to the aborted request');
  await waitFor(async () => metricValue(await g.metrics(), 'tokengate_ratelimit_queue_total', { policy: 'gone', result: 'gone' }) === 1,
    { timeout: 3000, what: 'queue_total{result="gone"} 1' });
  assert.equal(metricValue(await g.metrics(), 'tokengate_ratelimit_queue_depth', { policy: 'gone' }), 0);

  // Had the gone request been admitted and charged, the next one would wait a further R / 10 s.
  const next = await g.send('q', bearer('key-alice'));
  const at = now() - t0;
  assert.equal(next.status, 200, next.text);
  const fits = ((2 * Math.min(R, C) - 100) / 10) * 1000;
  assert.ok(at >= fits - 50, `admitted at ${at.toFixed(0)} ms, before its tokens existed (${fits} ms)`);
  assert.ok(at < fits + 2500, `admitted at ${at.toFixed(0)} ms; it fits at ${fits} ms unless the gone request was charged (then ${fits + R * 100} ms)`);
  assert.ok(header(next, 'x-ratelimit-remaining-tokens') <= 15, `remaining ${next.headers['x-ratelimit-remaining-tokens']}`);
  const llm = (await simStats(own)).requests - before0 - 1;  // minus this /sim/stats call
  assert.equal(llm, 2, 'the simulator saw the two admitted requests only');

  const m = await g.metrics();
  assert.equal(metricValue(m, 'tokengate_ratelimit_queue_total', { policy: 'gone', result: 'admitted' }), 1);
  assert.equal(metricValue(m, 'tokengate_ratelimit_queue_wait_seconds_count', { policy: 'gone' }), 2);
  const rl = await waitFor(() => {
    const lines = fs.existsSync(rlFile) ? parseAccessLog(fs.readFileSync(rlFile, 'utf8')) : [];
    return lines.length >= 2 ? lines : null;
  }, { timeout: 5000, what: 'two rate-limit log lines' });
  const lg = rl.find((l) => l.queue === 'gone');
  assert.ok(lg, `a rate-limit log line for the gone request: ${JSON.stringify(rl)}`);
  assert.equal(lg.decision, 'client_gone', JSON.stringify(lg));
  assert.equal(lg.policy, 'gone');
  assert.equal(lg.consumer, 'alice');
  assert.ok(lg.queued_ms >= 250 && lg.queued_ms < 5000, JSON.stringify(lg));
  const ag = parseAccessLog(g.gw.proc.out).find((l) => l.queue === 'gone');
  assert.ok(ag, `an access-log line for the gone request: ${g.gw.proc.out}`);
  assert.equal(ag.status, 0, JSON.stringify(ag));
  assert.equal(ag.error, 'client_gone');
  assert.equal(ag.bytes_out, 0);
  assert.equal(ag.total_tokens, undefined, 'no usage: it never reached the upstream');
  assert.ok(ag.queued_ms >= 250 && ag.queued_ms < 5000, JSON.stringify(ag));
  const la = rl.find((l) => l.request_id === rid(next));
  assert.ok(la, `a rate-limit log line for the request that waited: ${JSON.stringify(rl)}`);
  assert.equal(la.queue, 'admitted');
  assert.ok(!rl.some((l) => l.request_id === rid(a0)), 'the request admitted without waiting has no rate-limit log line');
});

test('fairness over 20 s on three budgets at once: equal consumers (Jain >= 0.95), a priority-4 tier (4/13), a greedy consumer (<= its 1/10)', { timeout: 90000 }, async () => {
  const RATE = 1500;  // tokens per second per budget, ~26 requests per second
  const RUN_MS = 20000;
  const WARMUP_MS = 3000;  // the full bucket's first burst, and the queues forming
  const scenarios = {
    eq: { clients: (i) => 3, policy: {} },
    pri: { clients: (i) => (i === 0 ? 6 : 3), policy: { priority: { gold: 4 } } },
    greedy: { clients: (i) => (i === 0 ? 40 : 2), policy: {} },
  };
  const consumers = [];
  const policies = [];
  for (const [s, def] of Object.entries(scenarios)) {
    for (let i = 0; i < 10; ++i) {
      consumers.push({ name: `${s}${i}`, keys: [`key-${s}${i}`], ...(s === 'pri' && i === 0 ? { labels: { tier: 'gold' } } : {}) });
    }
    policies.push(policy(s, s, { tokens: RATE, per: 'second' }, { max_wait: '30s', ...def.policy }));
  }
  const g = await startGateway({ routes: Object.keys(scenarios), consumers, policies });

  const t0 = now();
  const stopAt = t0 + RUN_MS;
  const records = [];
  const errors = [];
  const client = async (s, name) => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      while (now() < stopAt) {
        try {
          const r = await g.send(s, bearer(`key-${name}`), { agent, timeout: 60000 });
          records.push({ s, name, status: r.status, t: now() - t0, tokens: r.status === 200 ? r.json().usage.total_tokens : 0, text: r.status === 200 ? '' : r.text });
        } catch (e) {
          errors.push(`${name}: ${e.message}`);
          await sleep(50);
        }
      }
    } finally {
      agent.destroy();
    }
  };
  const loops = [];
  for (const [s, def] of Object.entries(scenarios)) {
    for (let i = 0; i < 10; ++i) for (let c = 0; c < def.clients(i); ++c) loops.push(client(s, `${s}${i}`));
  }
  await Promise.all(loops);
  assert.ok(errors.length <= 3, `transport errors: ${errors.slice(0, 5).join('; ')}`);
  const bad = records.filter((r) => r.status !== 200);
  assert.ok(bad.length <= records.length * 0.01, `${bad.length} of ${records.length} not admitted: ${bad.slice(0, 3).map((r) => `${r.status} ${r.text}`).join(' | ')}`);

  // Admitted tokens per consumer, in the steady part of the run (every consumer backlogged).
  const share = (s) => {
    const per = new Map(Array.from({ length: 10 }, (_, i) => [`${s}${i}`, 0]));
    for (const r of records) {
      if (r.s === s && r.status === 200 && r.t >= WARMUP_MS && r.t <= RUN_MS) per.set(r.name, per.get(r.name) + r.tokens);
    }
    const xs = [...per.values()];
    return { xs, total: xs.reduce((a, b) => a + b, 0) };
  };
  const report = {};
  const measured = (RUN_MS - WARMUP_MS) / 1000;

  const eq = share('eq');
  report.eq = { jain: jain(eq.xs), tokens: eq.xs };
  assert.ok(eq.total >= RATE * measured * 0.8, `the equal budget admitted ${eq.total} tokens in ${measured} s of ${RATE}/s: the gateway is not the bottleneck?`);
  assert.ok(eq.total <= RATE * measured * 1.05 + RATE, `the equal budget admitted ${eq.total} tokens in ${measured} s of ${RATE}/s`);
  assert.ok(jain(eq.xs) >= 0.95, `Jain index ${jain(eq.xs).toFixed(4)} of ${eq.xs}`);

  const pri = share('pri');
  const gold = pri.xs[0] / pri.total;
  report.pri = { goldShare: gold, want: 4 / 13, jainOthers: jain(pri.xs.slice(1)), tokens: pri.xs };
  assert.ok(gold >= 0.277 && gold <= 0.338, `the priority-4 consumer got ${(gold * 100).toFixed(1)} % of ${pri.total} tokens, want 4/13 = 30.8 % ± 10 %: ${pri.xs}`);
  assert.ok(jain(pri.xs.slice(1)) >= 0.95, `the weight-1 consumers beside it: Jain ${jain(pri.xs.slice(1)).toFixed(4)} of ${pri.xs.slice(1)}`);

  const gr = share('greedy');
  const greedy = gr.xs[0] / gr.total;
  report.greedy = { greedyShare: greedy, jainOthers: jain(gr.xs.slice(1)), tokens: gr.xs };
  assert.ok(greedy <= 0.11, `the consumer with 40 clients got ${(greedy * 100).toFixed(1)} % of ${gr.total} tokens, its fair share is 10 %: ${gr.xs}`);
  assert.ok(greedy >= 0.09, `the greedy consumer got ${(greedy * 100).toFixed(1)} %: still its share while backlogged`);
  assert.ok(jain(gr.xs.slice(1)) >= 0.95, `the others: Jain ${jain(gr.xs.slice(1)).toFixed(4)} of ${gr.xs.slice(1)}`);
  console.log(`# fairness: ${JSON.stringify(report)}`);

  const m = await g.metrics();
  for (const s of Object.keys(scenarios)) {
    assert.equal(metricValue(m, 'tokengate_ratelimit_queue_depth', { policy: s }), 0, `${s}: queue empty at the end`);
    assert.ok(metricValue(m, 'tokengate_ratelimit_queue_total', { policy: s, result: 'admitted' }) > 100, `${s}: requests waited`);
  }
});

test('Redis store: a burst against 100 tokens/s is admitted in full as the bucket refills', { skip: redisMissing() ?? false, timeout: 60000 }, async () => {
  const N = 6;
  const RATE = 100;
  const redis = await redisServer(h);
  const g = await startGateway({
    routes: ['q'],
    server: { workers: 2 },
    store: { type: 'redis', redis: { address: `127.0.0.1:${redis.port}`, timeout: '2s', key_prefix: 'aq:' } },
    policies: [policy('rq', 'q', { tokens: RATE, per: 'second' }, { max_wait: '10s', store_failure: 'closed' })],
  });
  await waitFor(() => redisConnections(g.gw) >= 2, { timeout: 10000, what: `the Redis connections\n${g.gw.proc.err}` });
  const t0 = now();
  const rs = await Promise.all(Array.from({ length: N }, () => g.send('q').then((r) => ({ ...r, done: now() - t0 }))));
  for (const r of rs) assert.equal(r.status, 200, r.text);
  const done = rs.map((r) => r.done).sort((a, b) => a - b);
  for (let k = 1; k < N; ++k) {
    const earliest = (((k + 1) * Math.min(R, C) - RATE) / RATE) * 1000;
    assert.ok(done[k] >= earliest - 20, `admission #${k} at ${done[k].toFixed(0)} ms, before its tokens existed (${earliest} ms)`);
  }
  const drain = ((N * R - RATE) / RATE) * 1000;
  assert.ok(done.at(-1) < drain + 3000, `the burst took ${done.at(-1).toFixed(0)} ms, the refill ${drain} ms`);
  const lines = await accessLogLines(g.gw, rs.map(rid));
  assert.ok(lines.every((l) => l.ratelimit === 'allowed'), 'Redis decided every request (no store_failure)');
  const queued = lines.filter((l) => l.queue === 'admitted').length;
  assert.ok(queued >= N - 2, `${queued} of ${N} waited`);
  const m = await g.metrics();
  assert.equal(metricValue(m, 'tokengate_ratelimit_queue_total', { policy: 'rq', result: 'admitted' }), queued);
  assert.ok((await redis.cli('--scan')).includes('aq:'), 'the bucket lives in Redis');
});

test('config: on_limit queue with mode higress_compatible or a penalty, and max_wait without on_limit queue, are errors', { timeout: 30000 }, async () => {
  const port = await freePort();
  const check = async (pol) => {
    const cfg = gatewayConfig({
      port,
      upstreams: [{ name: 'sim', url: sim.url }],
      routes: [{ name: 'q', match: { path_prefix: '/' }, upstream: 'sim', dialect: 'openai' }],
    });
    cfg.rate_limits = { policies: [{ name: 'p', ...pol, rules: pol.rules ?? [{ name: 'all', by: 'global', limits: [{ tokens: 100, per: 'second' }] }] }] };
    const file = h.writeFile('tokengate.yaml', toYaml(cfg) + '\n');
    return runCli(['check', '--config', file]);
  };
  const ok = await check({ algorithm: 'token_bucket', on_limit: 'queue', max_wait: '5s', max_queued: 10, priority: { gold: 4 } });
  assert.equal(ok.code, 0, `a valid queue policy: ${ok.stderr}`);

  const higress = await check({ on_limit: 'queue', mode: 'higress_compatible' });
  assert.equal(higress.code, 1, higress.stderr);
  assert.match(higress.stderr, /on_limit: queue needs mode: strict/);
  assert.match(higress.stderr, /rate_limits\.policies\[0\]\.on_limit/);

  const penalty = await check({ on_limit: 'queue', penalty: '30s' });
  assert.equal(penalty.code, 1, penalty.stderr);
  assert.match(penalty.stderr, /on_limit: queue and penalty exclude each other/);

  const rulePenalty = await check({ on_limit: 'queue', rules: [{ name: 'all', by: 'global', penalty: '1m', limits: [{ tokens: 100, per: 'second' }] }] });
  assert.equal(rulePenalty.code, 1, rulePenalty.stderr);
  assert.match(rulePenalty.stderr, /on_limit: queue and penalty exclude each other/);

  const noQueue = await check({ max_wait: '5s' });
  assert.equal(noQueue.code, 1, noQueue.stderr);
  assert.match(noQueue.stderr, /max_wait, max_queued and priority need on_limit: queue/);
  assert.match(noQueue.stderr, /max_wait/);

  const badWord = await check({ on_limit: 'wait' });
  assert.equal(badWord.code, 1, badWord.stderr);
  assert.match(badWord.stderr, /on_limit/);
});
