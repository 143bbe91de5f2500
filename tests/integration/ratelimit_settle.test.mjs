// Settlement end to end (issue 4): the overshoot scenario of the issue (limit 100 tokens per
// minute, every request really uses 60, 20 concurrent: strict reserve-and-settle admits at most
// what fits and the bucket ends up holding exactly what the upstream reported; the
// Higress-compatible check-then-charge mode is measured and its overshoot printed), and
// settlement exactly once on every exit path: success, upstream error, upstream timeout,
// unreachable upstream, upstream without usage, a stream cut by the upstream, a client that goes
// away while the upstream is still thinking, and a client that abandons a stream in the middle
// (still charged, with the estimate).
//
// A bucket's recorded usage is read back through the gateway: the "Used N" of a 429, or the
// x-ratelimit-remaining-tokens of a probe request in the same bucket (remaining = limit - used -
// the probe's own reservation, which the access log reports).
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import {
  harness, freePort, gatewayConfig, postJSON, parseAccessLog, waitFor, openaiError, awaitWindowRoom, accessLogLines,
} from './lib.mjs';

const h = harness();
let sim;
let P;        // prompt tokens of chatBody() as the simulator counts them

const MINUTE = 60_000;

function chatBody({ max, model = 'gpt-4o-mini', stream = false } = {}) {
  return {
    model,
    messages: [{ role: 'user', content: 'Say something.' }],
    ...(max !== undefined ? { max_tokens: max } : {}),
    ...(stream ? { stream: true, stream_options: { include_usage: true } } : {}),
  };
}
const knobs = (tokens, extra = {}) => ({ 'x-sim-tokens': String(tokens), ...extra });
const chat = (gw, body, headers = {}, p = '/v1/chat/completions') => postJSON(gw.port, p, body, headers, { timeout: 20000 });
const rid = (r) => r.headers['x-request-id'];
const usedFromMessage = (msg) => {
  const m = /Used (\d+)/.exec(msg);
  assert.ok(m, `no "Used N" in ${JSON.stringify(msg)}`);
  return Number(m[1]);
};
const HIGRESS_REDIS = { service_name: 'redis.static', service_port: 6379, timeout: 1000 };

async function startGateway({ rateLimits, higress, upstreams = [], routes = [] } = {}) {
  const port = await freePort();
  const cfg = gatewayConfig({
    port,
    upstreams: [{ name: 'sim', url: sim.url }, ...upstreams],
    routes: [...routes, { name: 'openai', match: { path_prefix: '/' }, upstream: 'sim', dialect: 'openai' }],
  });
  if (rateLimits) cfg.rate_limits = rateLimits;
  if (higress) cfg.higress = higress;
  // These suites test the embedded store: a Higress `redis:` block would otherwise select the
  // Redis store (there is none here; tests/integration/redis*.test.mjs cover that).
  cfg.store = { type: 'memory' };
  return h.gateway(cfg);
}

before(async () => {
  sim = await h.sim();
  const r = await postJSON(sim.port, '/v1/chat/completions', chatBody({ max: 1 }), knobs(1));
  assert.equal(r.status, 200, r.text);
  P = r.json().usage.prompt_tokens;
}, { timeout: 60000 });

// ---------------------------------------------------------------------------------------------
// The overshoot scenario of the issue.

/**
 * 20 concurrent requests that each really use 60 tokens (P prompt + 60-P output, max_tokens set),
 * against a limit of 100 tokens per minute. Returns what happened, measured.
 */
async function overshootRound(gw, { concurrency = 20, ttftMs = 300 } = {}) {
  const T = 60 - P;
  assert.ok(T > 0, `the prompt (${P} tokens) must be under 60`);
  const direct = await postJSON(sim.port, '/v1/chat/completions', chatBody({ max: T }), knobs(T));
  assert.equal(direct.json().usage.total_tokens, 60, 'one request really uses 60 tokens');
  await awaitWindowRoom(MINUTE, 20000);
  const rs = await Promise.all(Array.from({ length: concurrency }, () => chat(gw, chatBody({ max: T }), knobs(T, { 'x-sim-ttft-ms': String(ttftMs) }))));
  const lines = await accessLogLines(gw, rs.map(rid), { timeout: 10000 });
  const admitted = rs.filter((r) => r.status === 200);
  const rejected = rs.filter((r) => r.status !== 200);
  const upstreamTotal = admitted.reduce((s, r) => s + r.json().usage.total_tokens, 0);
  return { rs, lines, admitted, rejected, upstreamTotal, T };
}

test('overshoot, strict reserve-and-settle: 100 tokens/minute, 20 concurrent requests of 60 tokens', { timeout: 90000 }, async () => {
  const LIMIT = 100;
  const gw = await startGateway({
    rateLimits: {
      policies: [{
        name: 'overshoot', reservation: 'prompt_plus_max',
        rules: [{ name: 'tpm', by: 'global', limits: [{ tokens: LIMIT, per: 'minute' }] }],
      }],
    },
  });
  const { rs, lines, admitted, rejected, upstreamTotal, T } = await overshootRound(gw);
  assert.ok(admitted.length >= 1 && admitted.length <= 2, `admitted ${admitted.length} (statuses ${rs.map((r) => r.status)})`);
  const reserved = lines.find((l) => l.status === 200).reserved_tokens;
  assert.equal(reserved, P + T, 'reservation = prompt estimate + max_tokens');
  if (reserved > LIMIT / 2) assert.equal(admitted.length, 1, 'two reservations of more than half the limit never fit');
  for (const r of rejected) {
    assert.equal(r.status, 429, r.text);
    openaiError(r, { code: 'rate_limit_exceeded' });
  }
  for (const l of lines) assert.equal(l.ratelimit, l.status === 200 ? 'allowed' : 'rejected', JSON.stringify(l));
  const loggedTotal = lines.filter((l) => l.status === 200).reduce((s, l) => s + l.total_tokens, 0);
  assert.equal(loggedTotal, upstreamTotal, 'the log records what the upstream reported');

  // The bucket now holds exactly what the upstream produced for the admitted requests.
  const probe = await chat(gw, chatBody({ max: T }), knobs(T));
  assert.equal(probe.status, 429, probe.text);
  assert.equal(usedFromMessage(openaiError(probe).error.message), upstreamTotal);
  assert.equal(Number(probe.headers['x-ratelimit-remaining-tokens']), Math.max(0, LIMIT - upstreamTotal));
  console.log(`[overshoot strict] admitted ${admitted.length}/20, bucket used ${upstreamTotal}/${LIMIT} (overshoot ${Math.max(0, upstreamTotal - LIMIT)})`);
  assert.ok(upstreamTotal <= LIMIT, `strict mode never overshoots with max_tokens honoured: ${upstreamTotal}`);
});

test('overshoot, Higress-compatible check-then-charge (higress: block): measured', { timeout: 90000 }, async () => {
  const LIMIT = 100;
  // Two measurements: upstream answers taking 300 ms (the 20 requests overlap, as real LLM calls
  // do), and answering at once (some requests may be charged before others are checked).
  for (const ttftMs of [300, 0]) {
    const gw = await startGateway({
      higress: { rule_name: 'overshoot_rule', global_threshold: { token_per_minute: LIMIT }, redis: HIGRESS_REDIS },
    });
    const { rs, lines, admitted, rejected, upstreamTotal } = await overshootRound(gw, { ttftMs });
    assert.ok(admitted.length >= 1, `at least one request is admitted (statuses ${rs.map((r) => r.status)})`);
    for (const r of rejected) {
      assert.equal(r.status, 429, r.text);
      assert.equal(r.text, 'Too many requests', 'Higress default rejected_msg');
    }
    for (const l of lines) {
      assert.equal(l.ratelimit, l.status === 200 ? 'allowed' : 'rejected', JSON.stringify(l));
      if (l.status === 200) assert.ok(!l.reserved_tokens, `check-then-charge reserves nothing: ${JSON.stringify(l)}`);
    }
    const loggedTotal = lines.filter((l) => l.status === 200).reduce((s, l) => s + l.total_tokens, 0);
    assert.equal(loggedTotal, upstreamTotal, 'the log records what the upstream reported');
    const overshoot = Math.max(0, upstreamTotal - LIMIT);
    console.log(`[overshoot higress_compatible, upstream ttft ${ttftMs} ms] admitted ${admitted.length}/20, charged ${upstreamTotal} tokens against a limit of ${LIMIT}: overshoot ${overshoot} tokens (${Math.round((100 * upstreamTotal) / LIMIT)}% of the limit)`);
    // Once charged, the bucket rejects when (and only when) used > limit, as Higress does.
    const probe = await chat(gw, chatBody({ max: 1 }), knobs(1));
    assert.equal(probe.status, upstreamTotal > LIMIT ? 429 : 200, `used ${upstreamTotal}: ${probe.status} ${probe.text}`);
    assert.equal(Number(probe.headers['x-ratelimit-remaining-tokens']), Math.max(0, LIMIT - upstreamTotal));
  }
});

// ---------------------------------------------------------------------------------------------
// A stream cut by the client is still charged.

test('a stream the client abandons is charged with the estimated usage', { timeout: 60000 }, async () => {
  const LIMIT = 100_000;
  const TOKENS = 400;
  const gw = await startGateway({
    rateLimits: { policies: [{ name: 'streams', reservation: 'prompt_plus_max', rules: [{ by: 'global', limits: [{ tokens: LIMIT, per: 'minute' }] }] }] },
  });
  await awaitWindowRoom(MINUTE, 15000);
  const body = JSON.stringify(chatBody({ max: TOKENS, stream: true }));
  const cut = await new Promise((resolve, reject) => {
    const req = http.request({
      host: '127.0.0.1', port: gw.port, method: 'POST', path: '/v1/chat/completions', agent: false,
      headers: { 'content-type': 'application/json', accept: 'text/event-stream', ...knobs(TOKENS, { 'x-sim-delay-ms': '20' }) },
    }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => {
        text += d;
        if ((text.match(/\n\n/g) ?? []).length >= 5) {
          req.destroy();
          resolve({ status: res.statusCode, headers: res.headers, text });
        }
      });
      res.on('error', () => {});
      res.on('end', () => reject(new Error('the stream ended before the client cut it')));
    });
    req.on('error', () => {});
    req.setTimeout(20000, () => { req.destroy(); reject(new Error('stream timed out')); });
    req.end(body);
  });
  assert.equal(cut.status, 200);
  const [l] = await accessLogLines(gw, [cut.headers['x-request-id']], { timeout: 15000 });
  assert.equal(l.ratelimit, 'allowed');
  assert.equal(l.reserved_tokens, P + TOKENS);
  assert.equal(l.usage_source, 'estimated', JSON.stringify(l));
  assert.ok(l.output_tokens >= 1 && l.output_tokens < TOKENS, `estimated output of a cut stream: ${JSON.stringify(l)}`);
  assert.ok(l.total_tokens > 0);

  // The bucket holds exactly that estimate: neither the reservation nor zero.
  const next = await chat(gw, chatBody({ max: 5 }), knobs(5));
  assert.equal(next.status, 200, next.text);
  const [ln] = await accessLogLines(gw, [rid(next)]);
  assert.equal(Number(next.headers['x-ratelimit-remaining-tokens']), LIMIT - l.total_tokens - ln.reserved_tokens,
    `remaining after the cut stream (${l.total_tokens} estimated) and this reservation (${ln.reserved_tokens})`);
});


// ---------------------------------------------------------------------------------------------
// Settlement on every exit path.

/** Sends a request and destroys it `ms` after sending (before any response is read). */
function abortAfter(port, p, body, headers, ms) {
  return new Promise((resolve) => {
    const req = http.request({
      host: '127.0.0.1', port, method: 'POST', path: p, agent: false,
      headers: { 'content-type': 'application/json', ...headers },
    }, (res) => { res.resume(); resolve({ status: res.statusCode, early: true }); });
    req.on('error', () => {});
    req.end(JSON.stringify(body));
    setTimeout(() => { req.destroy(); resolve({ status: 0 }); }, ms);
  });
}

test('settlement exactly once on every exit path: the bucket keeps what the access log reports, never the reservation', { timeout: 90000 }, async () => {
  const LIMIT = 100_000;
  const MAX = 300;       // max_tokens of every request: the reservation is P + MAX
  const deadPort = await freePort();
  const gw = await startGateway({
    rateLimits: {
      policies: [{
        name: 'settle', reservation: 'prompt_plus_max',
        rules: [{ name: 'cases', by: 'per_header', header: 'x-case', limits: [{ tokens: LIMIT, per: 'minute' }] }],
      }],
    },
    upstreams: [
      { name: 'slow', url: sim.url, first_byte_timeout: '300ms' },
      { name: 'dead', url: `http://127.0.0.1:${deadPort}` },
    ],
    routes: [
      { name: 'slow', match: { path_prefix: '/slow/' }, upstream: 'slow', rewrite_prefix: '/', dialect: 'openai' },
      { name: 'dead', match: { path_prefix: '/dead/' }, upstream: 'dead', rewrite_prefix: '/', dialect: 'openai' },
    ],
  });
  await awaitWindowRoom(MINUTE, 25000);
  /** Tokens the bucket of `name` holds now, read through a probe request's remaining header. */
  const usedBy = async (name) => {
    const probe = await chat(gw, chatBody({ max: 1 }), { ...knobs(1), 'x-case': name });
    assert.equal(probe.status, 200, probe.text);
    const [lp] = await accessLogLines(gw, [rid(probe)]);
    return LIMIT - Number(probe.headers['x-ratelimit-remaining-tokens']) - lp.reserved_tokens;
  };
  const lineOf = (name) => waitFor(() => parseAccessLog(gw.proc.out).find((l) => l.path.endsWith(`?case=${name}`)),
    { timeout: 10000, what: `the access-log line of case ${name}` });
  const cases = [
    { name: 'ok', status: 200, source: 'reported', expect: P + 10, send: (hd) => chat(gw, chatBody({ max: MAX }), { ...knobs(10), ...hd }, '/v1/chat/completions?case=ok') },
    { name: 'upstream500', status: 500, expect: 0, send: (hd) => chat(gw, chatBody({ max: MAX }), { ...knobs(10, { 'x-sim-status': '500' }), ...hd }, '/v1/chat/completions?case=upstream500') },
    { name: 'unreachable', status: 502, expect: 0, send: (hd) => chat(gw, chatBody({ max: MAX }), { ...knobs(10), ...hd }, '/dead/v1/chat/completions?case=unreachable') },
    { name: 'timeout', status: 504, send: (hd) => chat(gw, chatBody({ max: MAX }), { ...knobs(10, { 'x-sim-ttft-ms': '3000' }), ...hd }, '/slow/v1/chat/completions?case=timeout') },
    { name: 'nousage', status: 200, source: 'estimated', send: (hd) => chat(gw, chatBody({ max: MAX }), { ...knobs(10, { 'x-sim-omit-usage': '1' }), ...hd }, '/v1/chat/completions?case=nousage') },
    { name: 'upstreamcut', status: 200, source: 'estimated', send: (hd) => chat(gw, chatBody({ max: MAX, stream: true }), { ...knobs(50, { 'x-sim-cut-after': '5' }), ...hd }, '/v1/chat/completions?case=upstreamcut').catch(() => ({ status: 200 })) },
    { name: 'clientgone', status: 0, send: (hd) => abortAfter(gw.port, '/v1/chat/completions?case=clientgone', chatBody({ max: MAX }), { ...knobs(10, { 'x-sim-ttft-ms': '1500' }), ...hd }, 300) },
  ];
  const report = [];
  for (const c of cases) {
    const r = await c.send({ 'x-case': c.name });
    assert.equal(r.status, c.status, `${c.name}: ${r.status} ${r.text ?? ''}`);
    const l = await lineOf(c.name);
    assert.equal(l.ratelimit, 'allowed', `${c.name}: ${JSON.stringify(l)}`);
    assert.equal(l.reserved_tokens, P + MAX, c.name);
    if (c.source) assert.equal(l.usage_source, c.source, `${c.name}: ${JSON.stringify(l)}`);
    const used = await usedBy(c.name);
    const logged = l.total_tokens ?? 0;
    report.push(`${c.name}: status ${l.status}, usage_source ${l.usage_source}, charged ${used}`);
    assert.equal(used, logged, `${c.name}: the bucket holds what the log reports (${JSON.stringify(l)})`);
    if (c.expect !== undefined) assert.equal(used, c.expect, `${c.name}: charged`);
    if (c.source === 'estimated') assert.ok(used > 0, `${c.name}: an estimate is charged`);
    assert.ok(used < P + MAX, `${c.name}: the reservation was settled, not kept`);
  }
  console.log(`[settlement] ${report.join('; ')}`);
});
