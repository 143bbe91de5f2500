// The Redis store end to end (issue 5): several REAL gateway instances over one REAL
// redis-server (started by the test on a free loopback port) share one limit exactly.
//   * the overshoot scenario of ratelimit_settle.test.mjs (100 tokens per minute, every request
//     really uses 60, 20 concurrent requests, strict reservation with max_tokens) spread over
//     two and three instances admits what ONE instance admits, and the bucket in Redis holds
//     exactly what the upstream reported (read with redis-cli, and through each instance's
//     429 "Used N");
//   * a Higress ai-token-ratelimit config with a `redis:` block and no `store:` section selects
//     that Redis: two instances share the Higress counter.
// Failure modes are in redis_failure.test.mjs, Redis Cluster in redis_cluster.test.mjs.
//
// Bucket keys in Redis: "<key_prefix>{<tag>}<bucket key>|<algorithm>|<window ms>"
// (src/redis/scripts.h); a fixed-window bucket is a hash whose field c is the window's count.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import {
  harness, freePort, gatewayConfig, postJSON, waitFor, openaiError, awaitWindowRoom, accessLogLines,
  redisServer, redisCli, redisMissing, redisConnections, bucketFieldArgs, now,
} from './lib.mjs';

const skip = redisMissing() ?? false;
const h = harness();
let sim;
let P;        // prompt tokens of chatBody() as the simulator counts them

const MINUTE = 60_000;

function chatBody({ max, model = 'gpt-4o-mini' } = {}) {
  return {
    model,
    messages: [{ role: 'user', content: 'Say something.' }],
    ...(max !== undefined ? { max_tokens: max } : {}),
  };
}
const knobs = (tokens, extra = {}) => ({ 'x-sim-tokens': String(tokens), ...extra });
const bearer = (key) => ({ authorization: `Bearer ${key}` });
const chat = (gw, body, headers = {}) => postJSON(gw.port, '/v1/chat/completions', body, headers, { timeout: 20000 });
const rid = (r) => r.headers['x-request-id'];
const usedFromMessage = (msg) => {
  const m = /Used (\d+)/.exec(msg);
  assert.ok(m, `no "Used N" in ${JSON.stringify(msg)}`);
  return Number(m[1]);
};

/** A gateway in front of the simulator with `workers` worker threads (each has its own Redis client). */
async function startGateway({ rateLimits, higress, store, workers = 2 } = {}) {
  const port = await freePort();
  const cfg = gatewayConfig({
    port,
    server: { workers },
    upstreams: [{ name: 'sim', url: sim.url }],
    routes: [{ name: 'openai', match: { path_prefix: '/' }, upstream: 'sim', dialect: 'openai' }],
  });
  if (store) cfg.store = store;
  if (rateLimits) cfg.rate_limits = rateLimits;
  if (higress) cfg.higress = higress;
  const gw = await h.gateway(cfg);
  gw.workers = workers;
  return gw;
}

/** Waits until every worker of every gateway has its Redis connection up (from their logs). */
async function waitRedisUp(gws) {
  for (const gw of gws) {
    await waitFor(() => redisConnections(gw) >= gw.workers, {
      timeout: 10000, what: `the Redis connections of the gateway on ${gw.port}\n${gw.proc.err}`,
    });
  }
}

/** The keys of `redisPort` whose name contains every string of `parts`. */
async function keysWith(redisPort, parts) {
  const out = await redisCli(redisPort, ['--scan']);
  return (out ? out.split('\n') : []).filter((k) => parts.every((p) => k.includes(p)));
}
/** The count (field c) of a fixed-window bucket. */
async function bucketCount(redisPort, key) {
  return Number(await redisCli(redisPort, bucketFieldArgs(key, 'c')));
}

before(async () => {
  if (skip) return;
  sim = await h.sim();
  const r = await postJSON(sim.port, '/v1/chat/completions', chatBody({ max: 1 }), knobs(1));
  assert.equal(r.status, 200, r.text);
  P = r.json().usage.prompt_tokens;
}, { timeout: 60000 });

// ---------------------------------------------------------------------------------------------
// The overshoot scenario over several instances.

/**
 * `concurrency` concurrent requests of one consumer that each really use 60 tokens, request i
 * sent to gws[i % gws.length]. Returns what happened, measured.
 */
async function overshootRound(gws, key, { concurrency = 20, ttftMs = 300 } = {}) {
  const T = 60 - P;
  assert.ok(T > 0, `the prompt (${P} tokens) must be under 60`);
  const rs = await Promise.all(Array.from({ length: concurrency }, (_, i) => {
    const gw = gws[i % gws.length];
    return chat(gw, chatBody({ max: T }), { ...knobs(T, { 'x-sim-ttft-ms': String(ttftMs) }), ...bearer(key) })
      .then((r) => ({ ...r, gw }));
  }));
  const lines = [];
  for (const gw of gws) {
    lines.push(...await accessLogLines(gw, rs.filter((r) => r.gw === gw).map(rid), { timeout: 10000 }));
  }
  const admitted = rs.filter((r) => r.status === 200);
  const upstreamTotal = admitted.reduce((s, r) => s + r.json().usage.total_tokens, 0);
  for (const r of rs) {
    if (r.status === 200) continue;
    assert.equal(r.status, 429, `only 200 or 429: ${r.status} ${r.text}`);
    openaiError(r, { code: 'rate_limit_exceeded' });
  }
  for (const l of lines) assert.equal(l.ratelimit, l.status === 200 ? 'allowed' : 'rejected', JSON.stringify(l));
  const loggedTotal = lines.filter((l) => l.status === 200).reduce((s, l) => s + l.total_tokens, 0);
  assert.equal(loggedTotal, upstreamTotal, 'the logs record what the upstream reported');
  const reserved = lines.find((l) => l.status === 200)?.reserved_tokens;
  assert.equal(reserved, P + T, 'reservation = prompt estimate + max_tokens');
  return { rs, lines, admitted, upstreamTotal, reserved, perInstance: gws.map((gw) => admitted.filter((r) => r.gw === gw).length) };
}

test('overshoot across 1, 2 and 3 instances on one Redis: the same bound as one instance, the bucket holds what the upstream reported', { skip, timeout: 120000 }, async () => {
  const redis = await redisServer(h);
  const PREFIX = 'ovs:';
  const consumers = ['one', 'two', 'three', 'wide'];
  const rateLimits = (limit) => ({
    consumers: consumers.map((n) => ({ name: n, keys: [`sk-${n}`] })),
    policies: [{
      // closed: a request Redis could not decide would be a 503, never a silent admission.
      name: 'overshoot', reservation: 'prompt_plus_max', store_failure: 'closed',
      rules: [{ name: 'tpm', by: 'per_consumer', limits: [{ tokens: limit, per: 'minute' }] }],
    }],
  });
  const store = { type: 'redis', redis: { address: `127.0.0.1:${redis.port}`, timeout: '2s', key_prefix: PREFIX, lease: 'exact' } };
  const LIMIT = 100;
  const gws = [];
  for (let i = 0; i < 3; ++i) gws.push(await startGateway({ rateLimits: rateLimits(LIMIT), store }));
  await waitRedisUp(gws);

  await awaitWindowRoom(MINUTE, 30000);
  const report = [];
  let single;
  for (const [n, consumer] of [[1, 'one'], [2, 'two'], [3, 'three']]) {
    const round = await overshootRound(gws.slice(0, n), `sk-${consumer}`);
    const { admitted, upstreamTotal, reserved } = round;
    const fits = Math.floor(LIMIT / reserved);   // reservations that fit in the limit
    if (n === 1) single = admitted.length;
    assert.equal(admitted.length, fits, `${n} instance(s): admitted ${admitted.length}, ${fits} reservations of ${reserved} fit in ${LIMIT} (statuses ${round.rs.map((r) => r.status)})`);
    assert.ok(admitted.length <= single, `${n} instances admit no more than one instance (${single})`);
    assert.ok(upstreamTotal <= LIMIT, `no overshoot: ${upstreamTotal}`);

    // The bucket in Redis: one key for the consumer, holding exactly what the upstream reported
    // (settlement is asynchronous: wait for it, bounded).
    const keys = await keysWith(redis.port, [PREFIX, `${consumer}|fixed|${MINUTE}`]);
    assert.equal(keys.length, 1, `one bucket for ${consumer}: ${JSON.stringify(keys)}`);
    await waitFor(async () => (await bucketCount(redis.port, keys[0])) === upstreamTotal,
      { timeout: 5000, what: `${keys[0]} to hold ${upstreamTotal}` }).catch(async (e) => {
      assert.fail(`${e.message}: it holds ${await bucketCount(redis.port, keys[0])}`);
    });
    // Every instance reads the same usage back: its 429 says "Used <upstreamTotal>".
    for (const gw of gws) {
      const probe = await chat(gw, chatBody({ max: 60 - P }), { ...knobs(60 - P), ...bearer(`sk-${consumer}`) });
      assert.equal(probe.status, 429, probe.text);
      assert.equal(usedFromMessage(openaiError(probe).error.message), upstreamTotal, `instance ${gw.port}`);
      assert.equal(Number(probe.headers['x-ratelimit-remaining-tokens']), LIMIT - upstreamTotal);
    }
    assert.equal(await bucketCount(redis.port, keys[0]), upstreamTotal, 'rejected probes charge nothing');
    report.push(`${n} instance(s): admitted ${admitted.length}/20 (per instance ${round.perInstance.join('+')}), bucket ${upstreamTotal}/${LIMIT}`);
  }

  // A wider limit over three instances: 40 concurrent requests of 60 tokens against 1000 tokens.
  // Per-instance counters would admit up to 16 on EACH instance; shared, 16 in all.
  const WIDE = 1000;
  const wideGws = [];
  for (let i = 0; i < 3; ++i) wideGws.push(await startGateway({ rateLimits: rateLimits(WIDE), store }));
  await waitRedisUp(wideGws);
  await awaitWindowRoom(MINUTE, 20000);
  const wide = await overshootRound(wideGws, 'sk-wide', { concurrency: 40 });
  const fits = Math.floor(WIDE / wide.reserved);
  assert.equal(wide.admitted.length, fits, `admitted ${wide.admitted.length} of 40, ${fits} fit (per instance ${wide.perInstance})`);
  const [wideKey] = await keysWith(redis.port, [PREFIX, `wide|fixed|${MINUTE}`]);
  assert.ok(wideKey, 'the wide bucket exists');
  await waitFor(async () => (await bucketCount(redis.port, wideKey)) === wide.upstreamTotal,
    { timeout: 5000, what: `${wideKey} to hold ${wide.upstreamTotal}` });
  report.push(`3 instances, limit ${WIDE}: admitted ${wide.admitted.length}/40 (per instance ${wide.perInstance.join('+')}), bucket ${wide.upstreamTotal}/${WIDE}`);
  console.log(`[redis overshoot] ${report.join('; ')}`);
});

// ---------------------------------------------------------------------------------------------
// A Higress config selects the Redis store.

test('Higress config with a redis block and no store: section: two instances share the counter', { skip, timeout: 90000 }, async () => {
  const redis = await redisServer(h);
  const LIMIT = 100;
  const USE = 30;           // tokens each request really uses
  const higress = (serviceName) => ({
    rule_name: 'hig_shared',
    global_threshold: { token_per_minute: LIMIT },
    redis: { service_name: serviceName, service_port: redis.port, timeout: 1000 },
  });
  // ".static" (a Higress static service) is removed from the name.
  const a = await startGateway({ higress: higress('127.0.0.1') });
  const b = await startGateway({ higress: higress('127.0.0.1.static') });
  for (const gw of [a, b]) {
    assert.match(gw.proc.err, new RegExp(`"store":"redis 127\\.0\\.0\\.1:${redis.port}"`), `the Higress redis block selects the Redis store:\n${gw.proc.err}`);
  }
  await waitRedisUp([a, b]);
  await awaitWindowRoom(MINUTE, 20000);

  // Check-then-charge: a request is admitted while the counter is at most the limit, and
  // charged its real usage afterwards. Alternate the instances; wait for each charge to land.
  let used = 0;
  const charged = new Map([[a, 0], [b, 0]]);
  let key;
  const seq = [];
  let sharedRejection = false;
  for (let i = 0; i < 8; ++i) {
    const gw = i % 2 === 0 ? a : b;
    const r = await chat(gw, chatBody({ max: USE - P }), knobs(USE - P));
    const want = used > LIMIT ? 429 : 200;
    seq.push(`${gw === a ? 'A' : 'B'}:${r.status}`);
    assert.equal(r.status, want, `request ${i} (counter at ${used}): ${r.status} ${r.text}`);
    if (r.status === 429) {
      assert.equal(r.text, 'Too many requests', 'Higress default rejected_msg');
      // This instance alone charged no more than the limit: only the shared counter rejects it.
      if (charged.get(gw) <= LIMIT) sharedRejection = true;
      continue;
    }
    const total = r.json().usage.total_tokens;
    assert.equal(total, USE);
    used += total;
    charged.set(gw, charged.get(gw) + total);
    key ??= (await waitFor(() => keysWith(redis.port, ['hig_shared']).then((k) => (k.length ? k : null)),
      { timeout: 5000, what: 'the Higress bucket in Redis' }));
    assert.equal(key.length, 1, `one global bucket: ${JSON.stringify(key)}`);
    await waitFor(async () => (await bucketCount(redis.port, key[0])) === used,
      { timeout: 5000, what: `the shared counter to reach ${used}` });
  }
  assert.ok(sharedRejection, `an instance that charged less than the limit itself was rejected (${seq.join(' ')})`);
  const lines = [...a.accessLog(), ...b.accessLog()];
  assert.ok(lines.every((l) => l.ratelimit === 'allowed' || l.ratelimit === 'rejected'), 'Redis decided every request (no store_failure)');
  console.log(`[redis higress] ${seq.join(' ')}; counter ${used}/${LIMIT} (A charged ${charged.get(a)}, B ${charged.get(b)})`);
});

test('SIGTERM with limits in Redis: the last settlements reach Redis and the gateway exits at once, not after drain_timeout', { skip, timeout: 60000 }, async () => {
  const redis = await redisServer(h);
  const PREFIX = 'drain:';
  const port = await freePort();
  const cfg = gatewayConfig({
    port,
    server: { workers: 2, drain_timeout: '20s' },
    upstreams: [{ name: 'sim', url: sim.url }],
    routes: [{ name: 'openai', match: { path_prefix: '/' }, upstream: 'sim', dialect: 'openai' }],
  });
  cfg.store = { type: 'redis', redis: { address: `127.0.0.1:${redis.port}`, key_prefix: PREFIX } };
  cfg.rate_limits = {
    consumers: [{ name: 'dora', keys: ['sk-dora'] }],
    policies: [{ name: 'p', rules: [{ by: 'per_consumer', limits: [{ tokens: 1_000_000, per: 'minute' }] }] }],
  };
  const gw = await h.gateway(cfg);
  gw.workers = 2;
  await waitRedisUp([gw]);
  await awaitWindowRoom(MINUTE, 20000);
  const rs = await Promise.all(Array.from({ length: 6 }, () => chat(gw, chatBody({ max: 7 }), { ...knobs(7), ...bearer('sk-dora') })));
  for (const r of rs) assert.equal(r.status, 200, r.text);
  const upstreamTotal = rs.reduce((s, r) => s + r.json().usage.total_tokens, 0);

  const t0 = now();
  gw.proc.signal('SIGTERM');
  const exit = await gw.proc.waitExit(5000);
  assert.ok(exit, `still running ${((now() - t0) / 1000).toFixed(1)} s after SIGTERM: the Redis connections kept the workers alive`);
  assert.equal(exit.code, 0, `${JSON.stringify(exit)}\n${gw.proc.err}`);
  // Settlement is sent before the connections close: the bucket holds what the upstream reported.
  const keys = await keysWith(redis.port, [PREFIX, `dora|fixed|${MINUTE}`]);
  assert.equal(keys.length, 1, JSON.stringify(keys));
  assert.equal(await bucketCount(redis.port, keys[0]), upstreamTotal);
  console.log(`[redis drain] exit ${Math.round(now() - t0)} ms after SIGTERM; bucket ${upstreamTotal} = upstream total`);
});
