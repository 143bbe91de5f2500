// Budget enforcement inside a stream (enforce: stream, issue 15 part 1), through the real
// gateway and tokengate-sim, read by the official SDKs: a stream that runs past the consumer's
// remaining token budget is ended cleanly in the caller's dialect (OpenAI finish_reason
// "length" + usage chunk when asked + [DONE]; Anthropic stop_reason "max_tokens"; Gemini
// finishReason "MAX_TOKENS"), the upstream connection is closed (the simulator sees the stream
// aborted), and the consumer is charged exactly what was relayed: its budget is then used up to
// the token, also when several streams share it.
//
// The simulator's output words are one o200k token each, so "tokens relayed" is the number of
// text chunks the client received. The prompt's cost is the gateway's own estimate: a first
// gateway (prompt-only reservation, no enforcement) reports it per dialect as the access log's
// reserved_tokens; the budgets of the gateway under test are derived from it.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {
  harness, freePort, gatewayConfig, postJSON, request, streamRequest, jsonEvents, waitFor, accessLogLines,
} from '../integration/lib.mjs';

let OpenAI;
let Anthropic;
try {
  ({ default: OpenAI } = await import('openai'));
  ({ default: Anthropic } = await import('@anthropic-ai/sdk'));
} catch (e) {
  throw new Error(`the SDK packages are not installed: run \`npm ci\` in tests/compat: ${e.message}`);
}

const h = harness();
let gw;
let sim;
let openai;
let anthropic;
const EXTRA = 10;   // output tokens each budget leaves after the prompt
const TOKENS = 40;  // output tokens the simulator would stream
const STREAMS = 4;  // concurrent streams sharing one budget

const MESSAGES = [{ role: 'user', content: 'Say something.' }];
const ANTHROPIC = { model: 'claude-sonnet-4-5', max_tokens: 256, messages: MESSAGES };
const GEMINI_BODY = { contents: [{ role: 'user', parts: [{ text: 'Say something.' }] }] };
const GEMINI_PATH = '/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse';
const simKnobs = { 'x-sim-tokens': String(TOKENS), 'x-sim-delay-ms': '2' };
const ADMIN_TOKEN = 'admin-secret';
const E = {};
// The gateway counts output with the model's tokenizer when it has one (OpenAI models; the
// simulator's words are one token each) and else as UTF-8 bytes / 4, rounded up, per text piece.
const estimate = (t) => (t ? Math.ceil(Buffer.byteLength(t) / 4) : 0);  // the gateway's prompt estimate per dialect
let run = 0;
const user = (prefix) => `${prefix}-${++run}`;

const ROUTES = [
  { name: 'openai', match: { path_prefix: '/v1/' }, upstream: 'sim', dialect: 'openai' },
  { name: 'anthropic', match: { path_prefix: '/anthropic/' }, upstream: 'sim', rewrite_prefix: '/', dialect: 'anthropic' },
  { name: 'gemini', match: { path_prefix: '/v1beta/' }, upstream: 'sim', dialect: 'gemini' },
  { name: 'admission', match: { path_prefix: '/adm/' }, upstream: 'sim', rewrite_prefix: '/', dialect: 'openai' },
];

/** A gateway whose per-x-user budgets are `keys` ([regexp, tokens]); `enforce` on the three dialect routes. */
async function gatewayWith(keys, { enforce = 'stream' } = {}) {
  const port = await freePort();
  const adminPort = await freePort();
  const rateLimitLog = path.join(h.tmpDir(), 'ratelimit.log');
  const cfg = gatewayConfig({ port, upstreams: [{ name: 'sim', url: sim.url }], routes: ROUTES, server: { ratelimit_log: rateLimitLog } });
  cfg.admin = { listen: `127.0.0.1:${adminPort}`, token: ADMIN_TOKEN };
  // `per: hour`: a test takes seconds, and a bucket per user value keeps tests apart.
  const limits = (tokens) => [{ tokens, per: 'hour' }];
  const rule = {
    name: 'user', by: 'per_header', header: 'x-user',
    keys: [...keys.map(([re, tokens]) => ({ key: `regexp:${re}`, limits: limits(tokens) })), '*'],
    limits: limits(1_000_000_000),
  };
  cfg.rate_limits = {
    policies: [
      { name: 'stream', routes: ['openai', 'anthropic', 'gemini'], reservation: 'prompt', enforce, rules: [rule] },
      { name: 'plain', routes: ['admission'], reservation: 'prompt', rules: [rule] },
    ],
  };
  const g = await h.gateway(cfg);
  return Object.assign(g, { adminPort, rateLimitLog });
}

async function simStats() {
  const r = await request({ port: sim.port, method: 'GET', path: '/sim/stats' });
  return JSON.parse(r.text);
}

const rid = (res) => res.headers['x-request-id'] ?? res.headers.get?.('x-request-id');
const logLine = async (g, id) => (await accessLogLines(g, [id]))[0];

before(async () => {
  sim = await h.sim();
  // The prompt estimates, from a gateway that reserves the prompt and never cuts.
  const probe = await gatewayWith([], { enforce: 'admission' });
  const o = await postJSON(probe.port, '/v1/chat/completions', { model: 'gpt-4o-mini', messages: MESSAGES, stream: true }, { 'x-sim-tokens': '1', 'x-user': 'probe' });
  const a = await postJSON(probe.port, '/anthropic/v1/messages', { ...ANTHROPIC, stream: true }, { 'x-sim-tokens': '1', 'x-user': 'probe' });
  const g = await postJSON(probe.port, GEMINI_PATH, GEMINI_BODY, { 'x-sim-tokens': '1', 'x-user': 'probe' });
  for (const r of [o, a, g]) assert.equal(r.status, 200, r.text);
  E.openai = (await logLine(probe, rid(o))).reserved_tokens;
  E.anthropic = (await logLine(probe, rid(a))).reserved_tokens;
  E.gemini = (await logLine(probe, rid(g))).reserved_tokens;
  for (const v of Object.values(E)) assert.ok(v > 0, `${JSON.stringify(E)} ${probe.proc.out.slice(0, 3000)}`);
  gw = await gatewayWith([
    ['^oa-', E.openai + EXTRA],
    ['^an-', E.anthropic + EXTRA],
    ['^ge-', E.gemini + EXTRA],
    ['^many-', STREAMS * E.openai + EXTRA],
  ]);
  openai = new OpenAI({ baseURL: `http://127.0.0.1:${gw.port}/v1`, apiKey: 'dummy', maxRetries: 0, timeout: 20000 });
  anthropic = new Anthropic({ baseURL: `http://127.0.0.1:${gw.port}/anthropic`, apiKey: 'dummy', maxRetries: 0, timeout: 20000 });
}, { timeout: 60000 });

test('OpenAI SDK: a stream past the budget ends with finish_reason length and the usage chunk; charged what was relayed', { timeout: 30000 }, async () => {
  const before = await simStats();
  const who = user('oa');
  const { data, response } = await openai.chat.completions.create({
    model: 'gpt-4o-mini', messages: MESSAGES, stream: true, stream_options: { include_usage: true },
  }, { headers: { ...simKnobs, 'x-user': who } }).withResponse();
  let textChunks = 0;
  let finish = null;
  let usage = null;
  for await (const c of data) {
    if (c.choices[0]?.delta?.content) textChunks += 1;
    if (c.choices[0]?.finish_reason) finish = c.choices[0].finish_reason;
    if (c.usage) usage = c.usage;
  }
  assert.equal(finish, 'length');
  assert.equal(textChunks, EXTRA);
  assert.ok(usage, 'include_usage: the gateway sent the usage chunk');
  assert.deepEqual([usage.prompt_tokens, usage.completion_tokens, usage.total_tokens], [E.openai, EXTRA, E.openai + EXTRA]);
  const line = await logLine(gw, response.headers.get('x-request-id'));
  assert.equal(line.stream_cut, 'budget');
  assert.deepEqual([line.status, line.input_tokens, line.output_tokens], [200, E.openai, EXTRA]);
  // The upstream connection was closed: the simulator saw its stream aborted.
  await waitFor(async () => (await simStats()).streams_aborted > before.streams_aborted, { what: 'the simulator sees the stream aborted' });
  // Used up to the token: the next request does not fit.
  const next = await postJSON(gw.port, '/v1/chat/completions', { model: 'gpt-4o-mini', messages: MESSAGES }, { 'x-user': who, 'x-sim-tokens': '1' });
  assert.equal(next.status, 429, next.text);
  assert.equal(next.headers['x-ratelimit-remaining-tokens'], '0');
});

test('OpenAI without include_usage: the cut stream has no usage chunk (the injected one is the gateway\'s) and ends with [DONE]', { timeout: 30000 }, async () => {
  const r = await streamRequest({
    port: gw.port, path: '/v1/chat/completions',
    body: { model: 'gpt-4o-mini', messages: MESSAGES, stream: true }, headers: { ...simKnobs, 'x-user': user('oa') },
  });
  assert.equal(r.status, 200);
  assert.ok(r.complete, 'a complete chunked response');
  assert.equal(r.events.at(-1).data, '[DONE]');
  const chunks = jsonEvents(r.events);
  assert.equal(chunks.filter((c) => c.choices?.[0]?.delta?.content).length, EXTRA);
  assert.ok(chunks.every((c) => !c.usage), 'no usage chunk');
  assert.equal(chunks.at(-1).choices[0].finish_reason, 'length');
  assert.equal(chunks.at(-1).id, chunks[0].id, 'the final chunk carries the stream\'s id');
});

test('Anthropic SDK: messages.stream ends with stop_reason max_tokens and usage.output_tokens = relayed', { timeout: 30000 }, async () => {
  const who = user('an');
  const stream = anthropic.messages.stream({ ...ANTHROPIC }, { headers: { ...simKnobs, 'x-user': who } });
  let deltas = 0;
  let counted = 0;
  stream.on('text', (t) => { deltas += 1; counted += estimate(t); });
  const m = await stream.finalMessage();
  assert.equal(m.stop_reason, 'max_tokens');
  // message_start reports the prompt (the simulator's count): the budget covers that and the
  // output, so output = budget - reported input.
  assert.equal(m.usage.input_tokens + m.usage.output_tokens, E.anthropic + EXTRA);
  assert.equal(counted, m.usage.output_tokens, 'charged what was relayed');
  assert.ok(deltas > 0 && deltas <= EXTRA, `${deltas} deltas`);
  assert.equal(m.content[0].type, 'text');
  const next = await postJSON(gw.port, '/anthropic/v1/messages', ANTHROPIC, { 'x-user': who, 'x-sim-tokens': '1' });
  assert.equal(next.status, 429, next.text);
});

test('Gemini streamGenerateContent?alt=sse: the last event has finishReason MAX_TOKENS and usageMetadata', { timeout: 30000 }, async () => {
  const r = await streamRequest({ port: gw.port, path: GEMINI_PATH, body: GEMINI_BODY, headers: { ...simKnobs, 'x-user': user('ge') } });
  assert.equal(r.status, 200);
  assert.ok(r.complete);
  const evs = jsonEvents(r.events);
  const texts = evs.map((e) => e.candidates?.[0]?.content?.parts?.[0]?.text ?? '').reduce((n, t) => n + estimate(t), 0);
  const last = evs.at(-1);
  assert.equal(last.candidates[0].finishReason, 'MAX_TOKENS');
  // Gemini reports the prompt in every chunk: the budget covers it and the output.
  const u = last.usageMetadata;
  assert.equal(u.promptTokenCount + u.candidatesTokenCount, E.gemini + EXTRA);
  assert.equal(texts, u.candidatesTokenCount, 'charged what was relayed');
  assert.equal(u.totalTokenCount, u.promptTokenCount + u.candidatesTokenCount);
});

test(`${STREAMS} concurrent streams on one budget: together they relay exactly what it leaves`, { timeout: 30000 }, async () => {
  const who = user('many');
  // The first token comes 500 ms after the head, so that all streams are admitted (each
  // reserves its prompt) before any of them draws on what is left.
  const runs = await Promise.all(Array.from({ length: STREAMS }, () => streamRequest({
    port: gw.port, path: '/v1/chat/completions',
    body: { model: 'gpt-4o-mini', messages: MESSAGES, stream: true }, headers: { ...simKnobs, 'x-sim-ttft-ms': '500', 'x-user': who },
  })));
  let relayed = 0;
  for (const r of runs) {
    assert.equal(r.status, 200);
    assert.ok(r.complete);
    const chunks = jsonEvents(r.events);
    relayed += chunks.filter((c) => c.choices?.[0]?.delta?.content).length;
    assert.equal(chunks.at(-1).choices[0].finish_reason, 'length');
  }
  assert.equal(relayed, EXTRA, 'the streams together relayed the budget left after the prompts, to the token');
  const lines = await accessLogLines(gw, runs.map((r) => r.headers['x-request-id']));
  assert.equal(lines.reduce((n, l) => n + l.output_tokens, 0), EXTRA, 'and were charged it');
});

test('enforce: admission (the default) lets a started stream run to its end', { timeout: 30000 }, async () => {
  const r = await streamRequest({
    port: gw.port, path: '/adm/v1/chat/completions',
    body: { model: 'gpt-4o-mini', messages: MESSAGES, stream: true }, headers: { ...simKnobs, 'x-user': user('oa') },
  });
  assert.equal(r.status, 200);
  const chunks = jsonEvents(r.events);
  assert.equal(chunks.filter((c) => c.choices?.[0]?.delta?.content).length, TOKENS);
  assert.equal(chunks.find((c) => c.choices?.[0]?.finish_reason)?.choices[0].finish_reason, 'stop');
});

test('the cut is counted: tokengate_stream_cuts_total and a stream_cut line in the rate-limit event log', { timeout: 30000 }, async () => {
  const r = await streamRequest({
    port: gw.port, path: '/v1/chat/completions',
    body: { model: 'gpt-4o-mini', messages: MESSAGES, stream: true }, headers: { ...simKnobs, 'x-user': user('oa') },
  });
  const id = r.headers['x-request-id'];
  const line = await waitFor(() => {
    const text = fs.existsSync(gw.rateLimitLog) ? fs.readFileSync(gw.rateLimitLog, 'utf8') : '';
    return text.split('\n').filter(Boolean).map((l) => JSON.parse(l)).find((l) => l.request_id === id);
  }, { what: 'the rate-limit log line' });
  assert.deepEqual([line.decision, line.policy, line.rule, line.relayed_tokens, line.status], ['stream_cut', 'stream', 'user', E.openai + EXTRA, 200]);
  const m = await request({ port: gw.adminPort, method: 'GET', path: '/metrics', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  assert.equal(m.status, 200);
  const cuts = /^tokengate_stream_cuts_total\{route="openai"\} (\d+)$/m.exec(m.text);
  assert.ok(cuts && Number(cuts[1]) >= 3, `stream cuts on the openai route: ${cuts?.[0]}`);
  // A cut stream's usage is the gateway's count of what it relayed: an estimate of an
  // incomplete response, not a complete one whose provider reported nothing.
  const incomplete = /^tokengate_usage_estimated_total\{route="openai",reason="incomplete"\} (\d+)$/m.exec(m.text);
  assert.ok(incomplete && Number(incomplete[1]) >= 3, `incomplete estimates on the openai route: ${incomplete?.[0]}`);
  assert.doesNotMatch(m.text, /^tokengate_usage_estimated_total\{route="openai",reason="missing"\} [1-9]/m);
});
