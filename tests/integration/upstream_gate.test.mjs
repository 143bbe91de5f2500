// Upstream protection (issue 15 part 3): `max_concurrent` / `max_tokens_in_flight` on an
// upstream, with a bounded, fair queue in front of it, through the real gateway and the
// simulator, which counts the requests it answers at once (/sim/stats max_in_flight).
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { harness, freePort, gatewayConfig, postJSON, request, openaiError, now } from './lib.mjs';

const h = harness();
const ADMIN_TOKEN = 'admin-secret';
const BODY = { model: 'gpt-4o-mini', max_tokens: 16, messages: [{ role: 'user', content: 'Say something.' }] };

async function setup(upstream, { consumers, server } = {}) {
  const sim = await h.sim();
  const port = await freePort();
  const adminPort = await freePort();
  const cfg = gatewayConfig({
    port,
    upstreams: [{ name: 'sim', url: sim.url, ...upstream }],
    routes: [{ name: 'chat', match: { path_prefix: '/' }, upstream: 'sim', dialect: 'openai' }],
    server,
  });
  cfg.admin = { listen: `127.0.0.1:${adminPort}`, token: ADMIN_TOKEN };
  if (consumers) cfg.rate_limits = { consumers, policies: [] };
  const gw = await h.gateway(cfg);
  const stats = async () => JSON.parse((await request({ port: sim.port, method: 'GET', path: '/sim/stats' })).text);
  const metrics = async () => (await request({ port: adminPort, method: 'GET', path: '/metrics', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).text;
  const send = (headers = {}, body = BODY) => postJSON(port, '/v1/chat/completions', body, headers, { timeout: 30000 });
  return { sim, gw, stats, metrics, send };
}

test('max_concurrent 4 with 64 concurrent clients: never more than 4 at the simulator, every request served', { timeout: 60000 }, async () => {
  const { stats, metrics, send } = await setup({ max_concurrent: 4, queue: { max_queued: 1000, max_wait: '30s' } });
  const knobs = { 'x-sim-tokens': '5', 'x-sim-delay-ms': '4' };  // ~20 ms per answer
  const rs = await Promise.all(Array.from({ length: 64 }, () => send(knobs)));
  assert.deepEqual([...new Set(rs.map((r) => r.status))], [200], rs.find((r) => r.status !== 200)?.text);
  const s = await stats();
  assert.ok(s.max_in_flight <= 4, `the simulator saw ${s.max_in_flight} at once`);
  assert.equal(s.max_in_flight, 4, 'and the gateway used the 4 it may');
  const m = await metrics();
  assert.match(m, /^tokengate_upstream_in_flight\{upstream="sim"\} 0$/m);
  assert.match(m, /^tokengate_upstream_queue_depth\{upstream="sim"\} 0$/m);
  const waits = Number(/^tokengate_upstream_queue_wait_seconds_count\{upstream="sim"\} (\d+)$/m.exec(m)?.[1]);
  assert.equal(waits, 64, 'every request went through the gate');
});

test('workers: 2 share one gate: still never more than max_concurrent at the simulator', { timeout: 60000 }, async () => {
  const { stats, send } = await setup({ max_concurrent: 3, queue: { max_wait: '30s' } }, { server: { workers: 2 } });
  const knobs = { 'x-sim-tokens': '4', 'x-sim-delay-ms': '5' };
  const rs = await Promise.all(Array.from({ length: 48 }, () => send(knobs)));
  assert.deepEqual([...new Set(rs.map((r) => r.status))], [200]);
  const s = await stats();
  assert.ok(s.max_in_flight <= 3, `the simulator saw ${s.max_in_flight} at once`);
  assert.equal(s.in_flight, 0);
});

test('max_queued: beyond it a request is refused at once with 503 upstream_busy', { timeout: 60000 }, async () => {
  const { send, metrics } = await setup({ max_concurrent: 1, queue: { max_queued: 2, max_wait: '30s' } });
  const slow = { 'x-sim-tokens': '4', 'x-sim-delay-ms': '100' };  // ~400 ms each
  const first = send(slow);
  await new Promise((r) => setTimeout(r, 100));
  const queued = [send(slow), send(slow)];
  await new Promise((r) => setTimeout(r, 100));
  const t0 = now();
  const refused = await send(slow);
  assert.ok(now() - t0 < 300, 'refused at once, not after waiting');
  assert.equal(refused.status, 503);
  assert.equal(openaiError(refused).error.code, 'upstream_busy');
  assert.match(openaiError(refused).error.message, /queue is full/);
  assert.equal(refused.headers['retry-after'], '1');
  for (const r of await Promise.all([first, ...queued])) assert.equal(r.status, 200, r.text);
  assert.match(await metrics(), /^tokengate_upstream_queue_refused_total\{upstream="sim",reason="full"\} 1$/m);
});

test('max_wait: a waiter not served in time gets 503 after max_wait, and leaves the queue', { timeout: 60000 }, async () => {
  const { send, stats } = await setup({ max_concurrent: 1, queue: { max_wait: '200ms' } });
  const holder = send({ 'x-sim-tokens': '10', 'x-sim-delay-ms': '100' });  // ~1 s
  await new Promise((r) => setTimeout(r, 100));
  const t0 = now();
  const r = await send({ 'x-sim-tokens': '1' });
  const waited = now() - t0;
  assert.equal(r.status, 503, r.text);
  assert.match(openaiError(r).error.message, /no room within \d+ ms/);
  assert.ok(waited >= 190 && waited < 900, `refused after ${waited} ms`);
  assert.equal((await holder).status, 200);
  const after = await send({ 'x-sim-tokens': '1' });  // the timed-out waiter holds nothing
  assert.equal(after.status, 200);
  assert.equal((await stats()).max_in_flight, 1);
});

test('max_tokens_in_flight: requests count prompt + max_tokens; a large one still runs alone', { timeout: 60000 }, async () => {
  const { send, stats } = await setup({ max_tokens_in_flight: 100, queue: { max_wait: '30s' } });
  const knobs = { 'x-sim-tokens': '4', 'x-sim-delay-ms': '25' };
  // max_tokens 40 + a prompt of ~10: two fit in 100 tokens, three do not.
  const small = { ...BODY, max_tokens: 40 };
  const rs = await Promise.all(Array.from({ length: 8 }, () => send(knobs, small)));
  assert.deepEqual([...new Set(rs.map((r) => r.status))], [200]);
  assert.equal((await stats()).max_in_flight, 2);
  const big = await send(knobs, { ...BODY, max_tokens: 1000 });
  assert.equal(big.status, 200, 'larger than the whole budget: served when nothing else runs');
});

test('fair queue: a consumer with many queued requests does not delay another one\'s single request behind all of them', { timeout: 60000 }, async () => {
  const consumers = [{ name: 'greedy', keys: ['sk-greedy'] }, { name: 'polite', keys: ['sk-polite'] }];
  const { send } = await setup({ max_concurrent: 1, queue: { max_wait: '30s' } }, { consumers });
  const knobs = { 'x-sim-tokens': '2', 'x-sim-delay-ms': '40' };  // ~80 ms each
  const order = [];
  const track = (who, p) => p.then((r) => { assert.equal(r.status, 200, r.text); order.push(who); });
  const greedy = Array.from({ length: 6 }, () => track('greedy', send({ ...knobs, authorization: 'Bearer sk-greedy' })));
  await new Promise((r) => setTimeout(r, 40));
  const polite = track('polite', send({ ...knobs, authorization: 'Bearer sk-polite' }));
  await Promise.all([...greedy, polite]);
  const at = order.indexOf('polite');
  assert.ok(at <= 2, `polite finished #${at + 1} of ${order.length}: ${order.join(' ')}`);
});
