// Chat completions through the gateway: bodies and usage intact, SSE relayed event by event,
// upstream statuses and gzip bodies passed through untouched.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import zlib from 'node:zlib';
import {
  harness, freePort, simpleConfig, postJSON, request, streamRequest, jsonEvents, chatStreamText, CHAT_BODY,
} from './lib.mjs';

const h = harness();
let sim;
let gw;

before(async () => {
  sim = await h.sim();
  gw = await h.gateway(simpleConfig(await freePort(), sim.url));
}, { timeout: 60000 });

test('non-streaming chat completion arrives intact with usage', { timeout: 20000 }, async () => {
  const knobs = { 'x-sim-tokens': '7' };
  const viaGw = await postJSON(gw.port, '/v1/chat/completions', CHAT_BODY, knobs);
  const direct = await postJSON(sim.port, '/v1/chat/completions', CHAT_BODY, knobs);
  assert.equal(viaGw.status, 200, viaGw.text);
  assert.match(viaGw.headers['content-type'] ?? '', /^application\/json/);
  assert.ok(viaGw.headers['x-request-id'], 'x-request-id header on the response');
  const b = viaGw.json();
  const d = direct.json();
  assert.equal(b.object, 'chat.completion');
  assert.equal(typeof b.choices[0].message.content, 'string');
  assert.equal(b.usage.completion_tokens, 7);
  assert.equal(b.usage.total_tokens, b.usage.prompt_tokens + b.usage.completion_tokens);
  // Same deterministic answer as asking the simulator directly.
  assert.deepEqual(b.choices, d.choices);
  assert.deepEqual(b.usage, d.usage);
  // Content-Length (if any) matches what arrived.
  if (viaGw.headers['content-length'] !== undefined) {
    assert.equal(Number(viaGw.headers['content-length']), viaGw.body.length);
  }
});

test('streaming chat completion: every chunk, the usage chunk and [DONE] arrive', { timeout: 20000 }, async () => {
  const knobs = { 'x-sim-tokens': '5' };
  const plain = (await postJSON(gw.port, '/v1/chat/completions', CHAT_BODY, knobs)).json();
  const s = await streamRequest({
    port: gw.port,
    path: '/v1/chat/completions',
    headers: knobs,
    body: { ...CHAT_BODY, stream: true, stream_options: { include_usage: true } },
  });
  assert.equal(s.error, null, `stream failed: ${s.error}`);
  assert.equal(s.status, 200, s.raw);
  assert.match(s.headers['content-type'] ?? '', /^text\/event-stream/);
  assert.ok(s.headers['x-request-id'], 'x-request-id on a streamed response');
  assert.ok(s.events.length >= 3, `events: ${s.raw}`);
  assert.equal(s.events.at(-1).data, '[DONE]', 'the stream ends with data: [DONE]');
  assert.equal(s.events.filter((e) => e.data === '[DONE]').length, 1);
  const chunks = jsonEvents(s.events);
  for (const c of chunks) assert.equal(c.object, 'chat.completion.chunk');
  assert.equal(chatStreamText(s.events), plain.choices[0].message.content, 'streamed text == non-streamed text');
  const usage = chunks.filter((c) => c.usage);
  assert.equal(usage.length, 1, 'exactly one usage chunk');
  assert.equal(usage[0].usage.completion_tokens, 5);
  assert.deepEqual(usage[0].choices, []);
  assert.equal(s.raw.replace(/\r\n/g, '\n').endsWith('data: [DONE]\n\n'), true, 'nothing after [DONE]');
});

test('streaming without include_usage: the client gets no usage chunk', { timeout: 20000 }, async () => {
  const s = await streamRequest({
    port: gw.port, path: '/v1/chat/completions', headers: { 'x-sim-tokens': '4' }, body: { ...CHAT_BODY, stream: true },
  });
  assert.equal(s.error, null, `stream failed: ${s.error}`);
  assert.equal(s.status, 200);
  assert.equal(s.events.at(-1).data, '[DONE]');
  const withUsage = jsonEvents(s.events).filter((c) => c.usage);
  assert.deepEqual(withUsage, [], 'a usage chunk the client did not ask for reached it');
  assert.equal(jsonEvents(s.events).filter((c) => c.choices?.[0]?.delta?.content).length, 4);
});

test('SSE events are relayed one by one, not buffered', { timeout: 20000 }, async () => {
  const tokens = 4;
  const s = await streamRequest({
    port: gw.port,
    path: '/v1/chat/completions',
    headers: { 'x-sim-tokens': String(tokens), 'x-sim-delay-ms': '400', 'x-sim-ttft-ms': '0' },
    body: { ...CHAT_BODY, stream: true },
  });
  assert.equal(s.error, null, `stream failed: ${s.error}`);
  assert.equal(s.status, 200);
  const content = s.events.filter((e) => e.data !== '[DONE]' && e.json().choices?.[0]?.delta?.content);
  assert.equal(content.length, tokens, s.raw);
  const times = content.map((e) => Math.round(e.t));
  // The upstream waits 400 ms between tokens: each token must reach the client on its own,
  // roughly 400 ms after the previous one (a buffering proxy delivers them together at the end).
  for (let i = 1; i < content.length; i++) {
    const gap = content[i].t - content[i - 1].t;
    assert.ok(gap >= 250, `token ${i} arrived ${gap.toFixed(0)} ms after token ${i - 1} (arrival times ${times})`);
  }
  assert.ok(content.at(-1).t - content[0].t >= 1000, `first-to-last token spread ${times}`);
  // Response headers go out before the body is finished.
  assert.ok(s.tHeaders < content.at(-1).t - 900, `headers arrived at ${s.tHeaders.toFixed(0)} ms, last token at ${times.at(-1)}`);
  assert.ok(s.tEnd >= (tokens - 1) * 400 - 50, `total ${s.tEnd.toFixed(0)} ms`);
});

test('the first content event reaches the client before the upstream sends the second', { timeout: 20000 }, async () => {
  // ttft 0 and 400 ms between tokens: token 0 must be out long before token 1 exists.
  const s = await streamRequest({
    port: gw.port,
    path: '/v1/chat/completions',
    headers: { 'x-sim-tokens': '4', 'x-sim-delay-ms': '400', 'x-sim-ttft-ms': '0' },
    body: { ...CHAT_BODY, stream: true },
  });
  assert.equal(s.status, 200);
  const first = s.events.find((e) => e.data !== '[DONE]' && e.json().choices?.[0]?.delta?.content);
  assert.ok(first, s.raw);
  assert.ok(first.t < 300, `first content event after ${first.t.toFixed(0)} ms`);
  assert.ok(s.tEnd >= 1150, `whole stream took ${s.tEnd.toFixed(0)} ms`);
});

test('an upstream error status and body pass through unchanged', { timeout: 20000 }, async () => {
  for (const status of [429, 500, 401]) {
    const knobs = { 'x-sim-status': String(status) };
    const viaGw = await postJSON(gw.port, '/v1/chat/completions', CHAT_BODY, knobs);
    const direct = await postJSON(sim.port, '/v1/chat/completions', CHAT_BODY, knobs);
    assert.equal(direct.status, status, 'the simulator honours x-sim-status');
    assert.equal(viaGw.status, status);
    assert.equal(viaGw.text, direct.text, `the upstream's ${status} body reaches the client as sent`);
  }
});

test('a gzip-compressed upstream response reaches the client decodable', { timeout: 20000 }, async () => {
  const r = await postJSON(gw.port, '/v1/chat/completions', CHAT_BODY, {
    'x-sim-gzip': '1', 'x-sim-tokens': '6', 'accept-encoding': 'gzip',
  });
  assert.equal(r.status, 200);
  assert.equal(r.headers['content-encoding'], 'gzip', 'content-encoding kept');
  if (r.headers['content-length'] !== undefined) assert.equal(Number(r.headers['content-length']), r.body.length);
  const body = JSON.parse(zlib.gunzipSync(r.body).toString('utf8'));
  assert.equal(body.usage.completion_tokens, 6);
  assert.equal(typeof body.choices[0].message.content, 'string');
});
