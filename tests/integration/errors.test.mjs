// Every error the gateway answers by itself: 400, 404, 413, 431, 502, 504, in the OpenAI
// format by default and in the Anthropic format on a route with dialect: anthropic.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import {
  harness, freePort, gatewayConfig, simpleConfig, request, postJSON, streamRequest, rawExchange, rawConnect,
  openaiError, anthropicError, sleep, now, CHAT_BODY,
} from './lib.mjs';

const h = harness();
let sim;
let gateway; // async () => the running gateway (restarted if a test crashed it)
let deadPort;
const fakes = {};

/** A fake upstream that reads the request head, then misbehaves with `reply` (or closes). */
async function fake(reply) {
  return h.fakeUpstream((sock) => {
    let buf = '';
    sock.on('data', (d) => {
      buf += d.toString('latin1');
      if (buf.includes('\r\n\r\n')) {
        buf = '';
        if (reply) sock.write(reply);
        sock.end();
      }
    });
  });
}

const simStats = async () => (await request({ port: sim.port, path: '/sim/stats' })).json();

before(async () => {
  sim = await h.sim();
  deadPort = await freePort(); // nothing listens there
  fakes.empty = await fake(null);
  fakes.garbage = await fake('THIS IS NOT HTTP\r\n\r\n');
  fakes.headcut = await fake('HTTP/1.1 200 OK\r\nContent-Type: application/js');
  fakes.bodycut = await fake('HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"partial":');
  gateway = h.restartingGateway((port) => gatewayConfig({
    port,
    limits: { max_body_bytes: '1KiB', max_header_bytes: '4KiB', max_headers: 20 },
    upstreams: [
      { name: 'sim', url: sim.url },
      { name: 'slow', url: sim.url, first_byte_timeout: '300ms' },
      { name: 'stall', url: sim.url, idle_timeout: '500ms' },
      { name: 'dead', url: `http://127.0.0.1:${deadPort}`, connect_timeout: '2s' },
      { name: 'empty', url: `http://127.0.0.1:${fakes.empty.port}` },
      { name: 'garbage', url: `http://127.0.0.1:${fakes.garbage.port}` },
      { name: 'headcut', url: `http://127.0.0.1:${fakes.headcut.port}` },
      { name: 'bodycut', url: `http://127.0.0.1:${fakes.bodycut.port}` },
    ],
    routes: [
      { name: 'openai', match: { path_prefix: '/v1/' }, upstream: 'sim' },
      { name: 'anthropic', match: { path_prefix: '/anthropic/' }, upstream: 'sim', rewrite_prefix: '/', dialect: 'anthropic' },
      { name: 'slow', match: { path_prefix: '/slow/' }, upstream: 'slow', rewrite_prefix: '/' },
      { name: 'slow-anthropic', match: { path_prefix: '/slow-anthropic/' }, upstream: 'slow', rewrite_prefix: '/', dialect: 'anthropic' },
      { name: 'stall', match: { path_prefix: '/stall/' }, upstream: 'stall', rewrite_prefix: '/' },
      { name: 'dead', match: { path_prefix: '/dead/' }, upstream: 'dead', rewrite_prefix: '/' },
      { name: 'dead-anthropic', match: { path_prefix: '/dead-anthropic/' }, upstream: 'dead', rewrite_prefix: '/', dialect: 'anthropic' },
      { name: 'empty', match: { path_prefix: '/empty/' }, upstream: 'empty' },
      { name: 'garbage', match: { path_prefix: '/garbage/' }, upstream: 'garbage' },
      { name: 'headcut', match: { path_prefix: '/headcut/' }, upstream: 'headcut' },
      { name: 'bodycut', match: { path_prefix: '/bodycut/' }, upstream: 'bodycut' },
    ],
  }));
  await gateway();
}, { timeout: 60000 });

// A raw response's JSON body checked like a node:http one.
const asRes = (r) => ({ status: r.status, headers: r.headers, text: r.text });

test('400: a garbage request line, answered in JSON', { timeout: 15000 }, async () => {
  const gw = await gateway();
  const r = await rawExchange(gw.port, 'THIS IS NOT HTTP\r\n\r\n', { timeout: 5000 });
  assert.equal(r.responses.length, 1, `no parsable response (closed=${r.closed}, error=${r.error}): ${JSON.stringify(r.raw.toString('latin1'))}`);
  assert.equal(r.responses[0].status, 400);
  openaiError(asRes(r.responses[0]));
  assert.ok(r.responses[0].headers['x-request-id'], 'x-request-id on a 400');
});

test('400: an invalid Content-Length and conflicting Content-Lengths', { timeout: 15000 }, async () => {
  const gw = await gateway();
  for (const cl of ['Content-Length: abc\r\n', 'Content-Length: 5\r\nContent-Length: 6\r\n']) {
    const r = await rawExchange(gw.port, `POST /v1/sim/echo HTTP/1.1\r\nHost: x\r\n${cl}\r\nhello`, { timeout: 5000 });
    assert.equal(r.responses[0]?.status, 400, `${JSON.stringify(cl)} -> ${r.raw.toString('latin1').slice(0, 200)}`);
    openaiError(asRes(r.responses[0]));
  }
});

test('404: no route matches, OpenAI format with code route_not_found', { timeout: 15000 }, async () => {
  const gw = await gateway();
  const r = await request({ port: gw.port, path: '/nope/v1/chat/completions' });
  assert.equal(r.status, 404);
  openaiError(r, { code: 'route_not_found' });
  assert.ok(r.headers['x-request-id']);
  // A route-less POST with a body gets the same answer.
  const p = await postJSON(gw.port, '/other', CHAT_BODY);
  assert.equal(p.status, 404);
  openaiError(p, { code: 'route_not_found' });
});

test('413: a Content-Length over max_body_bytes is refused without waiting for the body', { timeout: 15000 }, async () => {
  const gw = await gateway();
  const before = await simStats();
  const head = 'POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 2048\r\n\r\n';
  const r = await rawExchange(gw.port, head, { timeout: 5000 }); // the body is never sent
  assert.equal(r.responses.length, 1, `no response within 5 s without the body (closed=${r.closed}): ${r.raw.toString('latin1').slice(0, 200)}`);
  assert.equal(r.responses[0].status, 413);
  assert.ok(r.ms < 3000, `413 took ${r.ms.toFixed(0)} ms`);
  openaiError(asRes(r.responses[0]));
  const after = await simStats();
  assert.equal(after.requests - before.requests, 1, 'only our own /sim/stats call reached the upstream');
});

test('413: a body exactly at max_body_bytes passes', { timeout: 15000 }, async () => {
  const gw = await gateway();
  const body = Buffer.alloc(1024, 'x');
  const r = await request({ port: gw.port, method: 'POST', path: '/v1/sim/echo', body, headers: { 'content-type': 'text/plain' } });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json().body_bytes, 1024);
  const over = await request({ port: gw.port, method: 'POST', path: '/v1/sim/echo', body: Buffer.alloc(1025, 'x') }).catch((e) => e);
  assert.ok(!(over instanceof Error), `1025-byte body: ${over}`);
  assert.equal(over.status, 413);
});

test('413: a chunked body that grows over max_body_bytes', { timeout: 15000 }, async () => {
  const gw = await gateway();
  const conn = await rawConnect(gw.port);
  try {
    await conn.write('POST /v1/sim/echo HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n');
    const piece = `100\r\n${'y'.repeat(256)}\r\n`;
    let sent = 0;
    for (let i = 0; i < 40 && conn.raw.length === 0 && !conn.closed; i++) {
      await conn.write(piece);
      sent += 256;
      await sleep(10);
    }
    if (conn.raw.length === 0 && !conn.closed) await conn.write('0\r\n\r\n');
    const res = await conn.nextResponse(5000);
    assert.ok(res, `no response after ${sent} chunked bytes (closed=${conn.closed})`);
    assert.equal(res.status, 413, res.text);
    openaiError(asRes(res));
  } finally {
    conn.destroy();
  }
});

test('413 on a dialect: anthropic route uses the Anthropic error format', { timeout: 15000 }, async () => {
  const gw = await gateway();
  const r = await rawExchange(gw.port, 'POST /anthropic/v1/messages HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n', { timeout: 5000 });
  assert.equal(r.responses[0]?.status, 413, r.raw.toString('latin1').slice(0, 300));
  anthropicError(asRes(r.responses[0]));
});

test('431: request head over max_header_bytes', { timeout: 15000 }, async () => {
  const gw = await gateway();
  const head = `GET /v1/sim/echo HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(8000)}\r\n\r\n`;
  const r = await rawExchange(gw.port, head, { timeout: 5000 });
  assert.equal(r.responses[0]?.status, 431, `(closed=${r.closed}, error=${r.error}) ${r.raw.toString('latin1').slice(0, 300)}`);
  openaiError(asRes(r.responses[0]));
});

test('431: more header fields than max_headers; fewer pass', { timeout: 15000 }, async () => {
  const gw = await gateway();
  const fields = (n) => Array.from({ length: n }, (_, i) => `X-H${i}: v${i}\r\n`).join('');
  const many = await rawExchange(gw.port, `GET /v1/sim/echo HTTP/1.1\r\nHost: x\r\n${fields(40)}\r\n`, { timeout: 5000 });
  assert.equal(many.responses[0]?.status, 431, many.raw.toString('latin1').slice(0, 300));
  openaiError(asRes(many.responses[0]));
  const few = await rawExchange(gw.port, `GET /v1/sim/echo HTTP/1.1\r\nHost: x\r\n${fields(10)}\r\n`, { timeout: 5000 });
  assert.equal(few.responses[0]?.status, 200);
});

test('502: upstream port with nothing listening, code upstream_unreachable', { timeout: 15000 }, async () => {
  const gw = await gateway();
  const t0 = now();
  const r = await postJSON(gw.port, '/dead/v1/chat/completions', CHAT_BODY);
  assert.equal(r.status, 502, r.text);
  openaiError(r, { code: 'upstream_unreachable' });
  assert.ok(r.headers['x-request-id']);
  assert.ok(now() - t0 < 3000, 'connection refused is reported at once');
});

test('502 in the Anthropic format on a dialect: anthropic route', { timeout: 15000 }, async () => {
  const gw = await gateway();
  const r = await postJSON(gw.port, '/dead-anthropic/v1/messages', { model: 'claude', max_tokens: 10, messages: [] });
  assert.equal(r.status, 502, r.text);
  const b = anthropicError(r);
  assert.equal(b.error.type.length > 0, true);
});

test('502: upstream closes without answering', { timeout: 15000 }, async () => {
  const gw = await gateway();
  const r = await request({ port: gw.port, path: '/empty/x' });
  assert.equal(r.status, 502, r.text);
  openaiError(r, { code: ['bad_upstream_response', 'upstream_unreachable'] });
});

test('502: upstream answers garbage / cuts its response head, code bad_upstream_response', { timeout: 15000 }, async () => {
  const gw = await gateway();
  for (const p of ['/garbage/x', '/headcut/x']) {
    const r = await request({ port: gw.port, path: p });
    assert.equal(r.status, 502, `${p}: ${r.status} ${r.text}`);
    openaiError(r, { code: 'bad_upstream_response' });
  }
});

/** The client must never see a cut body as a complete successful response. */
async function assertNotCompleteSuccess(gw, p, opts) {
  let r;
  try {
    r = await request({ port: gw.port, path: p, ...opts });
  } catch (e) {
    // The gateway cut the client's response too: fine, unless it was not there at all.
    assert.notEqual(e.code, 'ECONNREFUSED', `the gateway is not running: ${e.message}`);
    return `transport error: ${e.message}`;
  }
  assert.equal(r.status, 502, `a truncated upstream response was delivered as complete: ${r.status} ${JSON.stringify(r.text)}`);
  openaiError(r, { code: 'bad_upstream_response' });
  return '502';
}

test('upstream cuts a non-streaming body (fake upstream): 502 or a visibly cut response', { timeout: 15000 }, async () => {
  const gw = await gateway();
  await assertNotCompleteSuccess(gw, '/bodycut/x', {});
});

test('upstream cuts a non-streaming response (x-sim-cut-after): 502 or a visibly cut response, never a clean 200', { timeout: 15000 }, async () => {
  const gw = await gateway();
  const how = await assertNotCompleteSuccess(gw, '/v1/chat/completions', {
    method: 'POST', body: CHAT_BODY, headers: { 'x-sim-cut-after': '10', 'x-sim-tokens': '50' },
  });
  assert.ok(how);
  // The gateway keeps working afterwards.
  const ok = await postJSON(gw.port, '/v1/chat/completions', CHAT_BODY, { 'x-sim-tokens': '2' });
  assert.equal(ok.status, 200);
});

test('upstream cuts a stream: the client sees it end early, without [DONE]', { timeout: 15000 }, async () => {
  const gw = await gateway();
  const s = await streamRequest({
    port: gw.port, path: '/v1/chat/completions',
    headers: { 'x-sim-cut-after': '3', 'x-sim-tokens': '20' },
    body: { ...CHAT_BODY, stream: true },
  });
  assert.equal(s.status, 200);
  assert.ok(!s.events.some((e) => e.data === '[DONE]'), 'no [DONE] after a cut');
  assert.ok(s.error, 'the client response must end abnormally (no terminating chunk), not look complete');
});

test('504: first_byte_timeout 300ms against ttft 2000ms, code upstream_timeout', { timeout: 15000 }, async () => {
  const gw = await gateway();
  const t0 = now();
  const r = await postJSON(gw.port, '/slow/v1/chat/completions', CHAT_BODY, { 'x-sim-ttft-ms': '2000', 'x-sim-tokens': '2' });
  const ms = now() - t0;
  assert.equal(r.status, 504, r.text);
  openaiError(r, { code: 'upstream_timeout' });
  assert.ok(ms >= 250 && ms < 1800, `504 after ${ms.toFixed(0)} ms, want ~300`);
  // The timed-out upstream connection must not be reused: the late answer (2 tokens) must not
  // be delivered to the next request on that route.
  await sleep(2000);
  const next = await postJSON(gw.port, '/slow/v1/chat/completions', CHAT_BODY, { 'x-sim-tokens': '3' });
  assert.equal(next.status, 200, next.text);
  assert.equal(next.json().usage.completion_tokens, 3);
});

test('504 on a dialect: anthropic route uses the Anthropic error format', { timeout: 15000 }, async () => {
  const gw = await gateway();
  const r = await postJSON(gw.port, '/slow-anthropic/v1/messages', { model: 'claude', max_tokens: 10, messages: [{ role: 'user', content: 'x' }] },
    { 'x-sim-ttft-ms': '2000', 'anthropic-version': '2023-06-01' });
  assert.equal(r.status, 504, r.text);
  anthropicError(r);
});

test('a dialect: anthropic route with rewrite_prefix proxies normally', { timeout: 15000 }, async () => {
  const gw = await gateway();
  const r = await postJSON(gw.port, '/anthropic/v1/messages', { model: 'claude', max_tokens: 10, messages: [{ role: 'user', content: 'x' }] },
    { 'x-sim-tokens': '2', 'anthropic-version': '2023-06-01' });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json().usage.output_tokens, 2);
});

test('upstream idle_timeout cuts a stalled stream', { timeout: 15000 }, async () => {
  const gw = await gateway();
  const s = await streamRequest({
    port: gw.port, path: '/stall/v1/chat/completions',
    headers: { 'x-sim-tokens': '3', 'x-sim-delay-ms': '2500', 'x-sim-ttft-ms': '0' },
    body: { ...CHAT_BODY, stream: true },
  });
  assert.equal(s.status, 200);
  assert.ok(!s.events.some((e) => e.data === '[DONE]'), 'the stalled stream was not cut');
  assert.ok(s.tEnd < 2400, `stream ended after ${s.tEnd.toFixed(0)} ms; idle_timeout is 500ms`);
});

test('413: a 100 MiB body is refused at once, without the gateway reading it', { timeout: 30000 }, async () => {
  const port = await freePort();
  await h.gateway(simpleConfig(port, sim.url)); // default limits: max_body_bytes 8MiB
  const total = 100 * 1024 * 1024;
  const conn = await rawConnect(port);
  let sent = 0;
  let sentAtResponse = null;
  let tResponse = null;
  let t0;
  conn.sock.on('data', () => {
    if (sentAtResponse === null) { sentAtResponse = sent; tResponse = now() - t0; }
  });
  try {
    t0 = now();
    await conn.write(`POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${total}\r\n\r\n`);
    // The body is paced at about 64 KiB per millisecond (so all of it takes well over 1.5 s):
    // a gateway that reads (or forwards) the whole body before answering cannot answer in time.
    // Once the gateway answers it may still read and discard for a while (lingering close);
    // that is fine, and the client stops sending then.
    const chunk = Buffer.alloc(64 * 1024, 0x61);
    while (sent < total && sentAtResponse === null && !conn.closed && now() - t0 < 10000) {
      const more = conn.sock.write(chunk);
      sent += chunk.length;
      await new Promise((res) => {
        const t = setTimeout(res, more ? 1 : 100);
        if (!more) conn.sock.once('drain', () => { clearTimeout(t); res(); });
      });
    }
    const res = await conn.nextResponse(5000);
    assert.ok(res, `no response (closed=${conn.closed}, error=${conn.error}, sent=${sent})`);
    assert.equal(res.status, 413);
    openaiError(asRes(res));
    assert.ok(sentAtResponse < total, 'the 413 came only after the whole body was sent');
    assert.ok(tResponse < 1000, `413 after ${tResponse.toFixed(0)} ms and ${(sentAtResponse / 1048576).toFixed(1)} MiB`);
  } finally {
    conn.destroy();
  }
});

test('the connection stays usable after a 404 (keep-alive, framed error body)', { timeout: 15000 }, async () => {
  const gw = await gateway();
  const r = await rawExchange(gw.port, 'GET /nope HTTP/1.1\r\nHost: x\r\n\r\nGET /v1/sim/echo HTTP/1.1\r\nHost: x\r\n\r\n', { responses: 2, timeout: 5000 });
  assert.equal(r.responses.length, 2, `keep-alive after a 404: ${r.raw.toString('latin1').slice(0, 400)}`);
  assert.equal(r.responses[0].status, 404);
  assert.equal(r.responses[1].status, 200);
});
