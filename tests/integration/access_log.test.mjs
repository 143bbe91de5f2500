// The access log: one JSON line per request (stdout by default, or a file, or off).
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {
  harness, freePort, gatewayConfig, request, postJSON, streamRequest, parseAccessLog, waitFor, sleep, CHAT_BODY,
} from './lib.mjs';

const h = harness();
let sim;

before(async () => { sim = await h.sim(); }, { timeout: 60000 });

const FIELDS = ['time', 'request_id', 'client', 'method', 'path', 'route', 'upstream', 'status', 'bytes_in',
  'bytes_out', 'duration_ms', 'upstream_first_byte_ms'];

function config(port, server = {}) {
  return gatewayConfig({
    port,
    server,
    upstreams: [{ name: 'sim-up', url: sim.url }],
    routes: [{ name: 'v1-route', match: { path_prefix: '/v1/' }, upstream: 'sim-up' }],
  });
}

test('stdout: one JSON line per request with every field; request_id == x-request-id', { timeout: 30000 }, async () => {
  const gw = await h.gateway(config(await freePort()));
  const bodyText = JSON.stringify(CHAT_BODY);
  const a = await request({ port: gw.port, path: '/v1/sim/echo?x=1' });
  const b = await postJSON(gw.port, '/v1/chat/completions', CHAT_BODY, { 'x-sim-tokens': '3' });
  const c = await request({ port: gw.port, path: '/nowhere' });
  const s = await streamRequest({ port: gw.port, path: '/v1/chat/completions', headers: { 'x-sim-tokens': '2' }, body: { ...CHAT_BODY, stream: true } });
  assert.deepEqual([a.status, b.status, c.status, s.status], [200, 200, 404, 200]);

  const lines = await waitFor(() => {
    const l = parseAccessLog(gw.proc.out);
    return l.length >= 4 ? l : null;
  }, { timeout: 5000, what: `4 access-log lines on stdout (have: ${JSON.stringify(gw.proc.out)})` });
  await sleep(200);
  const all = parseAccessLog(gw.proc.out);
  assert.equal(all.length, 4, `exactly one line per request:\n${gw.proc.out}`);

  const byId = new Map(lines.map((l) => [l.request_id, l]));
  for (const l of lines) {
    for (const f of FIELDS) assert.ok(f in l, `field ${f} missing in ${JSON.stringify(l)}`);
    assert.equal(typeof l.time, 'string');
    assert.ok(!Number.isNaN(Date.parse(l.time)), `time ${l.time} is not a date`);
    assert.match(String(l.client), /^127\.0\.0\.1(:\d+)?$/);
    assert.equal(typeof l.status, 'number');
    for (const f of ['bytes_in', 'bytes_out', 'duration_ms']) assert.equal(typeof l[f], 'number', `${f} is a number`);
    assert.ok(l.duration_ms >= 0);
  }

  const la = byId.get(a.headers['x-request-id']);
  assert.ok(la, `no line with request_id ${a.headers['x-request-id']}`);
  assert.equal(la.method, 'GET');
  assert.equal(la.path, '/v1/sim/echo?x=1');
  assert.equal(la.route, 'v1-route');
  assert.equal(la.upstream, 'sim-up');
  assert.equal(la.status, 200);
  assert.ok(la.bytes_out >= a.body.length, `bytes_out ${la.bytes_out} < body ${a.body.length}`);
  assert.equal(typeof la.upstream_first_byte_ms, 'number');
  assert.ok(la.upstream_first_byte_ms <= la.duration_ms + 1);

  const lb = byId.get(b.headers['x-request-id']);
  assert.ok(lb);
  assert.equal(lb.method, 'POST');
  assert.equal(lb.status, 200);
  assert.ok(lb.bytes_in >= Buffer.byteLength(bodyText), `bytes_in ${lb.bytes_in} < request body ${Buffer.byteLength(bodyText)}`);
  assert.ok(lb.bytes_out >= b.body.length);

  const lc = byId.get(c.headers['x-request-id']);
  assert.ok(lc, 'a 404 is logged too');
  assert.equal(lc.status, 404);
  assert.ok(lc.route === null || lc.route === '', `route of a 404: ${JSON.stringify(lc.route)}`);
  assert.ok(lc.upstream_first_byte_ms === null || lc.upstream_first_byte_ms === undefined || lc.upstream_first_byte_ms === -1,
    `upstream_first_byte_ms of a request that never went upstream: ${lc.upstream_first_byte_ms}`);

  const ls = byId.get(s.headers['x-request-id']);
  assert.ok(ls, 'a streamed request is logged');
  assert.ok(ls.bytes_out >= Buffer.byteLength(s.raw), `stream bytes_out ${ls.bytes_out} < ${Buffer.byteLength(s.raw)}`);

  // Nothing but access-log lines on stdout.
  for (const line of gw.proc.out.split('\n').filter(Boolean)) assert.doesNotThrow(() => JSON.parse(line), line);
});

test('a slow request logs its duration and time to first upstream byte', { timeout: 30000 }, async () => {
  const gw = await h.gateway(config(await freePort()));
  const r = await postJSON(gw.port, '/v1/chat/completions', CHAT_BODY, { 'x-sim-ttft-ms': '400', 'x-sim-tokens': '2' });
  assert.equal(r.status, 200);
  const line = await waitFor(() => parseAccessLog(gw.proc.out).find((l) => l.request_id === r.headers['x-request-id']),
    { timeout: 5000, what: 'the access-log line' });
  assert.ok(line.duration_ms >= 380, `duration_ms ${line.duration_ms}`);
  assert.ok(line.upstream_first_byte_ms >= 380, `upstream_first_byte_ms ${line.upstream_first_byte_ms}`);
});

test('access_log: a file path gets the lines appended; stdout stays empty', { timeout: 30000 }, async () => {
  const dir = h.tmpDir();
  const file = path.join(dir, 'access.log');
  fs.writeFileSync(file, '');
  const gw = await h.gateway(config(await freePort(), { access_log: file }));
  const r1 = await request({ port: gw.port, path: '/v1/sim/echo' });
  const r2 = await request({ port: gw.port, path: '/v1/sim/echo' });
  const lines = await waitFor(() => {
    const l = parseAccessLog(fs.readFileSync(file, 'utf8'));
    return l.length >= 2 ? l : null;
  }, { timeout: 5000, what: 'two lines in the access-log file' });
  // Two connections may be served by two workers, each writing its own batch: compare as sets.
  assert.deepEqual(lines.map((l) => l.request_id).sort(),
    [r1.headers['x-request-id'], r2.headers['x-request-id']].sort());
  assert.equal(gw.proc.out.trim(), '');
});

test('access_log: off writes nothing', { timeout: 30000 }, async () => {
  const gw = await h.gateway(config(await freePort(), { access_log: 'off' }));
  assert.equal((await request({ port: gw.port, path: '/v1/sim/echo' })).status, 200);
  await sleep(500);
  assert.equal(gw.proc.out.trim(), '');
});
