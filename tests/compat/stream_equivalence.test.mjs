// Stream equivalence seen through the official SDKs: the same streaming request is made once
// directly against the simulator and once through the gateway, and the sequence of parsed
// chunks/events must be identical once the per-request ids (the simulator's request counter)
// are normalised. The gateway's usage accounting (it asks OpenAI-style upstreams for
// include_usage and strips the extra chunk again) must be invisible to the SDK.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { harness, freePort, gatewayConfig, parseAccessLog, waitFor } from '../integration/lib.mjs';

let OpenAI;
let Anthropic;
try {
  ({ default: OpenAI } = await import('openai'));
  ({ default: Anthropic } = await import('@anthropic-ai/sdk'));
} catch (e) {
  throw new Error(`the SDKs are not installed: run \`npm ci\` in tests/compat (or scripts/setup.sh): ${e.message}`);
}

const h = harness();
let gw;
let oaDirect;
let oaGateway;
let anDirect;
let anGateway;

before(async () => {
  const sim = await h.sim();
  const port = await freePort();
  gw = await h.gateway(gatewayConfig({
    port,
    upstreams: [{ name: 'sim', url: sim.url }],
    routes: [
      { name: 'anthropic', match: { path_prefix: '/anthropic/' }, upstream: 'sim', rewrite_prefix: '/', dialect: 'anthropic' },
      { name: 'openai', match: { path_prefix: '/v1/' }, upstream: 'sim', dialect: 'openai' },
    ],
  }));
  const common = { apiKey: 'dummy', maxRetries: 0, timeout: 20000 };
  oaDirect = new OpenAI({ ...common, baseURL: `${sim.url}/v1` });
  oaGateway = new OpenAI({ ...common, baseURL: `http://127.0.0.1:${port}/v1` });
  anDirect = new Anthropic({ ...common, baseURL: sim.url });
  anGateway = new Anthropic({ ...common, baseURL: `http://127.0.0.1:${port}/anthropic` });
}, { timeout: 60000 });

const ID_KEYS = new Set(['id', 'item_id', 'responseId']);
/** A plain-JSON copy of `v` with every id value replaced. */
function normIds(v) {
  if (Array.isArray(v)) return v.map(normIds);
  if (v && typeof v === 'object') {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, ID_KEYS.has(k) && typeof x === 'string' ? '<id>' : normIds(x)]));
  }
  return v;
}

/** Runs a streaming SDK call; returns { items (plain JSON, in order), requestId }. */
async function collect(promise) {
  const { data: stream, response } = await promise.withResponse();
  const items = [];
  for await (const item of stream) items.push(JSON.parse(JSON.stringify(item)));
  return { items, requestId: response.headers.get('x-request-id') };
}

async function logLine(requestId) {
  assert.ok(requestId, 'x-request-id from the gateway');
  return waitFor(() => parseAccessLog(gw.proc.out).find((l) => l.request_id === requestId),
    { timeout: 5000, what: `the access-log line of ${requestId}` });
}

const MESSAGES = [{ role: 'user', content: 'Say something, please.' }];
const knobs = (n) => ({ headers: { 'x-sim-tokens': String(n) } });

test('openai chat stream without include_usage: identical chunks direct and through the gateway', { timeout: 30000 }, async () => {
  const params = { model: 'gpt-4o-mini', messages: MESSAGES, stream: true };
  const d = await collect(oaDirect.chat.completions.create(params, knobs(6)));
  const g = await collect(oaGateway.chat.completions.create(params, knobs(6)));
  assert.equal(d.items.length, 6 + 2, 'role chunk, 6 tokens, finish chunk');
  assert.equal(g.items.length, d.items.length, 'same number of chunks');
  assert.deepEqual(normIds(g.items), normIds(d.items));
  // The gateway did account the request with the upstream's own numbers.
  const line = await logLine(g.requestId);
  assert.equal(line.usage_source ?? line.usage?.usage_source, 'reported', JSON.stringify(line));
  assert.equal(line.output_tokens ?? line.usage?.output_tokens, 6, JSON.stringify(line));
});

test('openai chat stream with include_usage: identical chunks, the usage chunk included', { timeout: 30000 }, async () => {
  const params = { model: 'gpt-4o-mini', messages: MESSAGES, stream: true, stream_options: { include_usage: true } };
  const d = await collect(oaDirect.chat.completions.create(params, knobs(5)));
  const g = await collect(oaGateway.chat.completions.create(params, knobs(5)));
  assert.deepEqual(normIds(g.items), normIds(d.items));
  const usage = g.items.filter((c) => c.usage);
  assert.equal(usage.length, 1);
  assert.equal(usage[0].usage.completion_tokens, 5);
});

test('openai chat stream helper without include_usage: identical final completion', { timeout: 30000 }, async () => {
  const params = { model: 'gpt-4o-mini', messages: MESSAGES };
  const d = await oaDirect.chat.completions.stream(params, knobs(4)).finalChatCompletion();
  const g = await oaGateway.chat.completions.stream(params, knobs(4)).finalChatCompletion();
  assert.deepEqual(normIds(JSON.parse(JSON.stringify(g))), normIds(JSON.parse(JSON.stringify(d))));
});

test('openai legacy completions stream without include_usage: identical chunks', { timeout: 30000 }, async () => {
  const params = { model: 'gpt-4o-mini', prompt: 'Say something, please.', stream: true };
  const d = await collect(oaDirect.completions.create(params, knobs(5)));
  const g = await collect(oaGateway.completions.create(params, knobs(5)));
  assert.equal(g.items.length, d.items.length, 'same number of chunks');
  assert.deepEqual(normIds(g.items), normIds(d.items));
});

test('openai responses stream: identical events', { timeout: 30000 }, async () => {
  const params = { model: 'gpt-4o-mini', input: 'Say something, please.', stream: true };
  const d = await collect(oaDirect.responses.create(params, knobs(5)));
  const g = await collect(oaGateway.responses.create(params, knobs(5)));
  assert.deepEqual(normIds(g.items), normIds(d.items));
});

const AN_PARAMS = { model: 'claude-sonnet-4-5', max_tokens: 256, messages: MESSAGES };

test('anthropic messages stream: identical events direct and through the gateway', { timeout: 30000 }, async () => {
  const d = await collect(anDirect.messages.create({ ...AN_PARAMS, stream: true }, knobs(6)));
  const g = await collect(anGateway.messages.create({ ...AN_PARAMS, stream: true }, knobs(6)));
  assert.equal(d.items[0].type, 'message_start');
  assert.equal(d.items.at(-1).type, 'message_stop');
  assert.deepEqual(normIds(g.items), normIds(d.items));
  const line = await logLine(g.requestId);
  assert.equal(line.usage_source ?? line.usage?.usage_source, 'reported', JSON.stringify(line));
  assert.equal(line.output_tokens ?? line.usage?.output_tokens, 6, JSON.stringify(line));
});

test('anthropic messages.stream helper: identical final message', { timeout: 30000 }, async () => {
  const d = await anDirect.messages.stream(AN_PARAMS, knobs(3)).finalMessage();
  const g = await anGateway.messages.stream(AN_PARAMS, knobs(3)).finalMessage();
  assert.deepEqual(normIds(JSON.parse(JSON.stringify(g))), normIds(JSON.parse(JSON.stringify(d))));
});
