// Every dialect the simulator speaks, streamed and not, through the gateway: the usage that
// reaches the client says completion/output tokens == the x-sim-tokens knob.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { harness, freePort, simpleConfig, postJSON, streamRequest, jsonEvents, chatStreamText, CHAT_BODY } from './lib.mjs';

const h = harness();
let sim;
let gw;
const N = 5;
const knobs = { 'x-sim-tokens': String(N) };

before(async () => {
  sim = await h.sim();
  gw = await h.gateway(simpleConfig(await freePort(), sim.url));
}, { timeout: 60000 });

async function okJson(p, body, headers = knobs) {
  const r = await postJSON(gw.port, p, body, headers);
  assert.equal(r.status, 200, `${p}: ${r.text}`);
  assert.match(r.headers['content-type'] ?? '', /^application\/json/);
  return r.json();
}

async function okStream(p, body, headers = knobs) {
  const s = await streamRequest({ port: gw.port, path: p, body, headers });
  assert.equal(s.error, null, `${p}: stream failed: ${s.error}`);
  assert.equal(s.status, 200, `${p}: ${s.raw}`);
  assert.match(s.headers['content-type'] ?? '', /^text\/event-stream/);
  assert.ok(s.events.length > 0, `${p}: no SSE events`);
  return s;
}

test('OpenAI chat: deterministic text, usage == knob (plain and stream)', { timeout: 20000 }, async () => {
  const b = await okJson('/v1/chat/completions', CHAT_BODY);
  assert.equal(b.usage.completion_tokens, N);
  assert.ok(b.choices[0].message.content.startsWith(' the of and'), `text: ${JSON.stringify(b.choices[0].message.content)}`);
  const s = await okStream('/v1/chat/completions', { ...CHAT_BODY, stream: true, stream_options: { include_usage: true } });
  assert.equal(s.events.at(-1).data, '[DONE]');
  assert.equal(chatStreamText(s.events), b.choices[0].message.content);
  assert.equal(jsonEvents(s.events).find((c) => c.usage)?.usage.completion_tokens, N);
});

test('the model name carries knobs: "gpt-4o-mini@tokens=3"', { timeout: 20000 }, async () => {
  const b = await okJson('/v1/chat/completions', { ...CHAT_BODY, model: 'gpt-4o-mini@tokens=3' }, {});
  assert.equal(b.usage.completion_tokens, 3);
});

test('OpenAI legacy completions: usage == knob (plain and stream)', { timeout: 20000 }, async () => {
  const body = { model: 'gpt-3.5-turbo-instruct', prompt: 'Once upon a time' };
  const b = await okJson('/v1/completions', body);
  assert.equal(b.usage.completion_tokens, N);
  assert.equal(typeof b.choices[0].text, 'string');
  const s = await okStream('/v1/completions', { ...body, stream: true, stream_options: { include_usage: true } });
  assert.equal(s.events.at(-1).data, '[DONE]');
  const chunks = jsonEvents(s.events);
  assert.equal(chunks.map((c) => c.choices?.[0]?.text ?? '').join(''), b.choices[0].text);
  assert.equal(chunks.find((c) => c.usage)?.usage.completion_tokens, N);
});

test('OpenAI responses: usage.output_tokens == knob (plain and stream)', { timeout: 20000 }, async () => {
  const body = { model: 'gpt-4o-mini', input: 'Say something.' };
  const b = await okJson('/v1/responses', body);
  assert.equal(b.usage.output_tokens, N);
  assert.equal(b.usage.total_tokens, b.usage.input_tokens + b.usage.output_tokens);
  const s = await okStream('/v1/responses', { ...body, stream: true });
  const evs = jsonEvents(s.events);
  const completed = evs.find((e) => e.type === 'response.completed');
  assert.ok(completed, `no response.completed event: ${s.raw}`);
  assert.equal(completed.response.usage.output_tokens, N);
  const deltas = evs.filter((e) => e.type === 'response.output_text.delta');
  assert.equal(deltas.length, N);
  // Typed SSE: the event: line equals the JSON type.
  for (const e of s.events.filter((x) => x.data !== '[DONE]')) assert.equal(e.event, e.json().type);
});

test('OpenAI embeddings: vectors and prompt usage', { timeout: 20000 }, async () => {
  const b = await okJson('/v1/embeddings', { model: 'text-embedding-3-small', input: ['hello world', 'second'] }, {});
  assert.equal(b.data.length, 2);
  assert.ok(Array.isArray(b.data[0].embedding) && b.data[0].embedding.length > 0);
  assert.ok(b.usage.prompt_tokens > 0);
  assert.equal(b.usage.total_tokens, b.usage.prompt_tokens);
});

test('Anthropic messages: usage.output_tokens == knob (plain and SSE)', { timeout: 20000 }, async () => {
  const body = { model: 'claude-sonnet-4-5', max_tokens: 100, messages: [{ role: 'user', content: 'Hi' }] };
  const headers = { ...knobs, 'anthropic-version': '2023-06-01', 'x-api-key': 'dummy' };
  const b = await okJson('/v1/messages', body, headers);
  assert.equal(b.type, 'message');
  assert.equal(b.usage.output_tokens, N);
  assert.ok(b.usage.input_tokens > 0);
  const text = b.content.filter((c) => c.type === 'text').map((c) => c.text).join('');
  const s = await okStream('/v1/messages', { ...body, stream: true }, headers);
  const evs = jsonEvents(s.events);
  const types = evs.map((e) => e.type);
  assert.equal(types[0], 'message_start');
  assert.equal(types.at(-1), 'message_stop');
  const deltas = evs.filter((e) => e.type === 'message_delta');
  assert.ok(deltas.length >= 1);
  assert.equal(deltas.at(-1).usage.output_tokens, N);
  const streamed = evs.filter((e) => e.type === 'content_block_delta').map((e) => e.delta.text ?? '').join('');
  assert.equal(streamed, text);
  for (const e of s.events) assert.equal(e.event, e.json().type, 'event: line equals the JSON type');
});

test('Gemini generateContent and streamGenerateContent?alt=sse: candidatesTokenCount == knob', { timeout: 20000 }, async () => {
  const body = { contents: [{ role: 'user', parts: [{ text: 'Hi' }] }] };
  const b = await okJson('/v1beta/models/gemini-2.0-flash:generateContent', body);
  assert.equal(b.usageMetadata.candidatesTokenCount, N);
  const text = b.candidates[0].content.parts.map((p) => p.text).join('');
  const s = await okStream('/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse', body);
  const evs = jsonEvents(s.events);
  const last = evs.filter((e) => e.usageMetadata).at(-1);
  assert.ok(last, `no usageMetadata in the stream: ${s.raw}`);
  assert.equal(last.usageMetadata.candidatesTokenCount, N);
  const streamed = evs.map((e) => (e.candidates?.[0]?.content?.parts ?? []).map((p) => p.text ?? '').join('')).join('');
  assert.equal(streamed, text);
});
