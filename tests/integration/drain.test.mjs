// Graceful drain: on SIGTERM/SIGINT the gateway stops accepting, lets in-flight streams finish,
// closes idle keep-alive connections, and exits 0.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { harness, freePort, simpleConfig, streamRequest, request, canConnect, now, sleep, CHAT_BODY } from './lib.mjs';

const h = harness();
let sim;

before(async () => { sim = await h.sim(); }, { timeout: 60000 });

/** Tries one request on a new connection; resolves a description of what happened. */
async function tryNewRequest(port) {
  try {
    const r = await request({ port, path: '/sim/echo', timeout: 3000 });
    return { ok: true, status: r.status };
  } catch (e) {
    return { ok: false, code: e.code, message: e.message };
  }
}

test('SIGTERM during a stream: the stream completes, new connections are refused, exit 0', { timeout: 30000 }, async () => {
  const gw = await h.gateway(simpleConfig(await freePort(), sim.url, { server: { drain_timeout: '10s' } }));
  let tSignal = null;
  let resolveFirst;
  const firstEvent = new Promise((r) => { resolveFirst = r; });
  const streaming = streamRequest({
    port: gw.port,
    path: '/v1/chat/completions',
    headers: { 'x-sim-tokens': '10', 'x-sim-delay-ms': '200', 'x-sim-ttft-ms': '0' },
    body: { ...CHAT_BODY, stream: true },
    onEvent: () => resolveFirst(),
  });
  await Promise.race([firstEvent, sleep(5000)]);
  tSignal = now();
  gw.proc.signal('SIGTERM');
  await sleep(300);

  // New connections after SIGTERM are refused (the listening socket is closed).
  const attempt = await tryNewRequest(gw.port);
  assert.equal(attempt.ok, false, `a new request after SIGTERM was served: ${JSON.stringify(attempt)}`);
  assert.equal(attempt.code, 'ECONNREFUSED', `a new connection after SIGTERM: ${JSON.stringify(attempt)}`);

  const s = await streaming;
  assert.equal(s.error, null, `the in-flight stream was cut: ${s.error}\n${s.raw}`);
  assert.equal(s.status, 200);
  assert.equal(s.events.at(-1)?.data, '[DONE]', 'the stream ends with [DONE]');
  const content = s.events.filter((e) => e.data !== '[DONE]' && JSON.parse(e.data).choices?.[0]?.delta?.content);
  assert.equal(content.length, 10, 'all 10 tokens arrived');
  assert.ok(s.tEnd >= 1500, `the stream took ${s.tEnd.toFixed(0)} ms`);

  const exit = await gw.proc.waitExit(8000);
  assert.ok(exit, 'the gateway did not exit within 8 s of the stream ending');
  assert.equal(exit.code, 0, `exit ${JSON.stringify(exit)}\n${gw.proc.err}`);
  assert.ok(now() - tSignal < 10000);
});

test('SIGTERM with only idle keep-alive connections: exit 0 at once, not after drain_timeout', { timeout: 30000 }, async () => {
  const gw = await h.gateway(simpleConfig(await freePort(), sim.url, { server: { drain_timeout: '20s' } }));
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const r = await request({ port: gw.port, path: '/sim/echo', agent });
    assert.equal(r.status, 200);
    // The connection now sits idle in the agent's pool.
    const t0 = now();
    gw.proc.signal('SIGTERM');
    const exit = await gw.proc.waitExit(5000);
    assert.ok(exit, `still running ${((now() - t0) / 1000).toFixed(1)} s after SIGTERM with an idle keep-alive connection open`);
    assert.equal(exit.code, 0, JSON.stringify(exit));
  } finally {
    agent.destroy();
  }
});

test('SIGINT: graceful exit 0', { timeout: 20000 }, async () => {
  const gw = await h.gateway(simpleConfig(await freePort(), sim.url));
  assert.equal((await request({ port: gw.port, path: '/sim/echo' })).status, 200);
  gw.proc.signal('SIGINT');
  const exit = await gw.proc.waitExit(5000);
  assert.ok(exit, 'no exit within 5 s of SIGINT');
  assert.equal(exit.code, 0, JSON.stringify(exit));
  assert.equal(await canConnect(gw.port), false);
});

test('drain_timeout bounds the drain: a stream longer than it is cut, exit 0', { timeout: 30000 }, async () => {
  const gw = await h.gateway(simpleConfig(await freePort(), sim.url, { server: { drain_timeout: '1s' } }));
  let resolveFirst;
  const firstEvent = new Promise((r) => { resolveFirst = r; });
  const streaming = streamRequest({
    port: gw.port,
    path: '/v1/chat/completions',
    headers: { 'x-sim-tokens': '20', 'x-sim-delay-ms': '300', 'x-sim-ttft-ms': '0' }, // ~6 s
    body: { ...CHAT_BODY, stream: true },
    onEvent: () => resolveFirst(),
  });
  await Promise.race([firstEvent, sleep(5000)]);
  const t0 = now();
  gw.proc.signal('SIGTERM');
  const exit = await gw.proc.waitExit(6000);
  assert.ok(exit, 'the gateway ignored drain_timeout 1s');
  assert.equal(exit.code, 0, JSON.stringify(exit));
  assert.ok(now() - t0 < 4000, `exited ${(now() - t0).toFixed(0)} ms after SIGTERM`);
  const s = await streaming;
  assert.ok(!s.events.some((e) => e.data === '[DONE]'), 'the long stream could not have finished');
});
