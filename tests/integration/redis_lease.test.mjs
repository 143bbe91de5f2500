// Leased mode of the Redis store (issue 14; store/leased_store.h, docs/redis.md), through REAL
// gateway instances over a REAL redis-server started by the test:
//   * 4 instances x 64 concurrent clients on ONE shared consumer limit, until every client is
//     refused: the tokens admitted (what the upstream reported, which equals each request's
//     reservation here) never exceed the limit for fixed_window and sliding_window, and for
//     token_bucket exceed it by at most the refill during the run plus the stated bound
//     (holders * min(slice cap, limit * ttl / window)); little budget is left stranded; and the
//     instances made far fewer Redis calls than requests (INFO commandstats);
//   * leases go back on SIGTERM and on a reload: Redis then holds exactly what was used, and
//     the next instance sees the budget back;
//   * Redis killed while an instance holds a lease: the instance keeps admitting from it (no
//     store failure), then applies store_failure (closed: 503) once the lease is spent.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import {
  harness, freePort, gatewayConfig, postJSON, waitFor, awaitWindowRoom, redisServer, redisCli,
  redisMissing, redisConnections, bucketFieldArgs, now,
} from './lib.mjs';

const skip = redisMissing() ?? false;
const h = harness();
let sim;
let P;  // prompt tokens of the chat body as the simulator counts them

const MINUTE = 60_000;
const T = 40;  // completion tokens of every request (max_tokens = x-sim-tokens: reservation = usage)
const body = () => ({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Say something.' }], max_tokens: T });
const headers = (key) => ({ authorization: `Bearer ${key}`, 'x-sim-tokens': String(T) });
const chat = (gw, key) => postJSON(gw.port, '/v1/chat/completions', body(), headers(key), { timeout: 20000 });

before(async () => {
  if (skip) return;
  sim = await h.sim();
  const r = await postJSON(sim.port, '/v1/chat/completions', body(), { 'x-sim-tokens': String(T) });
  assert.equal(r.status, 200, r.text);
  P = r.json().usage.prompt_tokens;
}, { timeout: 60000 });

function limits(algorithm, limit, key, extra = {}) {
  return {
    consumers: [{ name: 'shared', keys: [key] }],
    policies: [{
      name: 'lease', algorithm, reservation: 'prompt_plus_max', ...extra,
      rules: [{ name: 'tpm', by: 'per_consumer', limits: [{ tokens: limit, per: 'minute' }] }],
    }],
  };
}

async function startGateway(redisPort, rateLimits, { lease = 'leased', prefix = 'ls:' } = {}) {
  const port = await freePort();
  const cfg = gatewayConfig({
    port,
    server: { workers: 1 },
    upstreams: [{ name: 'sim', url: sim.url }],
    routes: [{ name: 'openai', match: { path_prefix: '/' }, upstream: 'sim', dialect: 'openai' }],
  });
  cfg.store = { type: 'redis', redis: { address: `127.0.0.1:${redisPort}`, timeout: '1s', connect_timeout: '1s', key_prefix: prefix, lease } };
  cfg.rate_limits = rateLimits;
  const gw = await h.gateway(cfg);
  await waitFor(() => redisConnections(gw) >= 1, { timeout: 10000, what: `Redis up for ${port}\n${gw.proc.err}` });
  return gw;
}

/** Calls of the store's scripts (EVALSHA or FCALL) so far. */
async function scriptCalls(redisPort) {
  const info = await redisCli(redisPort, ['INFO', 'commandstats']);
  let n = 0;
  for (const m of info.matchAll(/cmdstat_(evalsha|fcall):calls=(\d+)/g)) n += Number(m[2]);
  return n;
}

async function keyOf(redisPort, part) {
  const out = await redisCli(redisPort, ['--scan', '--pattern', `*${part}*`]);
  const keys = out ? out.split('\n') : [];
  assert.equal(keys.length, 1, `one key with ${part}: ${JSON.stringify(keys)}`);
  return keys[0];
}
const count = async (redisPort, key) => Number(await redisCli(redisPort, bucketFieldArgs(key, 'c')));

test('leased: 4 instances x 64 clients on one consumer limit: never above the limit (fixed, sliding), within the stated bound (token bucket), few Redis calls', { skip, timeout: 240000 }, async () => {
  const redis = await redisServer(h);
  const LIMIT = 20_000;
  const report = [];
  for (const algorithm of ['fixed_window', 'sliding_window', 'token_bucket']) {
    const key = `sk-lease-${algorithm}`;
    const gws = [];
    for (let i = 0; i < 4; ++i) gws.push(await startGateway(redis.port, limits(algorithm, LIMIT, key), { prefix: `ls-${algorithm}:` }));
    await awaitWindowRoom(MINUTE, 30000);
    const calls0 = await scriptCalls(redis.port);
    const t0 = now();
    let admitted = 0, requests = 0, tokens = 0;
    const clients = [];
    for (const gw of gws) {
      for (let c = 0; c < 64; ++c) {
        clients.push((async () => {
          for (let i = 0; i < 400; ++i) {
            const r = await chat(gw, key);
            ++requests;
            if (r.status === 429) return;
            assert.equal(r.status, 200, r.text);
            ++admitted;
            tokens += r.json().usage.total_tokens;
          }
        })());
      }
    }
    await Promise.all(clients);
    const seconds = (now() - t0) / 1000;
    const calls = (await scriptCalls(redis.port)) - calls0;
    const req = P + T;
    if (algorithm === 'token_bucket') {
      // Refill during the run (limit per minute) plus 4 holders x min(cap, limit * ttl / window).
      const refill = Math.ceil(LIMIT * (seconds + 1) / 60);
      const bound = 4 * Math.min(Math.floor(LIMIT / 16), Math.floor(LIMIT * 1 / 60));
      assert.ok(tokens <= LIMIT + refill + bound, `${algorithm}: ${tokens} tokens > ${LIMIT} + refill ${refill} + bound ${bound}`);
    } else {
      assert.ok(tokens <= LIMIT, `${algorithm}: ${tokens} tokens admitted over a limit of ${LIMIT}`);
    }
    // Stranded budget at the end: at most a request's worth per holder.
    assert.ok(tokens >= LIMIT - 4 * 2 * req, `${algorithm}: only ${tokens} of ${LIMIT} admitted`);
    // Exhaustion in well under a second is the worst case for leases (slices shrink towards the
    // end, the last part is exact): still far fewer calls than requests.
    assert.ok(calls < requests / 4, `${algorithm}: ${calls} Redis script calls for ${requests} requests`);
    report.push(`${algorithm}: ${tokens}/${LIMIT} tokens in ${admitted} admitted of ${requests} requests, ${calls} Redis calls (${(calls / requests).toFixed(3)} per request), ${seconds.toFixed(1)} s`);
    for (const gw of gws) await gw.proc.stop();
  }
  console.log(`[redis lease] ${report.join('; ')}`);
});

test('leased, far from the limit: 4 instances x 64 clients make at most 0.05 Redis calls per request', { skip, timeout: 120000 }, async () => {
  const redis = await redisServer(h);
  const key = 'sk-lease-hot';
  const gws = [];
  for (let i = 0; i < 4; ++i) gws.push(await startGateway(redis.port, limits('fixed_window', 1e12, key)));
  await awaitWindowRoom(MINUTE, 30000);
  const calls0 = await scriptCalls(redis.port);
  let requests = 0;
  await Promise.all(gws.flatMap((gw) => Array.from({ length: 64 }, async () => {
    for (let i = 0; i < 12; ++i) {
      const r = await chat(gw, key);
      assert.equal(r.status, 200, r.text);
      ++requests;
    }
  })));
  const calls = (await scriptCalls(redis.port)) - calls0;
  console.log(`[redis lease] far from the limit: ${calls} Redis calls for ${requests} requests (${(calls / requests).toFixed(4)} per request)`);
  assert.ok(calls / requests <= 0.05, `${calls} calls for ${requests} requests`);
});

test('leases go back on SIGTERM and on reload: Redis holds exactly what was used, the next instance sees it', { skip, timeout: 90000 }, async () => {
  const redis = await redisServer(h);
  const LIMIT = 10_000;
  const key = 'sk-lease-return';
  const rl = limits('fixed_window', LIMIT, key);
  await awaitWindowRoom(MINUTE, 20000);
  const a = await startGateway(redis.port, rl);
  // A bucket is leased once a worker sees it twice within a ttl (a cold one is reserved exactly).
  const r0 = await chat(a, key);
  assert.equal(r0.status, 200, r0.text);
  const r1 = await chat(a, key);
  assert.equal(r1.status, 200, r1.text);
  const used1 = r0.json().usage.total_tokens + r1.json().usage.total_tokens;
  const bucket = await keyOf(redis.port, 'shared|fixed');
  const held = await count(redis.port, bucket);
  assert.ok(held > used1, `a lease was taken: Redis holds ${held} for ${used1} used`);
  await a.proc.stop();
  assert.equal(a.proc.exit.code, 0, a.proc.err);
  assert.equal(await count(redis.port, bucket), used1, 'SIGTERM returned the unused slice');

  const b = await startGateway(redis.port, rl);
  const r2 = await chat(b, key);
  assert.equal(r2.status, 200, r2.text);
  let used2 = used1 + r2.json().usage.total_tokens;
  assert.equal(Number(r2.headers['x-ratelimit-remaining-tokens']), LIMIT - used2, 'the next instance sees the budget back');
  const r3 = await chat(b, key);
  assert.equal(r3.status, 200, r3.text);
  used2 += r3.json().usage.total_tokens;
  assert.ok(await count(redis.port, bucket) > used2, 'b leases');
  b.proc.signal('SIGHUP');  // reload (same config): the leases go back
  await waitFor(() => /config reloaded/.test(b.proc.err), { timeout: 10000, what: 'the reload' });
  await waitFor(async () => (await count(redis.port, bucket)) === used2, { timeout: 5000, what: `Redis to hold ${used2} after the reload` });
});

test('Redis killed while a lease is held: the instance admits from it, then applies store_failure (closed: 503)', { skip, timeout: 90000 }, async () => {
  const redis = await redisServer(h);
  const key = 'sk-lease-down';
  const req = P + T;
  // The second request within a ttl leases: slice = min(limit/16, 2 x the 2 requests seen,
  // (limit - req)/4) = 3 requests' worth, on top of its own.
  const LIMIT = 16 * 3 * req;
  const rl = limits('fixed_window', LIMIT, key, { store_failure: 'closed' });
  await awaitWindowRoom(MINUTE, 20000);
  const gw = await startGateway(redis.port, rl);
  for (let i = 0; i < 2; ++i) {
    const r = await chat(gw, key);
    assert.equal(r.status, 200, r.text);
  }
  await redis.kill();
  const statuses = [];
  for (let i = 0; i < 5; ++i) statuses.push((await chat(gw, key)).status);
  assert.deepEqual(statuses.slice(0, 3), [200, 200, 200], `the lease admits while Redis is down: ${statuses}`);
  assert.equal(statuses[4], 503, `then store_failure closed: ${statuses}`);
});
