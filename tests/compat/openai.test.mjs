// The official `openai` Node SDK against the gateway in front of the simulator.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { harness, freePort, gatewayConfig } from '../integration/lib.mjs';

let OpenAI;
try {
  ({ default: OpenAI } = await import('openai'));
} catch (e) {
  throw new Error(`the openai package is not installed: run \`npm ci\` in tests/compat (or scripts/setup.sh): ${e.message}`);
}

const h = harness();
let gw;
let client;

before(async () => {
  const sim = await h.sim();
  const port = await freePort();
  gw = await h.gateway(gatewayConfig({
    port,
    upstreams: [{ name: 'sim', url: sim.url }],
    routes: [{ name: 'openai', match: { path_prefix: '/v1/' }, upstream: 'sim', dialect: 'openai' }],
  }));
  client = new OpenAI({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey: 'dummy', maxRetries: 0, timeout: 20000 });
}, { timeout: 60000 });

const MESSAGES = [{ role: 'user', content: 'Say something.' }];
const knobs = (n) => ({ headers: { 'x-sim-tokens': String(n) } });

test('chat.completions.create: usage.completion_tokens equals the knob', { timeout: 20000 }, async () => {
  const c = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: MESSAGES }, knobs(6));
  assert.equal(c.object, 'chat.completion');
  assert.equal(c.usage.completion_tokens, 6);
  assert.equal(c.usage.total_tokens, c.usage.prompt_tokens + 6);
  assert.ok(c.choices[0].message.content.length > 0);
  assert.ok(c._request_id, 'the SDK sees x-request-id');
});

test('chat.completions.create stream: text equals the non-streamed text; include_usage brings usage', { timeout: 20000 }, async () => {
  const plain = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: MESSAGES }, knobs(7));
  const stream = await client.chat.completions.create({
    model: 'gpt-4o-mini', messages: MESSAGES, stream: true, stream_options: { include_usage: true },
  }, knobs(7));
  let text = '';
  let usage = null;
  let chunks = 0;
  for await (const chunk of stream) {
    chunks += 1;
    text += chunk.choices[0]?.delta?.content ?? '';
    if (chunk.usage) usage = chunk.usage;
  }
  assert.ok(chunks >= 7);
  assert.equal(text, plain.choices[0].message.content);
  assert.ok(usage, 'the usage chunk arrived');
  assert.equal(usage.completion_tokens, 7);
});

test('chat stream through the SDK helper: finalChatCompletion', { timeout: 20000 }, async () => {
  const runner = client.chat.completions.stream({ model: 'gpt-4o-mini', messages: MESSAGES, stream_options: { include_usage: true } }, knobs(3));
  const final = await runner.finalChatCompletion();
  assert.ok(final.choices[0].message.content.length > 0);
  assert.equal(final.usage?.completion_tokens, 3);
});

test('responses.create: output_text and usage.output_tokens', { timeout: 20000 }, async () => {
  const r = await client.responses.create({ model: 'gpt-4o-mini', input: 'Say something.' }, knobs(5));
  assert.equal(r.usage.output_tokens, 5);
  assert.ok(r.output_text.length > 0, 'output_text');
  const stream = await client.responses.create({ model: 'gpt-4o-mini', input: 'Say something.', stream: true }, knobs(5));
  let text = '';
  let completed = null;
  for await (const ev of stream) {
    if (ev.type === 'response.output_text.delta') text += ev.delta;
    if (ev.type === 'response.completed') completed = ev.response;
  }
  assert.equal(text, r.output_text);
  assert.ok(completed, 'response.completed arrived');
  assert.equal(completed.usage.output_tokens, 5);
});

test('embeddings.create', { timeout: 20000 }, async () => {
  const e = await client.embeddings.create({ model: 'text-embedding-3-small', input: 'hello world' });
  assert.equal(e.data.length, 1);
  assert.ok(e.data[0].embedding.length > 0);
  assert.ok(e.data[0].embedding.every((x) => typeof x === 'number'));
  assert.ok(e.usage.prompt_tokens > 0);
});

test('an upstream 429 surfaces as openai.RateLimitError', { timeout: 20000 }, async () => {
  const limited = new OpenAI({
    baseURL: `http://127.0.0.1:${gw.port}/v1`, apiKey: 'dummy', maxRetries: 0, defaultHeaders: { 'x-sim-status': '429' },
  });
  await assert.rejects(
    limited.chat.completions.create({ model: 'gpt-4o-mini', messages: MESSAGES }),
    (err) => {
      assert.ok(err instanceof OpenAI.RateLimitError, `${err?.constructor?.name}: ${err?.message}`);
      assert.equal(err.status, 429);
      return true;
    },
  );
  // Per-request headers work the same way, also for a stream.
  await assert.rejects(
    client.chat.completions.create({ model: 'gpt-4o-mini', messages: MESSAGES, stream: true }, { headers: { 'x-sim-status': '429' } }),
    OpenAI.RateLimitError,
  );
});

test('a gateway 404 (no route) surfaces as openai.NotFoundError with code route_not_found', { timeout: 20000 }, async () => {
  const lost = new OpenAI({ baseURL: `http://127.0.0.1:${gw.port}/no-route/v1`, apiKey: 'dummy', maxRetries: 0 });
  await assert.rejects(
    lost.chat.completions.create({ model: 'gpt-4o-mini', messages: MESSAGES }),
    (err) => {
      assert.ok(err instanceof OpenAI.NotFoundError, `${err?.constructor?.name}: ${err?.message}`);
      assert.equal(err.status, 404);
      assert.equal(err.code, 'route_not_found');
      assert.equal(typeof err.error?.message, 'string');
      assert.ok(err.requestID, 'x-request-id reaches the SDK error');
      return true;
    },
  );
});

test('a gateway 502 (upstream down) surfaces as openai.InternalServerError', { timeout: 20000 }, async () => {
  const deadPort = await freePort();
  const port = await freePort();
  await h.gateway(gatewayConfig({
    port,
    upstreams: [{ name: 'dead', url: `http://127.0.0.1:${deadPort}` }],
    routes: [{ name: 'openai', match: { path_prefix: '/v1/' }, upstream: 'dead' }],
  }));
  const c = new OpenAI({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey: 'dummy', maxRetries: 0 });
  await assert.rejects(c.chat.completions.create({ model: 'gpt-4o-mini', messages: MESSAGES }), (err) => {
    assert.ok(err instanceof OpenAI.InternalServerError, `${err?.constructor?.name}: ${err?.message}`);
    assert.equal(err.status, 502);
    assert.equal(err.code, 'upstream_unreachable');
    return true;
  });
});
