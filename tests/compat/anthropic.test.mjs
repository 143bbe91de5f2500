// The official `@anthropic-ai/sdk` against the gateway, on a route with dialect: anthropic.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { harness, freePort, gatewayConfig } from '../integration/lib.mjs';

let Anthropic;
try {
  ({ default: Anthropic } = await import('@anthropic-ai/sdk'));
} catch (e) {
  throw new Error(`@anthropic-ai/sdk is not installed: run \`npm ci\` in tests/compat (or scripts/setup.sh): ${e.message}`);
}

const h = harness();
let gw;
let client;

before(async () => {
  const sim = await h.sim();
  const deadPort = await freePort();
  const port = await freePort();
  gw = await h.gateway(gatewayConfig({
    port,
    upstreams: [
      { name: 'sim', url: sim.url, headers: { set: { 'x-api-key': 'provider-key' } } },
      { name: 'dead', url: `http://127.0.0.1:${deadPort}` },
    ],
    routes: [
      // The SDK posts to {baseURL}/v1/messages; /anthropic is stripped before forwarding.
      { name: 'anthropic', match: { path_prefix: '/anthropic/' }, upstream: 'sim', rewrite_prefix: '/', dialect: 'anthropic' },
      { name: 'anthropic-dead', match: { path_prefix: '/dead/' }, upstream: 'dead', rewrite_prefix: '/', dialect: 'anthropic' },
    ],
  }));
  client = new Anthropic({ baseURL: `http://127.0.0.1:${port}/anthropic`, apiKey: 'dummy', maxRetries: 0, timeout: 20000 });
}, { timeout: 60000 });

const PARAMS = { model: 'claude-sonnet-4-5', max_tokens: 256, messages: [{ role: 'user', content: 'Say something.' }] };
const knobs = (n) => ({ headers: { 'x-sim-tokens': String(n) } });

test('messages.create: text and usage.output_tokens', { timeout: 20000 }, async () => {
  const m = await client.messages.create(PARAMS, knobs(6));
  assert.equal(m.type, 'message');
  assert.equal(m.role, 'assistant');
  assert.equal(m.usage.output_tokens, 6);
  assert.ok(m.usage.input_tokens > 0);
  assert.equal(m.content[0].type, 'text');
  assert.ok(m.content[0].text.length > 0);
});

test('messages.create stream: raw events; messages.stream: final message', { timeout: 20000 }, async () => {
  const plain = await client.messages.create(PARAMS, knobs(5));
  const raw = await client.messages.create({ ...PARAMS, stream: true }, knobs(5));
  let text = '';
  const types = [];
  let outputTokens = null;
  for await (const ev of raw) {
    types.push(ev.type);
    if (ev.type === 'content_block_delta' && ev.delta.type === 'text_delta') text += ev.delta.text;
    if (ev.type === 'message_delta') outputTokens = ev.usage.output_tokens;
  }
  assert.equal(types[0], 'message_start');
  assert.equal(types.at(-1), 'message_stop');
  assert.equal(text, plain.content[0].text);
  assert.equal(outputTokens, 5);

  const helper = client.messages.stream(PARAMS, knobs(5));
  let deltas = '';
  helper.on('text', (t) => { deltas += t; });
  const final = await helper.finalMessage();
  assert.equal(final.usage.output_tokens, 5);
  assert.equal(final.content[0].text, plain.content[0].text);
  assert.equal(deltas, plain.content[0].text);
});

test('an upstream 429 surfaces as Anthropic.RateLimitError', { timeout: 20000 }, async () => {
  await assert.rejects(client.messages.create(PARAMS, { headers: { 'x-sim-status': '429' } }), (err) => {
    assert.ok(err instanceof Anthropic.RateLimitError, `${err?.constructor?.name}: ${err?.message}`);
    assert.equal(err.status, 429);
    return true;
  });
});

test('a gateway 502 on an anthropic route is an Anthropic-format error the SDK parses', { timeout: 20000 }, async () => {
  const dead = new Anthropic({ baseURL: `http://127.0.0.1:${gw.port}/dead`, apiKey: 'dummy', maxRetries: 0 });
  await assert.rejects(dead.messages.create(PARAMS), (err) => {
    assert.ok(err instanceof Anthropic.InternalServerError, `${err?.constructor?.name}: ${err?.message}`);
    assert.equal(err.status, 502);
    assert.equal(err.error?.type, 'error', `body: ${JSON.stringify(err.error)}`);
    assert.equal(typeof err.error?.error?.type, 'string');
    assert.equal(typeof err.error?.error?.message, 'string');
    assert.ok(err.requestID || err.headers?.get?.('x-request-id'), 'x-request-id reaches the SDK');
    return true;
  });
});
