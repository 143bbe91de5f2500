// Leased-mode Redis store (the default, issue 14) on a REAL Redis Cluster of 3 masters + 3
// replicas started by this file (redis-cli --cluster create --cluster-replicas 1,
// cluster-node-timeout 1000 ms): the master owning a consumer's slot is killed (SIGKILL) under
// load through 2 gateway instances x 2 workers, its replica is promoted, and:
//   * no request fails (store_failure: open): every response of the load is a 200; the requests
//     admitted between the kill and the last worker's switch to the new slot map (its log line)
//     are counted and logged, with how many of them were admitted without counting
//     (access log ratelimit: store_failure; the others came from leases held at the kill);
//   * the gateways find the promoted replica (their slot map changes) and count there again: the
//     load's own leases are taken from it (script calls on it), and a fresh consumer whose bucket
//     lives on the same slot range is counted EXACTLY on it after the failover;
//   * after the load, with every lease returned (the gateways are stopped with SIGTERM, which
//     returns their leases to the new master), the consumer's bucket counts in the promoted
//     replica (requests and tokens, each a fixed window per day) are within this bound:
//
//       admittedAfter  <=  count  <=  admitted + holders * 2 * sliceCap
//
//     admitted: what the gateways really admitted for the consumer (200 responses: requests,
//       and tokens as the upstream reported them; reservation = usage here, so a settlement
//       never changes a count);
//     admittedAfter: the part of it admitted from leases or reserves of the new master, i.e.
//       requests started one lease ttl after the last worker logged its new slot map (by then
//       no lease of the dead master is left) and logged `allowed`;
//     holders = 2 instances x 2 workers; sliceCap = limit * max_share (the largest lease).
//     The count may be LOWER than `admitted`: replication is asynchronous (writes acknowledged
//     by the dead master but not yet replicated are lost with it) and open mode admits without
//     counting while the slot has no master. It is never higher than admitted plus the
//     unreturned part of the leases whose return was lost: per holder the lease held at the
//     kill (its return fails) and one lease request in flight at the kill (granted by the
//     master, the reply lost), each at most sliceCap.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import {
  harness, freePort, gatewayConfig, postJSON, waitFor, awaitWindowRoom, now, parseAccessLog,
  redisCluster, redisMissing, bucketFieldArgs,
} from './lib.mjs';

const skip = redisMissing() ?? false;
const h = harness();
let sim;
let cluster;
let P;  // prompt tokens of the chat body as the simulator counts them

const DAY = 86_400_000;
const T = 20;                 // max_tokens = x-sim-tokens: reservation (P + T) = usage
const WORKERS = 2;
const INSTANCES = 2;
const HOLDERS = INSTANCES * WORKERS;
const TTL_MS = 1000;          // store.redis.lease.ttl
const MAX_SHARE = 0.005;      // store.redis.lease.max_share: small slices keep the bound tight
const REQ_LIMIT = 50_000;     // per consumer per day: never reached by the load below
const TOK_LIMIT = 2_000_000;
const CLIENTS = 32;
const MAX_REQUESTS = 20_000;  // the load's cap in requests (far below the limits)
const NODE_TIMEOUT_MS = 1000;

const body = () => ({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Say something.' }], max_tokens: T });
const as = (consumer) => ({ authorization: `Bearer sk-${consumer}`, 'x-sim-tokens': String(T) });
const chat = (gw, consumer) => postJSON(gw.port, '/v1/chat/completions', body(), as(consumer), { timeout: 20000 });
const rid = (r) => r.headers['x-request-id'];
const count = async (node, key) => Number(await node.cli(...bucketFieldArgs(key, 'c')));

/** Calls of the store's scripts (EVALSHA or FCALL) served by `node` so far. */
async function scriptCalls(node) {
  let n = 0;
  for (const m of (await node.cli('INFO', 'commandstats')).matchAll(/cmdstat_(evalsha|fcall):calls=(\d+)/g)) n += Number(m[2]);
  return n;
}
const role = async (node) => /role:(\w+)/.exec(await node.cli('INFO', 'replication'))?.[1];
// A worker's switch to the promoted replica: its slot map changed, back to 3 masters (the log
// line names no worker; each worker logs one such change after the failover).
const MAP_CHANGED = '"msg":"redis: cluster slot map changed","masters":"3"';
const mapChanges = (gw) => gw.proc.err.split('\n').filter((l) => l.includes(MAP_CHANGED));

// 'load' carries the load; one of the 'fresh*' consumers (the first whose slot is served by the
// same master as load's) is used only after the failover.
const FRESH = Array.from({ length: 24 }, (_, i) => `fresh${i}`);

function rateLimits() {
  return {
    consumers: ['load', ...FRESH].map((n) => ({ name: n, keys: [`sk-${n}`] })),
    policies: [{
      name: 'fo', reservation: 'prompt_plus_max', store_failure: 'open',
      rules: [{ name: 'per', by: 'per_consumer', limits: [{ requests: REQ_LIMIT, per: 'day' }, { tokens: TOK_LIMIT, per: 'day' }] }],
    }],
  };
}

async function startGateway() {
  const port = await freePort();
  const cfg = gatewayConfig({
    port,
    server: { workers: WORKERS },
    upstreams: [{ name: 'sim', url: sim.url }],
    routes: [{ name: 'openai', match: { path_prefix: '/' }, upstream: 'sim', dialect: 'openai' }],
  });
  cfg.store = {
    type: 'redis',
    redis: {
      address: `127.0.0.1:${cluster.ports[0]}`, cluster: true, timeout: '1s', connect_timeout: '500ms', key_prefix: 'fo:',
      lease: { mode: 'leased', ttl: `${TTL_MS}ms`, max_share: MAX_SHARE },
    },
  };
  cfg.rate_limits = rateLimits();
  const gw = await h.gateway(cfg);
  // Ready when every worker loaded the slot map and connected to the 3 masters.
  await waitFor(() => (gw.proc.err.match(/"msg":"redis: cluster slot map loaded"/g) ?? []).length >= WORKERS
      && (gw.proc.err.match(/"msg":"redis: connected"/g) ?? []).length >= WORKERS * 3,
  { timeout: 15000, what: `the gateway on ${port} to connect to the cluster\n${gw.proc.err}` });
  return gw;
}

before(async () => {
  if (skip) return;
  sim = await h.sim();
  const r = await postJSON(sim.port, '/v1/chat/completions', body(), { 'x-sim-tokens': String(T) });
  assert.equal(r.status, 200, r.text);
  P = r.json().usage.prompt_tokens;
  cluster = await redisCluster(h, { masters: 3, replicas: 1, nodeTimeoutMs: NODE_TIMEOUT_MS });
}, { timeout: 60000 });

test('cluster failover: the master of a consumer\'s slot killed under load, its replica promoted: no failed request (open), counts within the bound, counting resumes on the new master', { skip, timeout: 90000 }, async () => {
  const t0 = now();
  const gws = [];
  for (let i = 0; i < INSTANCES; ++i) gws.push(await startGateway());
  await awaitWindowRoom(DAY, 80_000);

  // load's buckets: one slot (the hash tag is the consumer), known from its first request.
  const first = await chat(gws[0], 'load');
  assert.equal(first.status, 200, first.text);
  const keys = (await cluster.scan('fo:*')).filter((k) => k.includes('vload|'));
  assert.equal(keys.length, 2, `load's requests and tokens buckets: ${JSON.stringify(keys)}`);
  const reqKey = keys.find((k) => k.includes('requests'));
  const tokKey = keys.find((k) => k.includes('total_tokens'));
  assert.ok(reqKey && tokKey, JSON.stringify(keys));
  const tag = /\{([^}]+)\}/.exec(reqKey)[1];
  assert.ok(tag.includes('load'), `the hash tag names the consumer: ${tag}`);
  const slot = await cluster.keyslot(`{${tag}}`);
  assert.equal(await cluster.keyslot(tokKey), slot, 'both buckets share the slot');
  const victim = await cluster.masterOf(slot);
  const replica = await cluster.replicaOf(victim);
  assert.ok(victim && replica, `slot ${slot}: master ${victim?.port}, replica ${replica?.port}`);
  assert.equal(await role(replica), 'slave');
  let fresh;
  for (const name of FRESH) {
    if (await cluster.masterOf(await cluster.keyslot(`{${tag.replace('load', name)}}`)) === victim) { fresh = name; break; }
  }
  assert.ok(fresh, `a fresh consumer on ${victim.port}'s slots among ${FRESH.length}`);
  const freshSlot = await cluster.keyslot(`{${tag.replace('load', fresh)}}`);

  // The load: CLIENTS concurrent clients over both instances until `stop` (or MAX_REQUESTS).
  first.gw = gws[0]; first.start = now(); first.end = now();
  const results = [first];
  let stop = false;
  let sent = 1;
  const lanes = Array.from({ length: CLIENTS }, async (_, lane) => {
    for (let i = 0; !stop && sent < MAX_REQUESTS; ++i) {
      ++sent;
      const gw = gws[(lane + i) % INSTANCES];
      const start = now();
      let r;
      try {
        r = await chat(gw, 'load');
      } catch (e) {
        r = { status: 0, text: e.message, headers: {} };
      }
      results.push({ ...r, gw, start, end: now() });
    }
  });
  const phases = {};
  let victimCalls;
  try {
    // Leases held by every worker: enough traffic, and the master served script calls.
    await waitFor(() => results.length >= 600, { timeout: 20000, what: `600 requests before the kill (${results.length})` });
    victimCalls = await scriptCalls(victim);
    phases.beforeKill = { requests: results.length, req: await count(victim, reqKey), tok: await count(victim, tokKey) };
    phases.tKill = now();
    phases.wallKill = Date.now();
    await victim.kill();

    // The replica is promoted and the cluster is whole again (bounded).
    await waitFor(async () => (await role(replica)) === 'master', { timeout: 20000, interval: 50, what: `replica ${replica.port} to be promoted (role:master)` });
    phases.tPromoted = now();
    await cluster.waitHealthy({ timeout: 20000, what: 'cluster_state:ok on every surviving node after the failover' });
    assert.equal(await cluster.masterOf(slot), replica, `slot ${slot} is served by the promoted replica`);
    phases.tHealthy = now();
    // Every worker of each instance has the new slot map.
    await waitFor(() => gws.every((gw) => mapChanges(gw).length >= WORKERS), {
      timeout: 20000, what: `every worker to load the new slot map:\n${gws.map((g) => g.proc.err.slice(-3000)).join('\n---\n')}`,
    });
    phases.tMapSeen = now();
    // When each worker really switched: the time of its log line (wall clock -> now()).
    phases.mapChanged = gws.flatMap((gw) => mapChanges(gw).map((l) => phases.tKill + (Date.parse(JSON.parse(l).time) - phases.wallKill)));
    phases.tMap = Math.max(...phases.mapChanged);
    assert.ok(phases.tMap > phases.tKill && phases.tMap <= phases.tMapSeen + 50, `slot map change times ${phases.mapChanged} within the run`);
    // Load goes on against the new master: past one lease ttl, and new leases taken from it.
    const promotedCalls = await scriptCalls(replica);
    await waitFor(async () => now() - phases.tMap > TTL_MS + 1500 && (await scriptCalls(replica)) > promotedCalls, {
      timeout: 20000, what: 'load through the promoted master',
    });
  } finally {
    stop = true;
    await Promise.all(lanes);
  }
  phases.tEnd = now();

  // No failed request (open mode), none lost.
  const failed = results.filter((r) => r.status !== 200);
  assert.equal(failed.length, 0, `no failed request in open mode: ${failed.length} of ${results.length}: `
    + `${failed.slice(0, 5).map((r) => `${r.status} ${r.text}`).join('\n')}`);
  for (const gw of gws) assert.ok(gw.proc.running, 'the gateway survived');

  // Phase 2: after the failover, a fresh consumer on the promoted master is counted there.
  const freshCallsBefore = await scriptCalls(replica);
  const freshResults = [];
  for (const gw of gws) {
    for (let i = 0; i < 3; ++i) {
      const r = await chat(gw, fresh);
      assert.equal(r.status, 200, r.text);
      freshResults.push({ ...r, gw });
    }
  }
  assert.ok((await scriptCalls(replica)) > freshCallsBefore, 'the fresh consumer\'s requests reached the promoted master');

  // Access log: every request has a line; what was admitted without counting (store_failure).
  const byId = new Map();
  for (const gw of gws) {
    const ids = new Set([...results, ...freshResults].filter((r) => r.gw === gw).map(rid));
    await waitFor(() => parseAccessLog(gw.proc.out).filter((l) => ids.has(l.request_id)).length === ids.size,
      { timeout: 10000, what: `access-log lines of ${ids.size} requests on ${gw.port}` });
    for (const l of parseAccessLog(gw.proc.out)) byId.set(l.request_id, l);
  }
  const verdicts = {};
  for (const r of results) { const v = byId.get(rid(r)).ratelimit; verdicts[v] = (verdicts[v] ?? 0) + 1; }
  assert.deepEqual(Object.keys(verdicts).filter((v) => v !== 'allowed' && v !== 'store_failure'), [], JSON.stringify(verdicts));
  const freshVerdicts = freshResults.map((r) => byId.get(rid(r)).ratelimit);
  assert.ok(freshVerdicts.every((v) => v === 'allowed'), `the fresh consumer was decided by Redis: ${freshVerdicts}`);
  const during = results.filter((r) => r.end >= phases.tKill && r.start <= phases.tMap);
  const uncounted = results.filter((r) => byId.get(rid(r)).ratelimit === 'store_failure');

  // Every lease goes back to the new master: SIGTERM each instance (a clean exit).
  for (const gw of gws) {
    const exit = await gw.proc.stop(10000);
    assert.equal(exit.code, 0, `clean exit on SIGTERM: ${JSON.stringify(exit)}\n${gw.proc.err.slice(-2000)}`);
  }

  // The bound, on the promoted replica (the new master of the slot).
  const tokens = (rs) => rs.reduce((t, r) => t + r.json().usage.total_tokens, 0);
  results.forEach((r) => assert.equal(r.json().usage.total_tokens, P + T, 'reservation = usage'));
  const afterFrom = phases.tMap + TTL_MS;
  const afterRs = results.filter((r) => r.start >= afterFrom && byId.get(rid(r)).ratelimit === 'allowed');
  const got = { requests: await count(replica, reqKey), tokens: await count(replica, tokKey) };
  const admitted = { requests: results.length, tokens: tokens(results) };
  const admittedAfter = { requests: afterRs.length, tokens: tokens(afterRs) };
  const sliceCap = { requests: REQ_LIMIT * MAX_SHARE, tokens: TOK_LIMIT * MAX_SHARE };
  const upper = { requests: admitted.requests + HOLDERS * 2 * sliceCap.requests, tokens: admitted.tokens + HOLDERS * 2 * sliceCap.tokens };
  const freshKey = (key) => key.split(tag).join(tag.replace('load', fresh));
  const freshGot = { requests: await count(replica, freshKey(reqKey)), tokens: await count(replica, freshKey(tokKey)) };
  const ms = (t) => Math.round(t - phases.tKill);
  console.log(`[redis cluster failover] slot ${slot}: master ${victim.port} killed at request #${phases.beforeKill.requests} `
    + `(it had served ${victimCalls} script calls and counted requests=${phases.beforeKill.req} tokens=${phases.beforeKill.tok}); `
    + `replica promoted +${ms(phases.tPromoted)} ms (seen), cluster ok +${ms(phases.tHealthy)} ms, workers' slot maps changed at +${phases.mapChanged.map(ms).sort((a, b) => a - b).join(', ')} ms (logged), load ended +${ms(phases.tEnd)} ms`);
  console.log(`[redis cluster failover] ${results.length} requests by ${CLIENTS} clients over ${INSTANCES} instances x ${WORKERS} workers: `
    + `${failed.length} failed; ${during.length} admitted while the slot had no master (kill -> new slot map), `
    + `${uncounted.length} of them admitted without counting (store_failure); verdicts ${JSON.stringify(verdicts)}`);
  console.log(`[redis cluster failover] bucket in the promoted replica: requests ${got.requests} (admitted ${admitted.requests}, after failover ${admittedAfter.requests}, bound [${admittedAfter.requests}, ${upper.requests}]), `
    + `tokens ${got.tokens} (admitted ${admitted.tokens}, after failover ${admittedAfter.tokens}, bound [${admittedAfter.tokens}, ${upper.tokens}]); `
    + `lost: ${admitted.requests - got.requests} requests, ${admitted.tokens - got.tokens} tokens; `
    + `fresh consumer ${fresh} (slot ${freshSlot}): requests ${freshGot.requests}, tokens ${freshGot.tokens}; total ${Math.round((now() - t0) / 1000)} s`);
  for (const k of ['requests', 'tokens']) {
    assert.ok(got[k] <= upper[k], `${k}: count ${got[k]} <= admitted ${admitted[k]} + ${HOLDERS} holders x 2 x sliceCap ${sliceCap[k]} = ${upper[k]}`);
    assert.ok(got[k] >= admittedAfter[k], `${k}: count ${got[k]} >= admitted after the failover ${admittedAfter[k]}`);
  }
  assert.ok(admittedAfter.requests > 0, 'load was admitted through the new master');
  // The fresh consumer is counted exactly on the new master (its leases were returned on SIGTERM).
  assert.deepEqual(freshGot, { requests: freshResults.length, tokens: tokens(freshResults) }, `${fresh} counted exactly on ${replica.port}`);
});
