// TLS on both sides: HTTPS upstreams verified against a test CA (or the system CAs, which do
// not know it), verification switched off, SNI/name checks; and an HTTPS listener.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import {
  harness, freePort, gatewayConfig, simpleConfig, makeTestPki, postJSON, request, streamRequest,
  openaiError, CHAT_BODY,
} from './lib.mjs';

const h = harness();
let pki;
let tlsSim;
let plainSim;

before(async () => {
  pki = await makeTestPki(h.tmpDir());
  tlsSim = await h.sim({ tls: { cert: pki.cert, key: pki.key, caPem: pki.caPem } });
  plainSim = await h.sim();
}, { timeout: 60000 });

async function gatewayTo(url, tlsOpts) {
  return h.gateway(simpleConfig(await freePort(), url, { upstream: tlsOpts ? { tls: tlsOpts } : {} }));
}

test('HTTPS upstream verified with tls.ca_file: 200', { timeout: 30000 }, async () => {
  const gw = await gatewayTo(`https://localhost:${tlsSim.port}`, { ca_file: pki.ca });
  const r = await postJSON(gw.port, '/v1/chat/completions', CHAT_BODY, { 'x-sim-tokens': '3' });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json().usage.completion_tokens, 3);
  // Streaming over the TLS upstream too.
  const s = await streamRequest({ port: gw.port, path: '/v1/chat/completions', headers: { 'x-sim-tokens': '3' }, body: { ...CHAT_BODY, stream: true } });
  assert.equal(s.status, 200);
  assert.equal(s.events.at(-1)?.data, '[DONE]');
});

test('HTTPS upstream with an explicit verify: true and ca_file, reached by IP (IP SAN): 200', { timeout: 30000 }, async () => {
  const gw = await gatewayTo(`https://127.0.0.1:${tlsSim.port}`, { verify: true, ca_file: pki.ca });
  const r = await request({ port: gw.port, path: '/sim/echo' });
  assert.equal(r.status, 200, r.text);
});

test('HTTPS upstream signed by an unknown CA, system CAs: 502', { timeout: 30000 }, async () => {
  const gw = await gatewayTo(`https://localhost:${tlsSim.port}`, null);
  const r = await postJSON(gw.port, '/v1/chat/completions', CHAT_BODY);
  assert.equal(r.status, 502, `an unverifiable upstream certificate must not be accepted: ${r.status} ${r.text}`);
  openaiError(r);
  assert.ok(r.headers['x-request-id']);
});

test('HTTPS upstream with tls.verify: false: 200', { timeout: 30000 }, async () => {
  const gw = await gatewayTo(`https://localhost:${tlsSim.port}`, { verify: false });
  const r = await postJSON(gw.port, '/v1/chat/completions', CHAT_BODY, { 'x-sim-tokens': '2' });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json().usage.completion_tokens, 2);
});

test('HTTPS upstream whose certificate does not name tls.server_name: 502', { timeout: 30000 }, async () => {
  const gw = await gatewayTo(`https://localhost:${tlsSim.port}`, { ca_file: pki.ca, server_name: 'not-this-host.example' });
  const r = await postJSON(gw.port, '/v1/chat/completions', CHAT_BODY);
  assert.equal(r.status, 502, `host name verification must fail: ${r.status} ${r.text}`);
  openaiError(r);
});

test('HTTPS listener: a client trusting the test CA gets 200 and X-Forwarded-Proto https', { timeout: 30000 }, async () => {
  const port = await freePort();
  await h.gateway(gatewayConfig({
    port,
    listenerTls: { cert_file: pki.cert, key_file: pki.key },
    upstreams: [{ name: 'sim', url: plainSim.url }],
    routes: [{ name: 'all', match: { path_prefix: '/' }, upstream: 'sim' }],
  }));
  const r = await request({ port, path: '/sim/echo', tls: true, ca: pki.caPem, servername: 'localhost' });
  assert.equal(r.status, 200, r.text);
  const echo = r.json();
  assert.equal(echo.headers['x-forwarded-proto'], 'https');
  assert.ok(r.headers['x-request-id']);
  const c = await postJSON(port, '/v1/chat/completions', CHAT_BODY, { 'x-sim-tokens': '4' }, { tls: true, ca: pki.caPem, servername: 'localhost' });
  assert.equal(c.status, 200);
  assert.equal(c.json().usage.completion_tokens, 4);
  const s = await streamRequest({
    port, path: '/v1/chat/completions', tls: true, ca: pki.caPem, servername: 'localhost',
    headers: { 'x-sim-tokens': '3' }, body: { ...CHAT_BODY, stream: true },
  });
  assert.equal(s.error, null, String(s.error));
  assert.equal(s.events.at(-1)?.data, '[DONE]');
  // A plain-HTTP request to the TLS port is not served as HTTP 200.
  const plain = await request({ port, path: '/sim/echo', timeout: 5000 }).catch((e) => e);
  assert.ok(plain instanceof Error || plain.status !== 200, 'plain HTTP on a TLS listener must not succeed');
});

test('plain listener forwards X-Forwarded-Proto http', { timeout: 30000 }, async () => {
  const gw = await h.gateway(simpleConfig(await freePort(), plainSim.url));
  const r = await request({ port: gw.port, path: '/sim/echo', headers: { 'x-forwarded-proto': 'https' } });
  assert.equal(r.status, 200);
  assert.equal(r.json().headers['x-forwarded-proto'], 'http', 'the client cannot claim https');
});
