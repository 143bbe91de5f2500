// Token accounting: every LLM request's access-log line carries model, dialect, stream and the
// usage record (input/cached/cache-write/output/reasoning/total tokens and usage_source).
//
// The expected numbers always come from the simulator itself: the same request is sent to the
// simulator directly and its own usage object is read, so nothing here hard-codes the prompt
// token rule. Covered: every dialect streaming and non-streaming, the include_usage injection
// (and the removal of the extra usage chunk from the client's stream), the route option
// inject_include_usage: false, estimates (client disconnect, upstream cut, upstream without
// usage), gzip upstream bodies, invalid JSON bodies, what the upstream is sent, and the
// `tokengate tokens` command.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import http from 'node:http';
import zlib from 'node:zlib';
import {
  harness, freePort, gatewayConfig, request, postJSON, streamRequest, parseSse, parseAccessLog, waitFor, sleep,
  openaiError, anthropicError, GATEWAY_BIN, REPO,
} from './lib.mjs';

const h = harness();
let sim;
let rec;          // a recording fake upstream (sees exactly what the gateway sends)
let getGw;

before(async () => {
  sim = await h.sim();
  rec = await recordingUpstream();
  getGw = h.restartingGateway((port) => gatewayConfig({
    port,
    upstreams: [
      { name: 'sim', url: sim.url },
      { name: 'rec', url: `http://127.0.0.1:${rec.port}` },
    ],
    routes: [
      { name: 'anthropic', match: { path_prefix: '/anthropic/' }, upstream: 'sim', rewrite_prefix: '/', dialect: 'anthropic' },
      { name: 'gemini', match: { path_prefix: '/v1beta/' }, upstream: 'sim', dialect: 'gemini' },
      { name: 'noinject', match: { path_prefix: '/noinject/' }, upstream: 'sim', rewrite_prefix: '/', dialect: 'openai', inject_include_usage: false },
      { name: 'rec', match: { path_prefix: '/rec/' }, upstream: 'rec', rewrite_prefix: '/', dialect: 'openai' },
      { name: 'rec-noinject', match: { path_prefix: '/recnoinject/' }, upstream: 'rec', rewrite_prefix: '/', dialect: 'openai', inject_include_usage: false },
      { name: 'openai', match: { path_prefix: '/' }, upstream: 'sim', dialect: 'openai' },
    ],
  }));
  await getGw();
}, { timeout: 60000 });

// ---------------------------------------------------------------------------------------------
// Requests of every dialect.

const SYSTEM = 'You are a terse assistant that answers in one line.';
const PROMPT = 'Please list a few short English function words, separated by single spaces.';
const GEMINI_BODY = {
  systemInstruction: { parts: [{ text: SYSTEM }] },
  contents: [{ role: 'user', parts: [{ text: PROMPT }] }],
};

/**
 * One case per dialect and streaming mode. `family` selects how usage and tokens are read.
 * `path` is the gateway path; the simulator accepts the same path (any prefix) directly.
 */
const CASES = [
  { dialect: 'openai_chat', family: 'chat', stream: false, model: 'gpt-4o-mini', path: '/v1/chat/completions',
    body: { model: 'gpt-4o-mini', messages: [{ role: 'system', content: SYSTEM }, { role: 'user', content: PROMPT }] } },
  { dialect: 'openai_chat', family: 'chat', stream: true, model: 'gpt-4o-mini', path: '/v1/chat/completions',
    body: { model: 'gpt-4o-mini', stream: true, messages: [{ role: 'system', content: SYSTEM }, { role: 'user', content: PROMPT }] } },
  { dialect: 'openai_completions', family: 'completions', stream: false, model: 'gpt-4o-mini', path: '/v1/completions',
    body: { model: 'gpt-4o-mini', prompt: PROMPT } },
  { dialect: 'openai_completions', family: 'completions', stream: true, model: 'gpt-4o-mini', path: '/v1/completions',
    body: { model: 'gpt-4o-mini', prompt: PROMPT, stream: true } },
  { dialect: 'openai_responses', family: 'responses', stream: false, model: 'gpt-4o-mini', path: '/v1/responses',
    body: { model: 'gpt-4o-mini', instructions: SYSTEM, input: PROMPT } },
  { dialect: 'openai_responses', family: 'responses', stream: true, model: 'gpt-4o-mini', path: '/v1/responses',
    body: { model: 'gpt-4o-mini', instructions: SYSTEM, input: PROMPT, stream: true } },
  { dialect: 'openai_embeddings', family: 'embeddings', stream: false, model: 'text-embedding-3-small', path: '/v1/embeddings',
    body: { model: 'text-embedding-3-small', input: [PROMPT, SYSTEM] } },
  { dialect: 'anthropic', family: 'anthropic', stream: false, model: 'claude-sonnet-4-5', path: '/anthropic/v1/messages',
    body: { model: 'claude-sonnet-4-5', max_tokens: 64, system: SYSTEM, messages: [{ role: 'user', content: PROMPT }] } },
  { dialect: 'anthropic', family: 'anthropic', stream: true, model: 'claude-sonnet-4-5', path: '/anthropic/v1/messages',
    body: { model: 'claude-sonnet-4-5', max_tokens: 64, system: SYSTEM, messages: [{ role: 'user', content: PROMPT }], stream: true } },
  { dialect: 'gemini_generate', family: 'gemini', stream: false, model: 'gemini-2.5-flash',
    path: '/v1beta/models/gemini-2.5-flash:generateContent', body: GEMINI_BODY },
  { dialect: 'gemini_stream_sse', family: 'gemini', stream: true, sse: true, model: 'gemini-2.5-flash',
    path: '/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse', body: GEMINI_BODY },
  { dialect: 'gemini_stream', family: 'gemini', stream: true, sse: false, model: 'gemini-2.5-flash',
    path: '/v1beta/models/gemini-2.5-flash:streamGenerateContent', body: GEMINI_BODY },
];
const STREAM_CASES = CASES.filter((c) => c.stream);
const caseName = (c) => `${c.dialect} ${c.stream ? 'streaming' : 'non-streaming'}`;
const findCase = (dialect, stream) => CASES.find((c) => c.dialect === dialect && c.stream === stream);

const knobs = (tokens, extra = {}) => ({ 'x-sim-tokens': String(tokens), ...extra });

/** A request that never rejects on transport errors; resolves { status, headers, raw, complete, error, requestId }. */
async function send(port, c, headers = {}, body = c.body, path = c.path) {
  const s = await streamRequest({
    port, path, headers: { accept: c.stream ? 'text/event-stream' : 'application/json', ...headers }, body, timeout: 20000,
  });
  return { ...s, requestId: s.headers['x-request-id'] };
}

/** The sim's own usage, as the gateway should log it, from a response body of `c`'s family. */
function simUsage(c, text) {
  const fromOpenAI = (u) => ({
    input_tokens: u.prompt_tokens,
    cached_input_tokens: u.prompt_tokens_details?.cached_tokens ?? 0,
    cache_write_input_tokens: 0,
    output_tokens: u.completion_tokens ?? 0,
    reasoning_tokens: u.completion_tokens_details?.reasoning_tokens ?? 0,
    total_tokens: u.total_tokens,
  });
  const fromResponses = (u) => ({
    input_tokens: u.input_tokens,
    cached_input_tokens: u.input_tokens_details?.cached_tokens ?? 0,
    cache_write_input_tokens: 0,
    output_tokens: u.output_tokens,
    reasoning_tokens: u.output_tokens_details?.reasoning_tokens ?? 0,
    total_tokens: u.total_tokens,
  });
  const fromGemini = (m) => ({
    input_tokens: m.promptTokenCount,
    cached_input_tokens: m.cachedContentTokenCount ?? 0,
    cache_write_input_tokens: 0,
    output_tokens: m.candidatesTokenCount + (m.thoughtsTokenCount ?? 0),
    reasoning_tokens: m.thoughtsTokenCount ?? 0,
    total_tokens: m.totalTokenCount,
  });
  const fromAnthropic = (start, outputTokens) => {
    const read = start.cache_read_input_tokens ?? 0;
    const write = start.cache_creation_input_tokens ?? 0;
    const input = start.input_tokens + read + write;
    return {
      input_tokens: input,
      cached_input_tokens: read,
      cache_write_input_tokens: write,
      output_tokens: outputTokens,
      reasoning_tokens: 0,
      total_tokens: input + outputTokens,
    };
  };
  if (!c.stream) {
    const b = JSON.parse(text);
    switch (c.family) {
      case 'chat': case 'completions': return fromOpenAI(b.usage);
      case 'embeddings': return fromOpenAI({ ...b.usage, completion_tokens: 0 });
      case 'responses': return fromResponses(b.usage);
      case 'anthropic': return fromAnthropic(b.usage, b.usage.output_tokens);
      case 'gemini': return fromGemini(b.usageMetadata);
      default: throw new Error(c.family);
    }
  }
  if (c.family === 'gemini' && !c.sse) return fromGemini(JSON.parse(text).at(-1).usageMetadata);
  const evs = parseSse(text).events.filter((e) => e.data !== '[DONE]').map((e) => JSON.parse(e.data));
  switch (c.family) {
    case 'chat': case 'completions': {
      const u = evs.filter((e) => e.usage);
      assert.equal(u.length, 1, `the direct stream has one usage chunk: ${text}`);
      return fromOpenAI(u[0].usage);
    }
    case 'responses': return fromResponses(evs.find((e) => e.type === 'response.completed').response.usage);
    case 'anthropic':
      return fromAnthropic(evs.find((e) => e.type === 'message_start').message.usage,
        evs.find((e) => e.type === 'message_delta').usage.output_tokens);
    case 'gemini': return fromGemini(evs.at(-1).usageMetadata);
    default: throw new Error(c.family);
  }
}

/** Does this parsed stream element carry one output token? */
function isTokenEvent(family, j) {
  switch (family) {
    case 'chat': return !!j.choices?.[0]?.delta?.content;
    case 'completions': return !!j.choices?.[0]?.text;
    case 'responses': return j.type === 'response.output_text.delta';
    case 'anthropic': return j.type === 'content_block_delta';
    case 'gemini': return !!j.candidates?.[0]?.content?.parts?.[0]?.text;
    default: throw new Error(family);
  }
}

/** Output tokens visible in a (possibly incomplete) client stream body. */
function countTokenEvents(c, text) {
  if (c.family === 'gemini' && !c.sse) {
    // "[{…}\r\n,{…}…": split on the element separator; the last piece may be partial.
    return text.replace(/^\[/, '').split('\r\n,').filter((p) => {
      try { return isTokenEvent('gemini', JSON.parse(p.replace(/\r\n\]$/, ''))); } catch { return false; }
    }).length;
  }
  return parseSse(text).events.filter((e) => e.data !== '[DONE]')
    .filter((e) => { try { return isTokenEvent(c.family, JSON.parse(e.data)); } catch { return false; } }).length;
}

/** The body of a stream/answer with per-request ids blanked (the sim's id counter differs). */
const normIds = (text) => text.replace(/"(id|item_id|responseId)":"[^"]*"/g, '"$1":"<id>"');

// ---------------------------------------------------------------------------------------------
// The access log.

/** The access-log line of `requestId` (waits for the flush). */
async function logLine(gw, requestId) {
  assert.ok(requestId, 'the response carries x-request-id');
  return waitFor(() => parseAccessLog(gw.proc.out).find((l) => l.request_id === requestId), {
    timeout: 5000, what: `the access-log line of ${requestId}; stdout so far:\n${gw.proc.out.slice(-3000)}`,
  });
}

const USAGE_FIELDS = ['input_tokens', 'cached_input_tokens', 'cache_write_input_tokens', 'output_tokens',
  'reasoning_tokens', 'total_tokens', 'usage_source'];
/** The usage record of a line (flat fields, or a nested "usage" object if the gateway used one). */
function usageOf(line) {
  const src = line.usage && typeof line.usage === 'object' ? line.usage : line;
  return Object.fromEntries(USAGE_FIELDS.filter((f) => f in src).map((f) => [f, src[f]]));
}

function assertLlmFields(line, c) {
  assert.equal(line.dialect, c.dialect, `dialect in ${JSON.stringify(line)}`);
  assert.equal(line.model, c.model, `model in ${JSON.stringify(line)}`);
  assert.equal(line.stream, c.stream, `stream in ${JSON.stringify(line)}`);
}

/** An estimated record: usage_source estimated, input > 0, output within [min, max], total = in + out. */
function assertEstimated(line, { min = 1, max, exact } = {}) {
  const u = usageOf(line);
  const desc = JSON.stringify(line);
  assert.equal(u.usage_source, 'estimated', `usage_source: ${desc}`);
  assert.ok(u.input_tokens > 0, `input_tokens > 0: ${desc}`);
  if (exact !== undefined) {
    assert.equal(u.output_tokens, exact, `output_tokens == ${exact}: ${desc}`);
  } else {
    assert.ok(u.output_tokens >= min, `output_tokens ${u.output_tokens} >= ${min}: ${desc}`);
    if (max !== undefined) assert.ok(u.output_tokens <= max, `output_tokens ${u.output_tokens} <= ${max}: ${desc}`);
  }
  assert.equal(u.total_tokens, u.input_tokens + u.output_tokens, `total = input + output: ${desc}`);
  for (const f of ['cached_input_tokens', 'cache_write_input_tokens', 'reasoning_tokens']) {
    assert.equal(typeof u[f], 'number', `${f}: ${desc}`);
  }
}

/** The reference answer: the same request straight to the simulator. Chat/completions streams ask for usage. */
async function direct(c, headers, { includeUsage = true } = {}) {
  let body = c.body;
  if (c.stream && includeUsage && (c.family === 'chat' || c.family === 'completions')) {
    body = { ...body, stream_options: { include_usage: true } };
  }
  const d = await send(sim.port, c, headers, body);
  assert.equal(d.status, 200, `direct: ${d.raw}`);
  assert.equal(d.error, null, `direct: ${d.error}`);
  return d;
}

// ---------------------------------------------------------------------------------------------
// Reported usage, every dialect.

let knobSeq = 5;
for (const c of CASES) {
  test(`${caseName(c)}: the access log carries the simulator's usage (reported)`, { timeout: 20000 }, async () => {
    const gw = await getGw();
    const tokens = knobSeq++;
    const hdr = knobs(tokens);
    const ref = await direct(c, hdr);
    const want = { ...simUsage(c, ref.raw), usage_source: 'reported' };
    if (c.family !== 'embeddings') assert.equal(want.output_tokens, tokens, 'the sim generated the knob count');
    assert.ok(want.input_tokens > 0);

    const r = await send(gw.port, c, hdr);
    assert.equal(r.status, 200, r.raw);
    assert.equal(r.error, null, `through the gateway: ${r.error}`);
    if (c.stream) assert.equal(countTokenEvents(c, r.raw), tokens, 'every token event reached the client');
    const line = await logLine(gw, r.requestId);
    assert.equal(line.status, 200);
    assertLlmFields(line, c);
    assert.deepEqual(usageOf(line), want, `access-log line: ${JSON.stringify(line)}`);
  });
}

test('knobs in the model suffix: the log counts what the sim generated', { timeout: 20000 }, async () => {
  const gw = await getGw();
  const body = { model: 'gpt-4o-mini@tokens=3', messages: [{ role: 'user', content: PROMPT }] };
  const ref = await postJSON(sim.port, '/v1/chat/completions', body);
  const r = await postJSON(gw.port, '/v1/chat/completions', body);
  assert.equal(r.status, 200, r.text);
  const line = await logLine(gw, r.headers['x-request-id']);
  assert.equal(line.dialect, 'openai_chat');
  assert.equal(line.stream, false);
  assert.deepEqual(usageOf(line), { ...simUsage(CASES[0], ref.text), usage_source: 'reported' });
  assert.equal(usageOf(line).output_tokens, 3);
});

test('an upstream error answer is logged with usage_source none', { timeout: 20000 }, async () => {
  const gw = await getGw();
  const c = findCase('openai_chat', false);
  const r = await send(gw.port, c, { 'x-sim-status': '429' });
  assert.equal(r.status, 429);
  const line = await logLine(gw, r.requestId);
  assert.equal(line.dialect, 'openai_chat');
  assert.equal(usageOf(line).usage_source, 'none', JSON.stringify(line));
});

// ---------------------------------------------------------------------------------------------
// Streams reach the client as the simulator sent them.

// (chat and completions streams are compared below, with and without include_usage)
for (const c of STREAM_CASES.filter((x) => x.family !== 'chat' && x.family !== 'completions')) {
  test(`${c.dialect} stream through the gateway equals the direct stream (ids normalised)`, { timeout: 20000 }, async () => {
    const gw = await getGw();
    const hdr = knobs(6);
    const ref = await direct(c, hdr, { includeUsage: false });
    const r = await send(gw.port, c, hdr);
    assert.equal(r.status, 200, r.raw);
    assert.equal(r.error, null);
    assert.equal(normIds(r.raw), normIds(ref.raw));
  });
}

for (const c of [findCase('openai_chat', true), findCase('openai_completions', true)]) {
  test(`${c.dialect} without include_usage: no usage chunk reaches the client, same events, usage reported`, { timeout: 20000 }, async () => {
    const gw = await getGw();
    const hdr = knobs(9);
    const plain = await direct(c, hdr, { includeUsage: false });
    const withUsage = await direct(c, hdr, { includeUsage: true });
    const r = await send(gw.port, c, hdr);
    assert.equal(r.status, 200, r.raw);
    assert.equal(r.error, null);
    const evs = parseSse(r.raw).events;
    const refEvs = parseSse(plain.raw).events;
    assert.equal(evs.at(-1).data, '[DONE]');
    const chunks = evs.filter((e) => e.data !== '[DONE]').map((e) => JSON.parse(e.data));
    assert.deepEqual(chunks.filter((j) => j.usage != null || (Array.isArray(j.choices) && j.choices.length === 0)), [],
      'the usage chunk the gateway asked for must not reach the client');
    assert.equal(evs.length, refEvs.length, `event count: gateway ${evs.length}, direct ${refEvs.length}`);
    assert.equal(countTokenEvents(c, r.raw), 9);
    const text = (raw) => parseSse(raw).events.filter((e) => e.data !== '[DONE]').map((e) => JSON.parse(e.data))
      .map((j) => j.choices?.[0]?.delta?.content ?? j.choices?.[0]?.text ?? '').join('');
    assert.equal(text(r.raw), text(plain.raw));
    const line = await logLine(gw, r.requestId);
    assert.deepEqual(usageOf(line), { ...simUsage(c, withUsage.raw), usage_source: 'reported' }, JSON.stringify(line));
  });

  test(`${c.dialect} without include_usage: the client stream is byte-identical to the direct one (ids normalised)`, { timeout: 20000 }, async () => {
    const gw = await getGw();
    const hdr = knobs(4);
    const plain = await direct(c, hdr, { includeUsage: false });
    const r = await send(gw.port, c, hdr);
    assert.equal(r.status, 200, r.raw);
    assert.equal(normIds(r.raw), normIds(plain.raw));
  });

  test(`${c.dialect} with include_usage:true: the usage chunk reaches the client untouched`, { timeout: 20000 }, async () => {
    const gw = await getGw();
    const hdr = knobs(7);
    const body = { ...c.body, stream_options: { include_usage: true } };
    const ref = await send(sim.port, c, hdr, body);
    const r = await send(gw.port, c, hdr, body);
    assert.equal(r.status, 200, r.raw);
    assert.equal(normIds(r.raw), normIds(ref.raw));
    const usageChunks = parseSse(r.raw).events.filter((e) => e.data !== '[DONE]').map((e) => JSON.parse(e.data)).filter((j) => j.usage);
    assert.equal(usageChunks.length, 1);
    assert.deepEqual(usageChunks[0].choices, []);
    assert.equal(usageChunks[0].usage.completion_tokens, 7);
    const line = await logLine(gw, r.requestId);
    assert.deepEqual(usageOf(line), { ...simUsage(c, ref.raw), usage_source: 'reported' }, JSON.stringify(line));
  });

  test(`${c.dialect} with include_usage:false: the client gets no usage chunk; usage still logged`, { timeout: 20000 }, async () => {
    const gw = await getGw();
    const hdr = knobs(5);
    const body = { ...c.body, stream_options: { include_usage: false } };
    const ref = await send(sim.port, c, hdr, body);
    const r = await send(gw.port, c, hdr, body);
    assert.equal(r.status, 200, r.raw);
    const chunks = parseSse(r.raw).events.filter((e) => e.data !== '[DONE]').map((e) => JSON.parse(e.data));
    assert.deepEqual(chunks.filter((j) => j.usage != null), [], 'no usage chunk');
    assert.equal(parseSse(r.raw).events.length, parseSse(ref.raw).events.length);
    const line = await logLine(gw, r.requestId);
    const u = usageOf(line);
    assert.ok(['reported', 'estimated'].includes(u.usage_source), JSON.stringify(line));
    assert.equal(u.output_tokens, 5, JSON.stringify(line));
    assert.ok(u.input_tokens > 0);
  });

  test(`${c.dialect} on a route with inject_include_usage: false: stream untouched, usage estimated`, { timeout: 20000 }, async () => {
    const gw = await getGw();
    const hdr = knobs(8);
    const ref = await direct(c, hdr, { includeUsage: false });
    const r = await send(gw.port, c, hdr, c.body, `/noinject${c.path}`);
    assert.equal(r.status, 200, r.raw);
    assert.equal(normIds(r.raw), normIds(ref.raw), 'the stream is relayed unchanged');
    const line = await logLine(gw, r.requestId);
    assert.equal(line.route, 'noinject');
    assertLlmFields(line, c);
    // Each simulated word is exactly one token for gpt-4o models: the estimate is exact.
    assertEstimated(line, { exact: 8 });

    // A client that asks for usage itself still gets it, and the log says reported.
    const body = { ...c.body, stream_options: { include_usage: true } };
    const ref2 = await send(sim.port, c, hdr, body);
    const r2 = await send(gw.port, c, hdr, body, `/noinject${c.path}`);
    assert.equal(normIds(r2.raw), normIds(ref2.raw));
    const line2 = await logLine(gw, r2.requestId);
    assert.deepEqual(usageOf(line2), { ...simUsage(c, ref2.raw), usage_source: 'reported' }, JSON.stringify(line2));
  });
}

// ---------------------------------------------------------------------------------------------
// What the upstream is sent (a recording fake upstream).

function recordingUpstream() {
  const seen = [];
  const chunk = (o) => `data: ${JSON.stringify(o)}\n\n`;
  const base = { id: 'chatcmpl-rec', object: 'chat.completion.chunk', created: 1700000000, model: 'gpt-4o-mini' };
  return h.fakeUpstream((sock) => {
    let buf = Buffer.alloc(0);
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      const he = buf.indexOf('\r\n\r\n');
      if (he < 0) return;
      const head = buf.subarray(0, he).toString('latin1');
      const m = /\r\ncontent-length:\s*(\d+)/i.exec(head);
      const len = m ? Number(m[1]) : 0;
      if (buf.length < he + 4 + len) return;
      const body = buf.subarray(he + 4, he + 4 + len);
      const headers = {};
      for (const l of head.split('\r\n').slice(1)) {
        const i = l.indexOf(':');
        const k = l.slice(0, i).trim().toLowerCase();
        headers[k] = k in headers ? `${headers[k]}, ${l.slice(i + 1).trim()}` : l.slice(i + 1).trim();
      }
      seen.push({ head, headers, body });
      buf = Buffer.alloc(0);
      let parsed = {};
      try { parsed = JSON.parse(body.toString('utf8')); } catch { /* recorded as is */ }
      const usage = { prompt_tokens: 11, completion_tokens: 2, total_tokens: 13 };
      let payload;
      let type;
      if (parsed.stream) {
        type = 'text/event-stream';
        const withUsage = parsed.stream_options?.include_usage === true;
        const u = withUsage ? { usage: null } : {};
        payload = chunk({ ...base, choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }], ...u })
          + chunk({ ...base, choices: [{ index: 0, delta: { content: ' the' }, finish_reason: null }], ...u })
          + chunk({ ...base, choices: [{ index: 0, delta: { content: ' of' }, finish_reason: null }], ...u })
          + chunk({ ...base, choices: [{ index: 0, delta: {}, finish_reason: 'stop' }], ...u })
          + (withUsage ? chunk({ ...base, choices: [], usage }) : '')
          + 'data: [DONE]\n\n';
      } else {
        type = 'application/json';
        payload = JSON.stringify({ id: 'chatcmpl-rec', object: 'chat.completion', created: 1700000000, model: 'gpt-4o-mini',
          choices: [{ index: 0, message: { role: 'assistant', content: ' the of' }, finish_reason: 'stop' }], usage });
      }
      sock.end(`HTTP/1.1 200 OK\r\ncontent-type: ${type}\r\ncontent-length: ${Buffer.byteLength(payload)}\r\nconnection: close\r\n\r\n${payload}`);
    });
  }).then((state) => Object.assign(state, { seen }));
}

test('the upstream is asked for identity encoding and, on a stream without it, for include_usage', { timeout: 20000 }, async () => {
  const gw = await getGw();
  const before = rec.seen.length;
  const body = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: PROMPT }], stream: true, temperature: 0.5 };
  const r = await streamRequest({ port: gw.port, path: '/rec/v1/chat/completions', headers: { 'accept-encoding': 'gzip, br' }, body });
  assert.equal(r.status, 200, r.raw);
  assert.equal(rec.seen.length, before + 1, 'one upstream request');
  const up = rec.seen.at(-1);
  assert.equal(up.headers['accept-encoding'], 'identity', `upstream request head:\n${up.head}`);
  const sent = JSON.parse(up.body.toString('utf8'));
  assert.equal(sent.stream_options?.include_usage, true, `upstream body: ${up.body}`);
  assert.equal(sent.stream, true);
  assert.equal(sent.temperature, 0.5, 'other fields kept');
  assert.deepEqual(sent.messages, body.messages, 'other fields kept');
  // The client sees no usage chunk, and the log has the upstream's numbers.
  const chunks = parseSse(r.raw).events.filter((e) => e.data !== '[DONE]').map((e) => JSON.parse(e.data));
  assert.equal(chunks.length, 4, r.raw);
  assert.deepEqual(chunks.filter((j) => j.usage != null || j.choices?.length === 0), [], `client stream: ${r.raw}`);
  const line = await logLine(gw, r.headers['x-request-id']);
  const u = usageOf(line);
  assert.equal(u.usage_source, 'reported', JSON.stringify(line));
  assert.equal(u.input_tokens, 11);
  assert.equal(u.output_tokens, 2);
});

test('a non-streaming request body and an inject-off stream body reach the upstream unchanged', { timeout: 20000 }, async () => {
  const gw = await getGw();
  const text = '{"model":"gpt-4o-mini", "messages":[{"role":"user","content":"hi"}],  "n":1}';
  const r = await request({ port: gw.port, path: '/rec/v1/chat/completions', method: 'POST', body: text, headers: { 'content-type': 'application/json' } });
  assert.equal(r.status, 200, r.text);
  assert.equal(rec.seen.at(-1).body.toString('utf8'), text);
  assert.equal(rec.seen.at(-1).headers['accept-encoding'], 'identity');
  const streamText = '{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}]}';
  const s = await request({ port: gw.port, path: '/recnoinject/v1/chat/completions', method: 'POST', body: streamText, headers: { 'content-type': 'application/json' } });
  assert.equal(s.status, 200, s.text);
  assert.equal(rec.seen.at(-1).body.toString('utf8'), streamText, 'inject_include_usage: false forwards the body as sent');
});

// ---------------------------------------------------------------------------------------------
// Estimates.

/**
 * A streaming request that is destroyed by the client once `afterTokens` token events arrived.
 * Resolves { status, requestId, tokens } (the tokens the client had received).
 */
function streamThenDisconnect(port, c, headers, afterTokens) {
  return new Promise((resolve, reject) => {
    let settled = false;
    const settle = (fn, v) => { if (!settled) { settled = true; clearTimeout(timer); fn(v); } };
    const req = http.request({
      host: '127.0.0.1', port, method: 'POST', path: c.path, agent: false,
      headers: { 'content-type': 'application/json', accept: 'text/event-stream', ...headers },
    }, (res) => {
      const requestId = res.headers['x-request-id'];
      let text = '';
      res.setEncoding('utf8');
      res.on('error', () => {});
      res.on('data', (d) => {
        if (settled) return;
        text += d;
        const tokens = countTokenEvents(c, text);
        if (tokens >= afterTokens) {
          req.destroy();
          settle(resolve, { status: res.statusCode, requestId, tokens });
        }
      });
      res.on('end', () => settle(reject, new Error(`the stream ended before the client disconnected: ${text}`)));
    });
    const timer = setTimeout(() => { req.destroy(); settle(reject, new Error('disconnect test timed out')); }, 15000);
    req.on('error', (e) => settle(reject, e));
    req.end(JSON.stringify(c.body));
  });
}

for (const c of STREAM_CASES) {
  test(`${c.dialect}: the client disconnects mid-stream → estimated, non-zero, at most what was relayed`, { timeout: 20000 }, async () => {
    const gw = await getGw();
    const d = await streamThenDisconnect(gw.port, c, knobs(20, { 'x-sim-delay-ms': '100' }), 2);
    assert.equal(d.status, 200);
    const line = await logLine(gw, d.requestId);
    assertLlmFields(line, c);
    // The gateway may have relayed an event or two more before it noticed the disconnect.
    assertEstimated(line, { min: 1, max: d.tokens + 3 });
  });
}

for (const c of STREAM_CASES) {
  test(`${c.dialect}: the upstream cuts the stream → estimated, non-zero, at most what was sent`, { timeout: 20000 }, async () => {
    const gw = await getGw();
    const r = await send(gw.port, c, knobs(10, { 'x-sim-cut-after': '3' }));
    assert.equal(r.status, 200);
    assert.equal(r.complete, false, 'the client sees an incomplete stream');
    assert.ok(countTokenEvents(c, r.raw) <= 3, r.raw);
    const line = await logLine(gw, r.requestId);
    assertLlmFields(line, c);
    assertEstimated(line, { min: 1, max: 3 + 1 });
  });
}

test('non-streaming answer cut by the upstream → estimated, not more than the sim generated', { timeout: 20000 }, async () => {
  const gw = await getGw();
  const c = findCase('openai_chat', false);
  const r = await send(gw.port, c, knobs(10, { 'x-sim-cut-after': '2' }));
  assert.equal(r.complete, false, 'the client sees an incomplete body');
  const line = await logLine(gw, r.requestId);
  assertLlmFields(line, c);
  // Half of the JSON body reached the gateway; at most 10 tokens were generated.
  assertEstimated(line, { min: 0, max: 10 });
});

for (const c of STREAM_CASES) {
  const exact = c.model.startsWith('gpt-4o');
  test(`${c.dialect}: the upstream omits usage → estimated${exact ? ', equal to the knob' : ', non-zero'}`, { timeout: 20000 }, async () => {
    const gw = await getGw();
    const r = await send(gw.port, c, knobs(12, { 'x-sim-omit-usage': '1' }));
    assert.equal(r.status, 200, r.raw);
    assert.equal(r.error, null);
    assert.equal(countTokenEvents(c, r.raw), 12);
    assert.doesNotMatch(r.raw, /prompt_tokens|usageMetadata|"input_tokens"/, 'the sim sent no usage');
    const line = await logLine(gw, r.requestId);
    assertLlmFields(line, c);
    // Each simulated word is one token for OpenAI's tokenizers; other families get a rough estimate.
    assertEstimated(line, exact ? { exact: 12 } : { min: 1, max: 24 });
  });
}

for (const dialect of ['openai_chat', 'openai_completions', 'openai_responses']) {
  const c = findCase(dialect, false);
  test(`${dialect} non-streaming, the upstream omits usage → estimated output equals the knob`, { timeout: 20000 }, async () => {
    const gw = await getGw();
    const r = await send(gw.port, c, knobs(7, { 'x-sim-omit-usage': '1' }));
    assert.equal(r.status, 200, r.raw);
    assert.doesNotMatch(r.raw, /"usage"\s*:\s*\{/, 'the sim sent no usage');
    const line = await logLine(gw, r.requestId);
    assertLlmFields(line, c);
    // The answer text is " the of and to in is it": 7 tokens for gpt-4o models.
    assertEstimated(line, { exact: 7 });
  });
}

// ---------------------------------------------------------------------------------------------
// gzip upstream answers.

/** Body text of a response that may be gzip-encoded. */
function decoded(r) {
  return /gzip/i.test(r.headers['content-encoding'] ?? '') ? zlib.gunzipSync(r.body).toString('utf8') : r.body.toString('utf8');
}

test('gzip (forced by the sim), non-streaming chat: reported usage, decodable body', { timeout: 20000 }, async () => {
  const gw = await getGw();
  const c = findCase('openai_chat', false);
  const hdr = knobs(6, { 'x-sim-gzip': '1', 'accept-encoding': 'gzip' });
  const ref = await request({ port: sim.port, path: c.path, body: c.body, headers: { ...hdr } });
  assert.equal(ref.headers['content-encoding'], 'gzip', 'the sim sends gzip');
  const r = await request({ port: gw.port, path: c.path, body: c.body, headers: { ...hdr } });
  assert.equal(r.status, 200);
  const text = decoded(r);
  assert.equal(normIds(text), normIds(decoded(ref)));
  const line = await logLine(gw, r.headers['x-request-id']);
  assert.deepEqual(usageOf(line), { ...simUsage(c, decoded(ref)), usage_source: 'reported' }, JSON.stringify(line));
});

test('gzip (forced by the sim), streaming chat with include_usage: reported usage, decodable stream', { timeout: 20000 }, async () => {
  const gw = await getGw();
  const c = findCase('openai_chat', true);
  const hdr = knobs(5, { 'x-sim-gzip': '1', 'accept-encoding': 'gzip' });
  const body = { ...c.body, stream_options: { include_usage: true } };
  const ref = await request({ port: sim.port, path: c.path, body, headers: { ...hdr } });
  const r = await request({ port: gw.port, path: c.path, body, headers: { ...hdr } });
  assert.equal(r.status, 200);
  const text = decoded(r);
  assert.equal(normIds(text), normIds(decoded(ref)));
  const line = await logLine(gw, r.headers['x-request-id']);
  assert.deepEqual(usageOf(line), { ...simUsage(c, decoded(ref)), usage_source: 'reported' }, JSON.stringify(line));
});

test('gzip (forced by the sim), streaming chat without include_usage: reported, and no usage chunk reaches the client', { timeout: 20000 }, async () => {
  const gw = await getGw();
  const c = findCase('openai_chat', true);
  const hdr = knobs(5, { 'x-sim-gzip': '1', 'accept-encoding': 'gzip' });
  const plain = await request({ port: sim.port, path: c.path, body: c.body, headers: { ...hdr } });
  const withUsage = await request({ port: sim.port, path: c.path, body: { ...c.body, stream_options: { include_usage: true } }, headers: { ...hdr } });
  const r = await request({ port: gw.port, path: c.path, body: c.body, headers: { ...hdr } });
  assert.equal(r.status, 200);
  const text = decoded(r);
  const line = await logLine(gw, r.headers['x-request-id']);
  assert.deepEqual(usageOf(line), { ...simUsage(c, decoded(withUsage)), usage_source: 'reported' }, JSON.stringify(line));
  const chunks = parseSse(text).events.filter((e) => e.data !== '[DONE]').map((e) => JSON.parse(e.data));
  assert.deepEqual(chunks.filter((j) => j.usage != null), [], `a usage chunk the client did not ask for reached it:\n${text}`);
  assert.equal(normIds(text), normIds(decoded(plain)));
});

test('gzip (forced by the sim), streaming Anthropic: reported usage, decodable stream', { timeout: 20000 }, async () => {
  const gw = await getGw();
  const c = findCase('anthropic', true);
  const hdr = knobs(4, { 'x-sim-gzip': '1', 'accept-encoding': 'gzip' });
  const ref = await request({ port: sim.port, path: c.path, body: c.body, headers: { ...hdr } });
  const r = await request({ port: gw.port, path: c.path, body: c.body, headers: { ...hdr } });
  assert.equal(r.status, 200);
  assert.equal(normIds(decoded(r)), normIds(decoded(ref)));
  const line = await logLine(gw, r.headers['x-request-id']);
  assert.deepEqual(usageOf(line), { ...simUsage(c, decoded(ref)), usage_source: 'reported' }, JSON.stringify(line));
});

// ---------------------------------------------------------------------------------------------
// Invalid JSON.

async function simRequests() {
  return (await request({ port: sim.port, path: '/sim/stats' })).json().requests;
}

test('invalid JSON on an OpenAI LLM path → 400 invalid_json in OpenAI format, not forwarded', { timeout: 20000 }, async () => {
  const gw = await getGw();
  const n0 = await simRequests();
  for (const p of ['/v1/chat/completions', '/v1/completions', '/v1/responses', '/v1/embeddings']) {
    const r = await request({ port: gw.port, path: p, method: 'POST', body: '{"model":"gpt-4o-mini","messages":[', headers: { 'content-type': 'application/json' } });
    assert.equal(r.status, 400, `${p}: ${r.text}`);
    const b = openaiError(r, { code: 'invalid_json' });
    assert.equal(b.error.type, 'invalid_request_error', r.text);
  }
  const n1 = await simRequests();
  assert.equal(n1, n0 + 1, 'only the stats request reached the sim');
});

test('invalid JSON on an anthropic route → 400 in Anthropic format', { timeout: 20000 }, async () => {
  const gw = await getGw();
  const r = await request({ port: gw.port, path: '/anthropic/v1/messages', method: 'POST', body: '{nope', headers: { 'content-type': 'application/json' } });
  assert.equal(r.status, 400, r.text);
  const b = anthropicError(r);
  assert.equal(b.error.type, 'invalid_request_error', r.text);
});

test('a non-JSON body on a non-LLM path is forwarded as usual', { timeout: 20000 }, async () => {
  const gw = await getGw();
  const r = await request({ port: gw.port, path: '/v1/sim/echo', method: 'POST', body: '{nope', headers: { 'content-type': 'application/json' } });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json().body_bytes, 5);
});

// ---------------------------------------------------------------------------------------------
// tokengate tokens.

/** Runs the gateway binary with `input` on stdin. */
function runTokens(args, input) {
  return new Promise((resolve) => {
    const child = spawn(GATEWAY_BIN, args, { cwd: REPO, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), 15000);
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    child.on('close', (code, signal) => { clearTimeout(timer); resolve({ code, signal, stdout, stderr }); });
    child.stdin.on('error', () => {});
    child.stdin.end(input ?? '');
  });
}

const SIM_WORDS = ' the of and to in is it that for on with as was at by be';

test('tokens: stdin, exact for OpenAI models', { timeout: 20000 }, async () => {
  const r = await runTokens(['tokens', '--model', 'gpt-4o'], 'hello world');
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), '2');
  const e = await runTokens(['tokens', '--model', 'gpt-4o-mini'], '');
  assert.equal(e.code, 0, e.stderr);
  assert.equal(e.stdout.trim(), '0');
});

test('tokens: a file of the 16 sim words is 16 tokens (o200k and cl100k models)', { timeout: 20000 }, async () => {
  const file = h.writeFile('words.txt', SIM_WORDS);
  for (const model of ['gpt-4o', 'gpt-4o-mini', 'gpt-4']) {
    const r = await runTokens(['tokens', '--model', model, file]);
    assert.equal(r.code, 0, `${model}: ${r.stderr}`);
    assert.equal(r.stdout.trim(), '16', `${model}: ${r.stdout}`);
  }
  // The sim's text repeats the words: 64 words are 64 tokens.
  const file64 = h.writeFile('words64.txt', SIM_WORDS.repeat(4));
  const r = await runTokens(['tokens', '--model', 'gpt-4o', file64]);
  assert.equal(r.stdout.trim(), '64');
});

test('tokens: an unknown model family prints an estimate and a note on stderr, exit 0', { timeout: 20000 }, async () => {
  const r = await runTokens(['tokens', '--model', 'totally-unknown-model-x'], 'a'.repeat(400));
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout.trim(), /^\d+$/, `stdout: ${JSON.stringify(r.stdout)}`);
  assert.ok(Number(r.stdout.trim()) > 0);
  assert.ok(r.stderr.trim().length > 0, 'a note on stderr');
});

// Keep the process alive long enough for the last access-log flush before the harness stops it.
test('all access-log lines are JSON', { timeout: 10000 }, async () => {
  const gw = await getGw();
  await sleep(200);
  for (const line of gw.proc.out.split('\n').filter(Boolean)) assert.doesNotThrow(() => JSON.parse(line), line);
});
