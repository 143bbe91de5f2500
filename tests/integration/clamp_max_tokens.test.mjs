// clamp_max_tokens (issue 15 part 1): an admitted request's output cap is lowered to what the
// consumer's token budget has left before it is forwarded, in every dialect's own field, and
// the upstream receives the lowered cap (the simulator records the cap it was sent:
// /sim/stats last_max_tokens). Budgets here are token buckets per consumer with a
// prompt-only reservation, so after request k the budget left is
//   limit - (what earlier requests were charged) - (this request's prompt estimate),
// and the prompt estimate is the access log's reserved_tokens.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { harness, freePort, gatewayConfig, postJSON, request, accessLogLines } from './lib.mjs';

const h = harness();
const LIMIT = 1000;
const MESSAGES = [{ role: 'user', content: 'Say something.' }];
const KNOBS = { 'x-sim-tokens': '20' };
let gw;
let sim;
let port;
let run = 0;

before(async () => {
  sim = await h.sim();
  port = await freePort();
  const cfg = gatewayConfig({
    port,
    upstreams: [{ name: 'sim', url: sim.url }],
    routes: [
      { name: 'openai', match: { path_prefix: '/v1/' }, upstream: 'sim', dialect: 'openai' },
      { name: 'anthropic', match: { path_prefix: '/anthropic/' }, upstream: 'sim', rewrite_prefix: '/', dialect: 'anthropic' },
      { name: 'gemini', match: { path_prefix: '/v1beta/' }, upstream: 'sim', dialect: 'gemini' },
      { name: 'plain', match: { path_prefix: '/plain/' }, upstream: 'sim', rewrite_prefix: '/', dialect: 'openai' },
    ],
  });
  const limits = [{ tokens: LIMIT, per: 'hour' }];
  const rules = [{ name: 'user', by: 'per_header', header: 'x-user', limits }];
  cfg.rate_limits = {
    policies: [
      { name: 'clamped', routes: ['openai', 'anthropic', 'gemini'], algorithm: 'token_bucket', reservation: 'prompt', clamp_max_tokens: true, rules },
      { name: 'unclamped', routes: ['plain'], algorithm: 'token_bucket', reservation: 'prompt', rules },
    ],
  };
  gw = await h.gateway(cfg);
});

const lastCap = async () =>
  JSON.parse((await request({ port: sim.port, method: 'GET', path: '/sim/stats' })).text).last_max_tokens;

async function send(path, body, user) {
  const r = await postJSON(port, path, body, { ...KNOBS, 'x-user': user, 'anthropic-version': '2023-06-01' });
  assert.equal(r.status, 200, r.text);
  const [line] = await accessLogLines(gw, [r.headers['x-request-id']]);
  return { r, line, sent: await lastCap() };
}

test('OpenAI chat: a max_tokens above the budget is lowered to it; the next request gets what is left', { timeout: 30000 }, async () => {
  const user = `u${++run}`;
  const a = await send('/v1/chat/completions', { model: 'gpt-4o', max_tokens: 4096, messages: MESSAGES }, user);
  const want1 = LIMIT - a.line.reserved_tokens;
  assert.equal(a.sent, want1, 'the upstream was asked for the budget left');
  assert.equal(a.line.max_tokens_clamped, want1);
  const charged1 = a.line.total_tokens;
  // Without a cap of its own: max_completion_tokens is added, for what is left now.
  const b = await send('/v1/chat/completions', { model: 'gpt-4o', messages: MESSAGES }, user);
  const want2 = LIMIT - charged1 - b.line.reserved_tokens;
  assert.equal(b.sent, want2);
  assert.equal(b.line.max_tokens_clamped, want2);
  assert.ok(want2 < want1);
  // A cap already under the budget is sent as it is.
  const c = await send('/v1/chat/completions', { model: 'gpt-4o', max_tokens: 5, messages: MESSAGES }, user);
  assert.equal(c.sent, 5);
  assert.equal(c.line.max_tokens_clamped, undefined);
});

test('Anthropic and Gemini: their own cap fields are lowered (Gemini generationConfig added)', { timeout: 30000 }, async () => {
  const user = `u${++run}`;
  const a = await send('/anthropic/v1/messages', { model: 'claude-sonnet-4-5', max_tokens: 8192, messages: MESSAGES }, user);
  assert.equal(a.sent, LIMIT - a.line.reserved_tokens);
  const g = await send('/v1beta/models/gemini-2.0-flash:generateContent',
    { contents: [{ role: 'user', parts: [{ text: 'Say something.' }] }] }, user);
  assert.equal(g.sent, LIMIT - a.line.total_tokens - g.line.reserved_tokens);
  assert.equal(g.line.max_tokens_clamped, g.sent);
});

test('a policy without clamp_max_tokens forwards the cap unchanged', { timeout: 30000 }, async () => {
  const p = await send('/plain/v1/chat/completions', { model: 'gpt-4o', max_tokens: 4096, messages: MESSAGES }, `u${++run}`);
  assert.equal(p.sent, 4096);
  assert.equal(p.line.max_tokens_clamped, undefined);
});
