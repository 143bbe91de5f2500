// Client connections: keep-alive with upstream pooling, pipelining, slowloris, idle and
// per-connection request limits.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { harness, freePort, simpleConfig, request, rawExchange, rawConnect, now, sleep } from './lib.mjs';

const h = harness();
let sim;
let gw;

before(async () => {
  sim = await h.sim();
  gw = await h.gateway(simpleConfig(await freePort(), sim.url, {
    limits: { header_timeout: '2s', idle_timeout: '1500ms', max_requests_per_connection: 0 },
  }));
}, { timeout: 60000 });

const simStats = async () => (await request({ port: sim.port, path: '/sim/stats' })).json();

test('1,000 sequential keep-alive requests on one connection; the upstream pool is reused', { timeout: 120000 }, async () => {
  const before = await simStats();
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const sockets = new Set();
  let non200 = 0;
  try {
    for (let i = 0; i < 1000; i++) {
      const r = await new Promise((resolve, reject) => {
        const req = http.request({ host: '127.0.0.1', port: gw.port, path: `/sim/echo/${i}`, agent }, (res) => {
          const chunks = [];
          res.on('data', (c) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString() }));
          res.on('error', reject);
        });
        req.on('socket', (s) => sockets.add(s));
        req.setTimeout(10000, () => req.destroy(new Error(`request ${i} timed out`)));
        req.on('error', reject);
        req.end();
      });
      if (r.status !== 200) non200 += 1;
      else if (i % 250 === 0) assert.equal(JSON.parse(r.body).path, `/sim/echo/${i}`);
    }
  } finally {
    agent.destroy();
  }
  assert.equal(non200, 0, `${non200} of 1000 responses were not 200`);
  assert.equal(sockets.size, 1, `the gateway closed the keep-alive client connection: ${sockets.size} connections used`);
  const after = await simStats();
  const requests = after.requests - before.requests - 1; // minus our second /sim/stats
  const conns = after.connections - before.connections - 1;
  assert.ok(requests >= 1000 && requests <= 1001, `the upstream saw ${requests} requests`);
  assert.ok(conns <= 2, `the gateway opened ${conns} upstream connections for 1000 sequential requests (no pooling?)`);
});

test('pipelining: two requests in one write are both answered, in order', { timeout: 15000 }, async () => {
  const data = 'POST /sim/echo/first HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello'
    + 'GET /sim/echo/second HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n';
  const r = await rawExchange(gw.port, data, { responses: 2, timeout: 8000 });
  assert.equal(r.responses.length, 2, `got ${r.responses.length} responses (closed=${r.closed}): ${r.raw.toString('latin1').slice(0, 600)}`);
  const [a, b] = r.responses.map((x) => { assert.equal(x.status, 200, x.text); return JSON.parse(x.text); });
  assert.equal(a.path, '/sim/echo/first');
  assert.equal(a.method, 'POST');
  assert.equal(a.body_bytes, 5);
  assert.equal(b.path, '/sim/echo/second');
  assert.equal(b.method, 'GET');
  assert.notEqual(r.responses[0].headers['x-request-id'], r.responses[1].headers['x-request-id']);
});

test('pipelining: three requests where the first is slow still come back in order', { timeout: 15000 }, async () => {
  const slow = 'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-Sim-Tokens: 2\r\nX-Sim-TTFT-Ms: 500\r\n'
    + `Content-Length: ${JSON.stringify({ model: 'm', messages: [] }).length}\r\n\r\n${JSON.stringify({ model: 'm', messages: [] })}`;
  const data = slow + 'GET /sim/echo/2 HTTP/1.1\r\nHost: x\r\n\r\nGET /sim/echo/3 HTTP/1.1\r\nHost: x\r\n\r\n';
  const r = await rawExchange(gw.port, data, { responses: 3, timeout: 8000 });
  assert.equal(r.responses.length, 3, r.raw.toString('latin1').slice(0, 600));
  assert.equal(JSON.parse(r.responses[0].text).usage.completion_tokens, 2);
  assert.equal(JSON.parse(r.responses[1].text).path, '/sim/echo/2');
  assert.equal(JSON.parse(r.responses[2].text).path, '/sim/echo/3');
});

test('slowloris: a head sent one byte per second is cut after header_timeout (2s)', { timeout: 15000 }, async () => {
  const conn = await rawConnect(gw.port);
  const head = 'GET /sim/echo HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ' + 'a'.repeat(40) + '\r\n\r\n';
  const t0 = now();
  try {
    for (let i = 0; i < head.length && !conn.closed && now() - t0 < 8000; i++) {
      await conn.write(head[i]);
      await new Promise((res) => { const t = setTimeout(res, 1000); conn.waiters.push(() => { clearTimeout(t); res(); }); });
    }
    await conn.waitClose(1000);
    assert.ok(conn.closed, 'the connection is still open after 8 s of a one-byte-per-second head');
    const ms = conn.tClose - t0;
    assert.ok(ms >= 1500 && ms <= 3500, `closed after ${ms.toFixed(0)} ms, want ~2000 (header_timeout 2s)`);
    if (conn.raw.length) {
      assert.match(conn.raw.toString('latin1'), /^HTTP\/1\.1 408 /, 'only a 408 may be sent before closing');
    }
  } finally {
    conn.destroy();
  }
});

test('a keep-alive connection idle longer than limits.idle_timeout is closed', { timeout: 15000 }, async () => {
  const conn = await rawConnect(gw.port);
  try {
    await conn.write('GET /sim/echo HTTP/1.1\r\nHost: x\r\n\r\n');
    const r = await conn.nextResponse(5000);
    assert.equal(r?.status, 200);
    const t0 = now();
    assert.equal(await conn.waitClose(5000), true, 'idle connection never closed');
    const ms = conn.tClose - t0;
    assert.ok(ms >= 1000 && ms <= 3000, `closed after ${ms.toFixed(0)} ms idle, want ~1500`);
  } finally {
    conn.destroy();
  }
});

test('a connection that keeps sending requests is not cut by idle_timeout', { timeout: 15000 }, async () => {
  const conn = await rawConnect(gw.port);
  try {
    for (let i = 0; i < 4; i++) {
      await conn.write(`GET /sim/echo/${i} HTTP/1.1\r\nHost: x\r\n\r\n`);
      const r = await conn.nextResponse(5000);
      assert.equal(r?.status, 200, `request ${i} on a busy connection`);
      await sleep(900);
    }
  } finally {
    conn.destroy();
  }
});

test('max_requests_per_connection: the connection closes after N requests', { timeout: 15000 }, async () => {
  const port = await freePort();
  await h.gateway(simpleConfig(port, sim.url, { limits: { max_requests_per_connection: 3 } }));
  const reqs = [1, 2, 3, 4].map((i) => `GET /sim/echo/${i} HTTP/1.1\r\nHost: x\r\n\r\n`).join('');
  const r = await rawExchange(port, reqs, { responses: 4, timeout: 5000 });
  assert.equal(r.responses.length, 3, `responses: ${r.responses.map((x) => x.status)}`);
  assert.ok(r.closed, 'the connection closes after the 3rd response');
  assert.match(r.responses[2].headers.connection ?? '', /close/i, 'the last response says Connection: close');
});

test('HTTP/1.0 without keep-alive: one response, then close', { timeout: 15000 }, async () => {
  const r = await rawExchange(gw.port, 'GET /sim/echo HTTP/1.0\r\nHost: x\r\n\r\n', { responses: 2, timeout: 5000 });
  assert.equal(r.responses.length, 1);
  assert.equal(r.responses[0].status, 200);
  assert.ok(r.closed);
});
