// The Redis store on a REAL 3-master Redis Cluster (issue 5), created by this file with
// redis-server --cluster-enabled yes and redis-cli --cluster create on free loopback ports:
//   * requests whose buckets span several slots (per_consumer + global + per_model rules) are
//     decided without a CROSSSLOT error and limits hold across two gateway instances; the
//     buckets of rejected requests are rolled back on the other slots (counts stay exact);
//   * a live slot migration (IMPORTING/MIGRATING, MIGRATE of the keys, SETSLOT NODE) of the slot
//     holding a consumer's buckets, DURING traffic through two instances: no failed request
//     (the policy fails closed, so a Redis error would be a 503), the ASK and MOVED redirects
//     really happened (Redis's errorstats), and the bucket's counts are exact afterwards.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import {
  harness, freePort, gatewayConfig, postJSON, waitFor, openaiError, awaitWindowRoom, accessLogLines,
  sleep, redisCluster, redisMissing, bucketFieldArgs,
} from './lib.mjs';

const skip = redisMissing() ?? false;
const h = harness();
let sim;
let cluster;

const MINUTE = 60_000;
const MAX = 50;      // max_tokens of every request: reserved P + MAX, really used P + OUT
const OUT = 5;

const chatBody = (model) => ({ model, messages: [{ role: 'user', content: 'Say something.' }], max_tokens: MAX });
const as = (consumer) => ({ authorization: `Bearer sk-${consumer}`, 'x-sim-tokens': String(OUT) });
const chat = (gw, consumer, model = 'gpt-4o-mini') => postJSON(gw.port, '/v1/chat/completions', chatBody(model), as(consumer), { timeout: 20000 });
const rid = (r) => r.headers['x-request-id'];

async function startGateway({ rateLimits, workers = 2 }) {
  const port = await freePort();
  const cfg = gatewayConfig({
    port,
    server: { workers },
    upstreams: [{ name: 'sim', url: sim.url }],
    routes: [{ name: 'openai', match: { path_prefix: '/' }, upstream: 'sim', dialect: 'openai' }],
  });
  cfg.store = {
    type: 'redis',
    // One seed: the other masters are discovered from CLUSTER SLOTS.
    redis: { address: `127.0.0.1:${cluster.ports[0]}`, cluster: true, timeout: '1s', connect_timeout: '1s', key_prefix: 'cl:', lease: 'exact' },
  };
  cfg.rate_limits = rateLimits;
  const gw = await h.gateway(cfg);
  // Ready when every worker loaded the slot map and connected to every master.
  await waitFor(() => (gw.proc.err.match(/"msg":"redis: cluster slot map loaded"/g) ?? []).length >= workers
      && (gw.proc.err.match(/"msg":"redis: connected"/g) ?? []).length >= workers * cluster.nodes.length,
  { timeout: 15000, what: `the gateway on ${port} to connect to the cluster\n${gw.proc.err}` });
  return gw;
}

/** The policy of these tests: per_consumer (requests and tokens), global and per_model buckets. */
function rateLimits(consumers, { perConsumerRequests }) {
  return {
    consumers: consumers.map((n) => ({ name: n, keys: [`sk-${n}`] })),
    policies: [{
      name: 'multi', reservation: 'prompt_plus_max', store_failure: 'closed',
      rules: [
        { name: 'consumers', by: 'per_consumer', limits: [{ requests: perConsumerRequests, per: 'minute' }, { tokens: 10_000_000, per: 'minute' }] },
        { name: 'all', by: 'global', limits: [{ requests: 10_000_000, per: 'minute' }] },
        { name: 'models', by: 'per_model', limits: [{ tokens: 10_000_000, per: 'minute' }] },
      ],
    }],
  };
}

/** Every bucket key of the cluster (prefix cl:) with its slot and the node holding it. */
async function bucketKeys() {
  const out = [];
  for (const node of cluster.nodes) {
    const text = await node.cli('--scan', '--pattern', 'cl:*');
    for (const key of text ? text.split('\n') : []) out.push({ key, node, slot: await cluster.keyslot(key) });
  }
  return out;
}
const count = async ({ key, node }) => Number(await node.cli(...bucketFieldArgs(key, 'c')));
/** The one key of `keys` whose name contains every part. */
function keyWith(keys, ...parts) {
  const found = keys.filter((k) => parts.every((p) => k.key.includes(p)));
  assert.equal(found.length, 1, `one key with ${parts.join(', ')}: ${JSON.stringify(found.map((k) => k.key))}`);
  return found[0];
}
/** Redis's error counters of a node (INFO errorstats): { MOVED: n, ASK: n, ... }. */
async function errorStats(node) {
  const stats = {};
  for (const m of (await node.cli('INFO', 'errorstats')).matchAll(/errorstat_([A-Z]+):count=(\d+)/g)) stats[m[1]] = Number(m[2]);
  return stats;
}

before(async () => {
  if (skip) return;
  sim = await h.sim();
  cluster = await redisCluster(h, { masters: 3 });
}, { timeout: 90000 });

test('cluster: multi-slot requests (per_consumer + global + per_model) without CROSSSLOT, limits exact across two instances', { skip, timeout: 90000 }, async () => {
  const consumers = ['ann', 'ben', 'cid', 'dee'];
  const LIMIT = 6;
  const gws = [
    await startGateway({ rateLimits: rateLimits(consumers, { perConsumerRequests: LIMIT }) }),
    await startGateway({ rateLimits: rateLimits(consumers, { perConsumerRequests: LIMIT }) }),
  ];
  const models = ['gpt-4o-mini', 'gpt-4o'];
  await awaitWindowRoom(MINUTE, 20000);
  const sent = [];
  for (const c of consumers) {
    // LIMIT + 3 requests, alternating instances and models, sequentially: the first LIMIT pass.
    for (let i = 0; i < LIMIT + 3; ++i) {
      const gw = gws[i % 2];
      const model = models[Math.floor(i / 2) % 2];
      const r = await chat(gw, c, model);
      sent.push({ r, gw, c, model });
      if (i < LIMIT) {
        assert.equal(r.status, 200, `${c} #${i}: ${r.text}`);
      } else {
        assert.equal(r.status, 429, `${c} #${i}: ${r.text}`);
        assert.match(openaiError(r, { code: 'rate_limit_exceeded' }).error.message, /multi\/consumers/);
      }
    }
  }
  for (const gw of gws) {
    const mine = sent.filter((s) => s.gw === gw);
    const lines = await accessLogLines(gw, mine.map((s) => rid(s.r)));
    for (const [i, l] of lines.entries()) {
      assert.equal(l.ratelimit, mine[i].r.status === 200 ? 'allowed' : 'rejected', JSON.stringify(l));
      mine[i].line = l;
    }
    assert.doesNotMatch(gw.proc.err, /CROSSSLOT/);
    assert.ok(gw.proc.running);
  }
  for (const node of cluster.nodes) assert.ok(!(await errorStats(node)).CROSSSLOT, `no CROSSSLOT on ${node.port}`);

  // The buckets are spread over the cluster, and each request's buckets span several slots.
  const keys = await bucketKeys();
  const admitted = sent.filter((s) => s.r.status === 200);
  const globalKey = keyWith(keys, ':all:', 'requests');
  const slotsPerRequest = [];
  for (const { c, model } of admitted) {
    const slots = new Set([
      keyWith(keys, `v${c}|`, ':consumers:', 'requests').slot,
      globalKey.slot,
      keyWith(keys, ':models:', `${model}|`).slot,
    ]);
    slotsPerRequest.push(slots.size);
  }
  assert.ok(slotsPerRequest.every((n) => n >= 2), `every request's buckets span several slots: ${slotsPerRequest}`);
  const nodesUsed = new Set(keys.map((k) => k.node.port));
  assert.ok(nodesUsed.size >= 2, `the buckets live on several masters (${nodesUsed.size})`);

  // Exact counts: rejected requests left nothing behind on any slot (rolled back).
  assert.equal(await count(globalKey), admitted.length, 'global requests = admitted requests');
  for (const c of consumers) {
    assert.equal(await count(keyWith(keys, `v${c}|`, ':consumers:', 'requests')), LIMIT, `${c}: ${LIMIT} requests counted`);
    const tokens = admitted.filter((s) => s.c === c).reduce((t, s) => t + s.r.json().usage.total_tokens, 0);
    const tk = keyWith(keys, `v${c}|`, ':consumers:', 'total_tokens');
    await waitFor(async () => (await count(tk)) === tokens, { timeout: 5000, what: `${tk.key} to hold ${tokens} (settled)` });
  }
  for (const model of models) {
    const tokens = admitted.filter((s) => s.model === model).reduce((t, s) => t + s.r.json().usage.total_tokens, 0);
    const mk = keyWith(keys, ':models:', `${model}|`);
    await waitFor(async () => (await count(mk)) === tokens, { timeout: 5000, what: `${mk.key} to hold ${tokens}` });
  }
  console.log(`[redis cluster] ${admitted.length} admitted / ${sent.length - admitted.length} rejected over 2 instances; `
    + `${keys.length} bucket keys on ${nodesUsed.size} masters in ${new Set(keys.map((k) => k.slot)).size} slots; `
    + `slots per request ${Math.min(...slotsPerRequest)}-${Math.max(...slotsPerRequest)}`);
});

test('cluster: a live slot migration of a consumer\'s buckets during traffic: no failed request, exact counts afterwards', { skip, timeout: 120000 }, async () => {
  const LIMIT = 1_000_000;
  const gws = [
    await startGateway({ rateLimits: rateLimits(['mig', 'other'], { perConsumerRequests: LIMIT }) }),
    await startGateway({ rateLimits: rateLimits(['mig', 'other'], { perConsumerRequests: LIMIT }) }),
  ];
  await awaitWindowRoom(MINUTE, 30000);
  const first = await chat(gws[0], 'mig');
  assert.equal(first.status, 200, first.text);
  const migKeys = (await bucketKeys()).filter((k) => k.key.includes('vmig|'));
  assert.equal(migKeys.length, 2, `requests and tokens buckets of mig: ${JSON.stringify(migKeys.map((k) => k.key))}`);
  const slot = migKeys[0].slot;
  assert.equal(migKeys[1].slot, slot, 'one consumer\'s buckets share a slot (hash tag)');
  const from = await cluster.owner(slot);
  assert.equal(from, migKeys[0].node);
  const to = cluster.nodes.find((n) => n !== from);
  const before = { from: await errorStats(from), to: await errorStats(to) };

  // Traffic through both instances until the migration is over.
  first.gw = gws[0];
  const results = [first];
  let stop = false;
  const lanes = Array.from({ length: 6 }, async (_, lane) => {
    for (let i = 0; !stop; ++i) {
      const gw = gws[(lane + i) % 2];
      try {
        results.push({ ...await chat(gw, lane % 3 === 0 ? 'other' : 'mig'), gw });
      } catch (e) {
        results.push({ status: 0, text: e.message, headers: {}, gw });
      }
    }
  });
  const steps = [];
  let migration;
  try {
    await sleep(300);
    migration = await cluster.migrateSlot(slot, to, {
      onStep: async (name) => { steps.push(`${name}@${results.length}`); await sleep(400); },
    });
  } finally {
    stop = true;
    await Promise.all(lanes);
  }
  assert.equal(migration.keysMoved >= 2, true, `the bucket keys moved (${migration.keysMoved})`);

  const failed = results.filter((r) => r.status !== 200);
  assert.equal(failed.length, 0, `no failed request during the migration: ${failed.slice(0, 5).map((r) => `${r.status} ${r.text}`).join('\n')}`);
  const lines = [];
  for (const gw of gws) {
    lines.push(...await accessLogLines(gw, results.filter((r) => r.gw === gw).map(rid), { timeout: 10000 }));
    assert.ok(gw.proc.running);
  }
  assert.equal(lines.length, results.length, 'every request has an access-log line');
  assert.ok(lines.every((l) => l.ratelimit === 'allowed'), `Redis decided every request: ${JSON.stringify([...new Set(lines.map((l) => l.ratelimit))])}`);

  // The redirects really happened: ASK from the source while the keys were moving, MOVED after.
  const after = { from: await errorStats(from), to: await errorStats(to) };
  const delta = (side, e) => (after[side][e] ?? 0) - (before[side][e] ?? 0);
  assert.ok(delta('from', 'ASK') > 0, `the source answered ASK (${JSON.stringify(after.from)})`);
  assert.ok(delta('from', 'MOVED') > 0, `the source answered MOVED (${JSON.stringify(after.from)})`);

  // Afterwards: the slot and its keys are on the destination, and the counts are exact.
  for (const n of cluster.nodes) assert.equal(await cluster.owner(slot, n), to, `node ${n.port} sees the slot on ${to.port}`);
  const keys = (await bucketKeys()).filter((k) => k.key.includes('vmig|'));
  assert.ok(keys.length === 2 && keys.every((k) => k.node === to), `mig's buckets are on ${to.port}: ${JSON.stringify(keys.map((k) => [k.key, k.node.port]))}`);
  const mig = results.filter((r) => r.headers['x-ratelimit-remaining-requests'] !== undefined && lines.find((l) => l.request_id === rid(r))?.consumer === 'mig');
  const migTokens = mig.reduce((t, r) => t + r.json().usage.total_tokens, 0);
  const reqKey = keyWith(keys, 'requests');
  const tokKey = keyWith(keys, 'total_tokens');
  assert.equal(await count(reqKey), mig.length, 'requests counted = mig requests admitted');
  // Every settlement landed (a lost one would leave the reservation of P + MAX, not P + OUT).
  await waitFor(async () => (await count(tokKey)) === migTokens, { timeout: 5000, what: `${tokKey.key} to hold ${migTokens}` })
    .catch(async (e) => assert.fail(`${e.message}; it holds ${await count(tokKey)}`));

  // Counting goes on at the new owner.
  for (const gw of gws) {
    const r = await chat(gw, 'mig');
    assert.equal(r.status, 200, r.text);
  }
  assert.equal(await count(reqKey), mig.length + gws.length);
  console.log(`[redis cluster migration] slot ${slot} ${migration.from.port} -> ${to.port} (${migration.keysMoved} keys) during ${results.length} requests `
    + `(steps at request #: ${steps.join(', ')}); all 200 and allowed; source answered ASK ${delta('from', 'ASK')}x, MOVED ${delta('from', 'MOVED')}x; `
    + `mig bucket: ${mig.length} requests, ${migTokens} tokens, exact`);
});
