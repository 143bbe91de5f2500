// What the upstream receives, seen through the simulator's /sim/echo: forwarding headers,
// hop-by-hop and gateway-only headers stripped, per-upstream header edits with ${ENV}
// substitution, path rewriting and URL path prefixes, host-based routing, request ids, bodies.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import crypto from 'node:crypto';
import { harness, freePort, gatewayConfig, request, rawExchange, sha256 } from './lib.mjs';

const h = harness();
let sim;
let gw;
const SECRET = `s3cr3t-${crypto.randomBytes(6).toString('hex')}`;

before(async () => {
  sim = await h.sim();
  const port = await freePort();
  gw = await h.gateway(gatewayConfig({
    port,
    upstreams: [
      {
        name: 'sim',
        url: 'http://127.0.0.1:${TG_TEST_SIM_PORT}', // ${ENV} in a URL
        headers: {
          remove: ['x-debug'],
          set: {
            Authorization: 'Bearer ${TG_TEST_SECRET}',
            'X-Set-Default': '${TG_TEST_SURELY_UNSET_VAR:-fallback-value}',
            'X-Replaced': 'by-gateway',
          },
          add: { 'X-Added': 'added-value' },
        },
      },
      { name: 'prefixed', url: `${sim.url}/base` },
    ],
    routes: [
      { name: 'host-a', match: { host: 'a.example.test', path_prefix: '/h/' }, upstream: 'sim', rewrite_prefix: '/ha/sim/echo/' },
      { name: 'host-b', match: { host: '*.b.example.test', path_prefix: '/h/' }, upstream: 'sim', rewrite_prefix: '/hb/sim/echo/' },
      { name: 'host-any', match: { path_prefix: '/h/' }, upstream: 'sim', rewrite_prefix: '/hany/sim/echo/' },
      { name: 'rewrite', match: { path_prefix: '/api/' }, upstream: 'sim', rewrite_prefix: '/v1/' },
      { name: 'prefixed', match: { path_prefix: '/pre/' }, upstream: 'prefixed' },
      { name: 'default', match: { path_prefix: '/' }, upstream: 'sim' },
    ],
  }), { env: { TG_TEST_SIM_PORT: String(sim.port), TG_TEST_SECRET: SECRET } });
}, { timeout: 60000 });

async function echo(opts) {
  const r = await request({ port: gw.port, path: '/sim/echo', ...opts });
  assert.equal(r.status, 200, r.text);
  return { res: r, echo: r.json() };
}

test('X-Forwarded-For is the socket peer; a client-sent one is discarded (trusted_proxies 0)', { timeout: 15000 }, async () => {
  const a = await echo({});
  assert.equal(a.echo.headers['x-forwarded-for'], '127.0.0.1');
  const b = await echo({ headers: { 'X-Forwarded-For': '6.6.6.6, 7.7.7.7' } });
  assert.equal(b.echo.headers['x-forwarded-for'], '127.0.0.1', 'spoofed XFF forwarded');
  assert.equal(b.echo.headers['x-forwarded-proto'], 'http');
});

test('hop-by-hop headers, and headers named in Connection, are not forwarded', { timeout: 15000 }, async () => {
  const head = [
    'GET /sim/echo HTTP/1.1',
    'Host: 127.0.0.1',
    'Connection: keep-alive, X-Custom-Hop',
    'Keep-Alive: timeout=99',
    'Proxy-Connection: keep-alive',
    'TE: trailers',
    'Trailer: X-Some-Trailer',
    'Upgrade: h2c-test',
    'X-Custom-Hop: must-not-pass',
    'X-Normal: kept',
    '', '',
  ].join('\r\n');
  const r = await rawExchange(gw.port, head, { timeout: 5000 });
  assert.equal(r.responses[0]?.status, 200, r.raw.toString('latin1').slice(0, 400));
  const got = JSON.parse(r.responses[0].text).headers;
  assert.equal(got['x-normal'], 'kept');
  assert.equal(got['x-custom-hop'], undefined, 'a header named in Connection was forwarded');
  assert.notEqual(got['keep-alive'], 'timeout=99', "the client's Keep-Alive was forwarded");
  assert.equal(got['proxy-connection'], undefined);
  assert.equal(got.te, undefined);
  assert.equal(got.trailer, undefined);
  assert.equal(got.upgrade, undefined);
  assert.ok(!/x-custom-hop/i.test(got.connection ?? ''), `Connection forwarded as ${got.connection}`);
});

test('gateway-only headers (x-mse-consumer, x-tokengate-*) are removed from the client request', { timeout: 15000 }, async () => {
  const { echo: e } = await echo({
    headers: { 'x-mse-consumer': 'evil-consumer', 'X-Tokengate-Foo': 'bar', 'x-tokengate-consumer': 'evil' },
  });
  assert.notEqual(e.headers['x-mse-consumer'], 'evil-consumer', 'client-supplied x-mse-consumer reached the upstream');
  assert.equal(e.headers['x-tokengate-foo'], undefined);
  assert.notEqual(e.headers['x-tokengate-consumer'], 'evil');
});

test('upstream headers.remove / set / add, with ${ENV} and ${ENV:-default}', { timeout: 15000 }, async () => {
  const { echo: e } = await echo({
    headers: {
      Authorization: 'Bearer client-key', 'X-Debug': '1', 'X-Replaced': 'by-client', 'X-Keep': 'yes',
    },
  });
  assert.equal(e.headers.authorization, `Bearer ${SECRET}`, 'set replaces the client Authorization with the env value');
  assert.equal(e.headers['x-set-default'], 'fallback-value');
  assert.equal(e.headers['x-replaced'], 'by-gateway');
  assert.equal(e.headers['x-debug'], undefined, 'remove');
  assert.equal(e.headers['x-added'], 'added-value');
  assert.equal(e.headers['x-keep'], 'yes');
  assert.ok(!JSON.stringify(e.headers).includes('client-key'), 'the client key leaked upstream');
});

test('headers.add keeps the value the client sent', { timeout: 15000 }, async () => {
  const r = await rawExchange(gw.port, 'GET /sim/echo HTTP/1.1\r\nHost: x\r\nX-Added: from-client\r\n\r\n', { timeout: 5000 });
  const got = JSON.parse(r.responses[0].text).headers['x-added'];
  assert.ok(String(got).includes('from-client') && String(got).includes('added-value'), `x-added upstream: ${JSON.stringify(got)}`);
});

test('rewrite_prefix replaces the matched prefix; the query string is kept', { timeout: 15000 }, async () => {
  const { echo: e } = await echo({ path: '/api/sim/echo/x?q=1&r=a%20b' });
  assert.equal(e.path, '/v1/sim/echo/x?q=1&r=a%20b');
});

test('an upstream URL with a path prefix: the request path is appended', { timeout: 15000 }, async () => {
  const { echo: e } = await echo({ path: '/pre/sim/echo?z=9' });
  assert.equal(e.path, '/base/pre/sim/echo?z=9');
});

test('host-based routing: exact host, wildcard suffix, any host; the port is ignored', { timeout: 15000 }, async () => {
  const cases = [
    ['a.example.test', '/ha/sim/echo/x'],
    [`a.example.test:${gw.port}`, '/ha/sim/echo/x'],
    ['api.b.example.test', '/hb/sim/echo/x'],
    ['deep.api.b.example.test:1234', '/hb/sim/echo/x'],
    ['c.example.test', '/hany/sim/echo/x'],
    ['127.0.0.1', '/hany/sim/echo/x'],
  ];
  for (const [host, want] of cases) {
    const { echo: e } = await echo({ path: '/h/x', headers: { host } });
    assert.equal(e.path, want, `Host: ${host}`);
  }
});

test('x-request-id: the same id on the response and upstream; a new one per request', { timeout: 15000 }, async () => {
  const a = await echo({});
  const b = await echo({});
  const idA = a.res.headers['x-request-id'];
  assert.ok(idA && idA.length >= 8, `x-request-id ${idA}`);
  assert.equal(a.echo.headers['x-request-id'], idA);
  assert.notEqual(b.res.headers['x-request-id'], idA);
});

test('a chunked request body arrives intact', { timeout: 20000 }, async () => {
  const parts = Array.from({ length: 16 }, (_, i) => crypto.randomBytes(20000 + i * 777));
  const whole = Buffer.concat(parts);
  const r = await new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: gw.port, method: 'POST', path: '/sim/echo', agent: false,
      headers: { 'content-type': 'application/octet-stream' } }, (res) => {
      const c = [];
      res.on('data', (d) => c.push(d));
      res.on('end', () => resolve({ status: res.statusCode, body: JSON.parse(Buffer.concat(c).toString()) }));
    });
    req.on('error', reject);
    (async () => {
      for (const p of parts) {
        req.write(p);
        await new Promise((res) => setTimeout(res, 5));
      }
      req.end();
    })();
  });
  assert.equal(r.status, 200);
  assert.equal(r.body.body_bytes, whole.length);
  assert.equal(r.body.body_sha256, sha256(whole));
});

test('a 2 MiB Content-Length body arrives intact, and so do binary bytes', { timeout: 20000 }, async () => {
  const body = crypto.randomBytes(2 * 1024 * 1024);
  const r = await request({ port: gw.port, method: 'POST', path: '/sim/echo', body, headers: { 'content-type': 'application/octet-stream' } });
  assert.equal(r.status, 200);
  const e = r.json();
  assert.equal(e.body_bytes, body.length);
  assert.equal(e.body_sha256, sha256(body));
  assert.equal(e.method, 'POST');
});

test('methods other than GET/POST are forwarded', { timeout: 15000 }, async () => {
  for (const method of ['PUT', 'DELETE', 'PATCH']) {
    const r = await request({ port: gw.port, method, path: '/sim/echo/m', body: method === 'DELETE' ? undefined : 'x' });
    assert.equal(r.status, 200);
    assert.equal(r.json().method, method);
  }
  const head = await request({ port: gw.port, method: 'HEAD', path: '/sim/echo/m' });
  assert.equal(head.status, 200);
  assert.equal(head.body.length, 0);
});
