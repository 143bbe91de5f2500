// tokengate's metrics against a real Prometheus (the issue "the Grafana dashboard proven
// against a real Prometheus"). The gateway, the simulator and a Prometheus server (the
// `prometheus` binary, Debian's package) run on free loopback ports:
//
// - examples/prometheus-alerts.yaml passes `promtool check rules`, and its unit tests
//   (tests/prometheus/alerts_test.yaml) pass `promtool test rules`;
// - every gateway's /metrics passes `promtool check metrics` (the exposition linter) with no
//   finding at all;
// - Prometheus scrapes every gateway's admin listener (bearer token), loads the alerting
//   rules, evaluates them without error, and the alerts that the traffic provokes go pending;
// - every target expression of every panel of examples/grafana-dashboard.json (Grafana's
//   variables substituted), the dashboard's label_values() variables and every PromQL example
//   of docs/metrics.md are queried through /api/v1/query: each must succeed AND return at
//   least one series with a finite value.
//
// So that every series the dashboard and the docs use exists and moves, three gateways run
// (one worker each: breaker state is per worker, so one makes it exact):
// - main (memory store): key-auth consumers (alice gold, bob free with a small budget, so he
//   is rejected after a few requests and his requests exceed their reservation), a shadow rule
//   that would reject, an `on_limit: queue` policy that admits, queues and refuses, an
//   `enforce: stream` policy that cuts streams, an upstream whose circuit breaker is opened
//   (and stays open) and one with `max_concurrent` and a tiny queue, answers without usage and
//   cut answers (estimated usage), and more routes with a policy than the route families'
//   series cap (256), new ones hit while Prometheus scrapes, so tokengate_metrics_overflow_total
//   grows;
// - dead-redis: a Redis store on a port where nothing listens, with store_failure open, local
//   and closed policies (store errors, failure-policy events, store_unavailable decisions,
//   timed Redis calls that fail);
// - redis (when redis-server is on PATH): a Redis store on a real redis-server (Redis
//   latency of answered calls).
//
// Skipped when `prometheus` or `promtool` is not on PATH (the rules' checks need promtool only;
// PROMETHEUS_BIN / PROMTOOL_BIN override; Debian: apt-get install prometheus).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import {
  harness, freePort, gatewayConfig, postJSON, request, streamRequest, sleep, waitFor, now,
  REPO, STARTUP_MS, REDIS_SERVER_BIN, redisServer,
} from './lib.mjs';

function onPath(cmd) {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir && fs.existsSync(path.join(dir, cmd))) return path.join(dir, cmd);
  }
  return null;
}
const PROMETHEUS_BIN = process.env.PROMETHEUS_BIN || onPath('prometheus');
const PROMTOOL_BIN = process.env.PROMTOOL_BIN || onPath('promtool');
const notFound = (names) => (names.length
  ? `${names.join(' and ')} not found on PATH (apt-get install prometheus, or set PROMETHEUS_BIN / PROMTOOL_BIN)` : false);
const skip = notFound([!PROMETHEUS_BIN && 'prometheus', !PROMTOOL_BIN && 'promtool'].filter(Boolean));
const skipPromtool = notFound(PROMTOOL_BIN ? [] : ['promtool']);   // the rules' checks need promtool only

const ALERTS_FILE = path.join(REPO, 'examples', 'prometheus-alerts.yaml');
const ALERTS_TEST = path.join(REPO, 'tests', 'prometheus', 'alerts_test.yaml');
const DASHBOARD = path.join(REPO, 'examples', 'grafana-dashboard.json');
const METRICS_DOC = path.join(REPO, 'docs', 'metrics.md');

// Grafana's variables as the test substitutes them: every route and consumer, a rate window of
// 10 scrapes (scrape_interval is 1s), a range of a minute (the test runs for less).
const GRAFANA_VARS = { route: '.*', consumer: '.*', __rate_interval: '10s', __interval: '2s', __range: '1m' };

// Expressions that may only parse (status success) without returning data here, with the
// reason. Empty: every expression of the dashboard and of docs/metrics.md returns data in this
// setup. Add one only when no configuration and no traffic can make it return data.
const PARSE_ONLY = new Map([]);

const ADMIN_TOKEN = 'prom-scrape-token';
const OVERFLOW_ROUTES = 300;     // > 256, the series cap of the families labelled by route
const OVERFLOW_BEFORE = 264;     // hit before Prometheus starts (past the cap); the rest while it scrapes

// Filled by before().
let sim;
const gw = {};                   // name -> { name, port, adminPort, proc, metrics() }
let prom;                        // { port, proc, dir, targets }
let traffic;                     // the background traffic while Prometheus scrapes
// after() hooks run in the order they were registered: this one, before the harness's cleanup
// stops the processes, ends the traffic (and waits for its requests).
after(async () => { await traffic?.stop(); });
const h = harness();

// ---------------------------------------------------------------------------------------------
// Helpers.

/** Runs promtool with `args` (stdin: `input`), bounded. Resolves { code, signal, out }. */
function promtool(args, input = '') {
  return new Promise((resolve) => {
    const child = spawn(PROMTOOL_BIN, args, { cwd: REPO, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { out += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), 60000);
    child.on('error', (e) => { clearTimeout(timer); resolve({ code: null, signal: null, out: String(e) }); });
    child.on('close', (code, signal) => { clearTimeout(timer); resolve({ code, signal, out }); });
    child.stdin.on('error', () => {});
    child.stdin.end(input);
  });
}

async function promGet(p) {
  const r = await request({ port: prom.port, path: p, timeout: 10000 });
  let body;
  try { body = JSON.parse(r.text); } catch { body = { status: 'error', error: `not JSON (${r.status}): ${r.text.slice(0, 300)}` }; }
  return body;
}

const promQuery = (expr) => promGet(`/api/v1/query?query=${encodeURIComponent(expr)}`);

/** Grafana variables ($name, ${name}, ${name:format}) replaced; an unknown variable is an error. */
function substitute(expr) {
  return expr.replace(/\$\{(\w+)(?::\w+)?\}|\$(\w+)/g, (m, a, b) => {
    const v = GRAFANA_VARS[a ?? b];
    if (v === undefined) throw new Error(`unknown Grafana variable ${m} in ${expr}`);
    return v;
  });
}

/** Every target expression of the dashboard's panels (rows' nested panels included). */
function dashboardTargets() {
  const dash = JSON.parse(fs.readFileSync(DASHBOARD, 'utf8'));
  const out = [];
  const walk = (panels) => {
    for (const p of panels ?? []) {
      for (const t of p.targets ?? []) {
        if (typeof t.expr === 'string' && t.expr.trim() !== '') {
          out.push({ where: `panel "${p.title}" target ${t.refId ?? '?'}`, raw: t.expr, expr: substitute(t.expr) });
        }
      }
      walk(p.panels);
    }
  };
  walk(dash.panels);
  const variables = (dash.templating?.list ?? []).filter((v) => v.type === 'query').map((v) => ({
    name: v.name, query: typeof v.query === 'string' ? v.query : v.query?.query,
  }));
  return { targets: out, variables };
}

/** One expression per non-comment line of the ```promql blocks of docs/metrics.md. */
function docsExpressions() {
  const md = fs.readFileSync(METRICS_DOC, 'utf8');
  const out = [];
  for (const m of md.matchAll(/```promql\n([\s\S]*?)```/g)) {
    for (const line of m[1].split('\n')) {
      const l = line.trim();
      if (l !== '' && !l.startsWith('#')) out.push({ where: 'docs/metrics.md', raw: l, expr: l });
    }
  }
  return out;
}

/**
 * What a query gave: 'ok' (status success, a series or scalar with a finite value), or why not.
 * `parseOnly`: success is enough.
 */
function judge(body, parseOnly) {
  if (body.status !== 'success') return `status ${body.status}: ${body.errorType ?? ''} ${body.error ?? ''}`.trim();
  if (parseOnly) return 'ok';
  const { resultType, result } = body.data;
  const values = resultType === 'scalar' ? [result[1]]
    : resultType === 'vector' ? result.map((s) => s.value[1])
      : resultType === 'matrix' ? result.flatMap((s) => s.values.map((v) => v[1])) : [];
  if (values.length === 0) return 'no data (empty result)';
  if (!values.some((v) => Number.isFinite(Number(v)))) return `no finite value: ${JSON.stringify(result).slice(0, 300)}`;
  return 'ok';
}

/** Polls every expression until all are 'ok' (or the timeout); returns [{ where, raw, expr, verdict, body }]. */
async function queryAll(exprs, { timeout = 20000 } = {}) {
  const deadline = now() + timeout;
  let results;
  for (;;) {
    results = [];
    for (const e of exprs) {
      const body = await promQuery(e.expr);
      results.push({ ...e, body, verdict: judge(body, PARSE_ONLY.has(e.raw)) });
    }
    if (results.every((r) => r.verdict === 'ok') || now() > deadline) return results;
    await sleep(1000);
  }
}

function assertAllOk(results) {
  const bad = results.filter((r) => r.verdict !== 'ok');
  assert.equal(bad.length, 0, `${bad.length} of ${results.length} expressions failed:\n`
    + bad.map((r) => `- ${r.where}: ${r.verdict}\n    ${r.expr}`).join('\n'));
}

// ---------------------------------------------------------------------------------------------
// The gateways and their traffic.

const A = { authorization: 'Bearer sk-alice' };
const B = { authorization: 'Bearer sk-bob' };
const body = (extra = {}) => ({ model: 'gpt-4o-mini', max_tokens: 50, messages: [{ role: 'user', content: 'Say something.' }], ...extra });
// Never rejects: a cut answer (x-sim-cut-after) is a transport error on purpose.
const chat = (port, prefix, headers = {}, extra = {}) =>
  postJSON(port, `${prefix}/v1/chat/completions`, body(extra), headers, { timeout: 30000 })
    .catch((e) => ({ status: 'error', error: e }));
const stream = (port, prefix, headers = {}, extra = {}) =>
  streamRequest({ port, path: `${prefix}/v1/chat/completions`, body: body({ stream: true, ...extra }), headers, timeout: 30000 });

async function startGateway(name, { upstreams, routes, rateLimits, store }) {
  const port = await freePort();
  const adminPort = await freePort();
  const cfg = gatewayConfig({ port, server: { workers: 1, access_log: 'off' }, upstreams, routes });
  cfg.admin = { listen: `127.0.0.1:${adminPort}`, token: ADMIN_TOKEN };
  if (store) cfg.store = store;
  cfg.rate_limits = rateLimits;
  const g = await h.gateway(cfg);
  gw[name] = {
    name,
    port,
    adminPort,
    proc: g.proc,
    async metrics() {
      const r = await request({ port: adminPort, path: '/metrics', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
      assert.equal(r.status, 200, `${name} /metrics: ${r.status} ${r.text.slice(0, 300)}`);
      return r.text;
    },
  };
  return gw[name];
}

const overflowRoute = (i) => `r${String(i).padStart(3, '0')}`;

async function startMain() {
  const overflow = Array.from({ length: OVERFLOW_ROUTES }, (_, i) => overflowRoute(i));
  const to = (name, upstream, extra = {}) => ({ name, match: { path_prefix: `/${name}/` }, upstream, rewrite_prefix: '/', ...extra });
  return startGateway('main', {
    upstreams: [
      { name: 'sim', url: sim.url, circuit_breaker: {} },                 // closed: state 0
      { name: 'plain', url: sim.url },                                    // cut answers go here: no breaker
      { name: 'flaky', url: sim.url, circuit_breaker: { consecutive_failures: 2, open_for: '1h' } },
      { name: 'gated', url: sim.url, max_concurrent: 1, queue: { max_queued: 1, max_wait: '50ms' } },
    ],
    routes: [
      { name: 'chat', match: { path_prefix: '/v1/' }, upstream: 'sim', key_auth: 'optional' },
      to('flaky', 'flaky'), to('gated', 'gated'), to('queued', 'sim'), to('cut', 'plain'), to('est', 'plain'),
      ...overflow.map((n) => to(n, 'plain')),
    ],
    rateLimits: {
      consumers: [
        { name: 'alice', keys: ['sk-alice'], labels: { tier: 'gold' } },
        { name: 'bob', keys: ['sk-bob'], labels: { tier: 'free' } },
      ],
      policies: [
        {
          name: 'per-consumer', routes: ['chat'],
          rules: [{
            name: 'consumers', by: 'per_consumer',
            limits: [{ tokens: 10000000, per: 'minute' }],
            tiers: { free: [{ tokens: 1500, per: 'hour' }] },        // bob: ~9 requests, then 429
          }],
        },
        { name: 'shadow-cap', routes: ['chat'], shadow: true, rules: [{ name: 'global', by: 'global', limits: [{ requests: 5, per: 'minute' }] }] },
        {
          name: 'queued', routes: ['queued'], algorithm: 'token_bucket', on_limit: 'queue', max_wait: '1s', max_queued: 1,
          rules: [{ name: 'all', by: 'global', limits: [{ tokens: 100, per: 'second' }] }],
        },
        {
          name: 'stream-budget', routes: ['cut'], enforce: 'stream', reservation: 'prompt',
          rules: [{ name: 'all', by: 'global', limits: [{ tokens: 60, per: 'second' }] }],
        },
        { name: 'overflow', routes: overflow, rules: [{ name: 'all', by: 'global', limits: [{ tokens: 1000000000, per: 'minute' }] }] },
      ],
    },
  });
}

function redisGateway(name, address, policies) {
  return startGateway(name, {
    upstreams: [{ name: 'sim', url: sim.url }],
    routes: ['a', 'b', 'c'].map((n) => ({ name: n, match: { path_prefix: `/${n}/` }, upstream: 'sim', rewrite_prefix: '/' })),
    store: { type: 'redis', redis: { address, lease: 'exact', timeout: '200ms', connect_timeout: '200ms' } },
    rateLimits: { consumers: [{ name: 'alice', keys: ['sk-alice'] }], policies },
  });
}
const globalPolicy = (name, routes, extra = {}) =>
  ({ name, routes, ...extra, rules: [{ name: 'all', by: 'global', limits: [{ tokens: 10000000, per: 'minute' }] }] });

let nextOverflow = 0;

/** One round of mixed traffic over every gateway (a few dozen requests); resolves their statuses. */
async function round() {
  const m = gw.main.port;
  const jobs = [
    chat(m, '', { ...A, 'x-sim-tokens': '8' }),                                    // allowed; refund
    chat(m, '', { ...A, 'x-sim-tokens': '40' }, { max_tokens: 5 }),                // overshoot
    chat(m, '', { ...A, 'x-sim-tokens': '8' }, { model: 'gpt-4o' }),
    stream(m, '', { ...A, 'x-sim-tokens': '12', 'x-sim-ttft-ms': '5', 'x-sim-delay-ms': '1' }, { model: 'gpt-4o' }),
    stream(m, '', { ...A, 'x-sim-tokens': '6', 'x-sim-delay-ms': '1' }),
    chat(m, '', { ...B, 'x-sim-tokens': '150' }),                                  // bob: overshoot, then 429
    chat(m, '', B, { max_tokens: 5000 }),                                          // bob: too_large
    chat(m, '/flaky'),                                                             // 503 circuit_open
    chat(m, '/queued', { 'x-sim-tokens': '60' }, { max_tokens: 60 }),              // admitted / queued / refused
    chat(m, '/queued', { 'x-sim-tokens': '60' }, { max_tokens: 60 }),
    chat(m, '/queued', { 'x-sim-tokens': '60' }, { max_tokens: 60 }),
    ...[0, 1, 2].map(() => chat(m, '/gated', { 'x-sim-tokens': '4', 'x-sim-delay-ms': '25' })),  // 200 / timeout / full
    stream(m, '/cut', { 'x-sim-tokens': '100' }),                                  // cut by the stream budget
    chat(m, '/est', { 'x-sim-omit-usage': '1' }),                                  // estimated: missing
    chat(m, '/est', { 'x-sim-cut-after': '1' }),                                   // estimated: incomplete
    stream(m, '/est', { 'x-sim-tokens': '10', 'x-sim-cut-after': '3' }),
  ];
  if (nextOverflow < OVERFLOW_ROUTES) jobs.push(chat(m, `/${overflowRoute(nextOverflow++)}`, { 'x-sim-tokens': '1' }));
  for (const p of ['a', 'b', 'c']) jobs.push(chat(gw['dead-redis'].port, `/${p}`, { ...A, 'x-sim-tokens': '8' }));
  if (gw.redis) for (const p of ['a', 'b']) jobs.push(chat(gw.redis.port, `/${p}`, { ...A, 'x-sim-tokens': '8' }));
  return (await Promise.all(jobs)).map((r) => r.status);
}

/** Rounds back to back (at least `periodMs` apart) until stop(). */
function startTraffic(periodMs = 300) {
  let stopping = false;
  let rounds = 0;
  const loop = (async () => {
    while (!stopping) {
      const t0 = now();
      await round();
      rounds += 1;
      const left = periodMs - (now() - t0);
      if (left > 0 && !stopping) await sleep(left);
    }
  })();
  return {
    get rounds() { return rounds; },
    async stop() { stopping = true; await loop; },
  };
}

async function startPrometheus() {
  const dir = h.tmpDir();
  const port = await freePort();
  const targets = Object.values(gw).map((g) => `127.0.0.1:${g.adminPort}`);
  const config = [
    'global:',
    '  scrape_interval: 1s',
    '  scrape_timeout: 1s',
    '  evaluation_interval: 1s',
    'rule_files:',
    `  - ${JSON.stringify(ALERTS_FILE)}`,
    'scrape_configs:',
    '  - job_name: tokengate',
    '    metrics_path: /metrics',
    '    authorization:',
    `      credentials: ${JSON.stringify(ADMIN_TOKEN)}`,
    '    static_configs:',
    `      - targets: ${JSON.stringify(targets)}`,
    '',
  ].join('\n');
  const configFile = path.join(dir, 'prometheus.yml');
  fs.writeFileSync(configFile, config);
  fs.mkdirSync(path.join(dir, 'data'));
  const proc = h.spawn('prometheus', PROMETHEUS_BIN, [
    `--config.file=${configFile}`,
    `--storage.tsdb.path=${path.join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`,
    '--log.level=warn',
  ]);
  prom = { port, proc, dir, targets };
  await waitFor(async () => {
    if (!proc.running) throw new Error(`prometheus exited: ${JSON.stringify(proc.exit)}\n${proc.describe()}`);
    try { return (await request({ port, path: '/-/ready', timeout: 2000 })).status === 200; } catch { return false; }
  }, { timeout: STARTUP_MS, interval: 100, what: `prometheus ready on 127.0.0.1:${port}` })
    .catch((e) => { throw new Error(`${e.message}\n${proc.describe()}`); });
  return prom;
}

before(async () => {
  if (skip) return;
  sim = await h.sim({ args: ['--threads', '2'] });
  await startMain();
  const deadPort = await freePort();             // nothing listens there
  await redisGateway('dead-redis', `127.0.0.1:${deadPort}`, [
    globalPolicy('fail-open', ['a'], { store_failure: 'open' }),
    globalPolicy('fail-local', ['b'], { store_failure: 'local' }),
    globalPolicy('fail-closed', ['c'], { store_failure: 'closed' }),
  ]);
  if (REDIS_SERVER_BIN) {
    const redis = await redisServer(h);
    await redisGateway('redis', `127.0.0.1:${redis.port}`, [globalPolicy('shared', ['a', 'b'])]);
  }

  // Open the flaky upstream's circuit (2 consecutive 500s; open for an hour).
  for (let i = 0; i < 2; i++) {
    const r = await chat(gw.main.port, '/flaky', { 'x-sim-status': '500' });
    assert.equal(r.status, 500, `flaky answer ${i}: ${r.status} ${r.text ?? r.error}`);
  }
  // Traffic before Prometheus: a few rounds, and past the route families' series cap.
  const statuses = [];
  for (let i = 0; i < 6; i++) statuses.push(...await round());
  while (nextOverflow < OVERFLOW_BEFORE) {
    const batch = [];
    for (let i = 0; i < 8 && nextOverflow < OVERFLOW_BEFORE; i++) batch.push(chat(gw.main.port, `/${overflowRoute(nextOverflow++)}`, { 'x-sim-tokens': '1' }));
    statuses.push(...(await Promise.all(batch)).map((r) => r.status));
  }
  for (const want of [200, 429, 503]) assert.ok(statuses.includes(want), `no ${want} among ${JSON.stringify(statuses)}`);
  const m = await gw.main.metrics();
  assert.match(m, /^tokengate_circuit_breaker_state\{upstream="flaky"\} 2$/m, 'the flaky upstream\'s circuit is open');
  assert.match(m, /^tokengate_metrics_overflow_total\{family="tokengate_ratelimit_reserved_tokens_total"\} [1-9]/m, 'a family overflowed');

  await startPrometheus();
  traffic = startTraffic();
}, { timeout: 180000 });

// ---------------------------------------------------------------------------------------------

test('examples/prometheus-alerts.yaml: promtool check rules, and its unit tests pass promtool test rules', { skip: skipPromtool, timeout: 60000 }, async () => {
  const check = await promtool(['check', 'rules', ALERTS_FILE]);
  assert.equal(check.code, 0, `promtool check rules:\n${check.out}`);
  assert.match(check.out, /SUCCESS: \d+ rules found/);
  const unit = await promtool(['test', 'rules', ALERTS_TEST]);
  assert.equal(unit.code, 0, `promtool test rules:\n${unit.out}`);
  assert.match(unit.out, /SUCCESS/);
});

test('/metrics of every gateway passes promtool check metrics without a finding', { skip, timeout: 60000 }, async () => {
  for (const g of Object.values(gw)) {
    const text = await g.metrics();
    assert.ok(text.length > 1000, `${g.name}: /metrics is ${text.length} bytes`);
    const r = await promtool(['check', 'metrics'], text);
    assert.equal(r.out.trim(), '', `promtool check metrics on ${g.name}'s /metrics found:\n${r.out}`);
    assert.equal(r.code, 0, `promtool check metrics on ${g.name}: exit ${r.code} ${r.signal ?? ''}\n${r.out}`);
  }
});

test('Prometheus scrapes every gateway (bearer token), evaluates the alerting rules without error, and the provoked alerts go pending', { skip, timeout: 90000 }, async () => {
  let last;
  await waitFor(async () => {
    last = await promGet('/api/v1/targets?state=active');
    const active = last.data?.activeTargets ?? [];
    return active.length === prom.targets.length && active.every((t) => t.health === 'up');
  }, { timeout: 30000, interval: 250, what: `every target up: ${JSON.stringify(prom.targets)}` })
    .catch((e) => { throw new Error(`${e.message}\nlast /api/v1/targets: ${JSON.stringify(last)}\n${prom.proc.describe()}`); });

  // Every rule loaded and evaluated: health ok, no error.
  let rules;
  await waitFor(async () => {
    rules = (await promGet('/api/v1/rules')).data?.groups?.flatMap((g) => g.rules) ?? [];
    return rules.length > 0 && rules.every((r) => r.health === 'ok');
  }, { timeout: 20000, interval: 250, what: 'every rule evaluated' })
    .catch((e) => { throw new Error(`${e.message}: ${JSON.stringify(rules.map((r) => [r.name, r.health, r.lastError]))}`); });
  const inFile = [...fs.readFileSync(ALERTS_FILE, 'utf8').matchAll(/^\s*- alert: (\w+)$/gm)].map((x) => x[1]);
  assert.deepEqual(rules.map((r) => r.name).sort(), [...inFile].sort(), 'Prometheus loaded every alert of the file');

  // The alerts this traffic provokes are pending (their `for` is minutes; the test runs seconds).
  const instance = (name) => `127.0.0.1:${gw[name].adminPort}`;
  const expected = [
    ['TokengateRateLimitRejecting', { instance: instance('main'), policy: 'per-consumer', rule: 'consumers' }],
    ['TokengateShadowRuleWouldReject', { instance: instance('main'), policy: 'shadow-cap', rule: 'global' }],
    ['TokengateAdmissionQueueRefusing', { instance: instance('main'), policy: 'queued' }],
    ['TokengateCircuitBreakerOpen', { instance: instance('main'), upstream: 'flaky' }],
    ['TokengateUpstreamBusy', { instance: instance('main'), upstream: 'gated' }],
    ['TokengateMetricsSeriesCapReached', { instance: instance('main'), family: 'tokengate_ratelimit_reserved_tokens_total' }],
    ['TokengateStoreErrors', { instance: instance('dead-redis'), store: 'redis', op: 'reserve', error: 'unavailable' }],
    ['TokengateStoreFailurePolicyApplied', { instance: instance('dead-redis'), policy: 'fail-open', mode: 'open' }],
    ['TokengateStoreFailurePolicyApplied', { instance: instance('dead-redis'), policy: 'fail-local', mode: 'local' }],
    ['TokengateStoreFailureClosed', { instance: instance('dead-redis'), policy: 'fail-closed', mode: 'closed' }],
  ];
  let alerts = [];
  const missing = () => expected.filter(([name, labels]) => !alerts.some((a) => a.labels.alertname === name
    && ['pending', 'firing'].includes(a.state) && Object.entries(labels).every(([k, v]) => a.labels[k] === v)));
  await waitFor(async () => {
    alerts = (await promGet('/api/v1/alerts')).data?.alerts ?? [];
    return missing().length === 0;
  }, { timeout: 30000, interval: 500, what: 'the provoked alerts' })
    .catch((e) => {
      throw new Error(`${e.message}: not active: ${JSON.stringify(missing())}\nactive: ${JSON.stringify(alerts.map((a) => [a.labels, a.state]))}`);
    });
  // Nothing here queues 100 requests: that alert must stay quiet.
  assert.ok(!alerts.some((a) => a.labels.alertname === 'TokengateAdmissionQueueDeep'), JSON.stringify(alerts));
});

test('every panel expression of examples/grafana-dashboard.json returns data from Prometheus', { skip, timeout: 90000 }, async () => {
  const { targets, variables } = dashboardTargets();
  assert.ok(targets.length >= 20, `only ${targets.length} panel targets found`);
  assertAllOk(await queryAll(targets));

  // The dashboard's query variables, label_values(metric, label), as Grafana asks for them.
  assert.ok(variables.length > 0, 'the dashboard has query variables');
  for (const v of variables) {
    const m = /^label_values\((\w+),\s*(\w+)\)$/.exec(v.query ?? '');
    assert.ok(m, `variable ${v.name}: not label_values(metric, label): ${v.query}`);
    const r = await promGet(`/api/v1/label/${m[2]}/values?match[]=${encodeURIComponent(m[1])}`);
    assert.equal(r.status, 'success', JSON.stringify(r));
    assert.ok(r.data.filter((x) => x !== '').length > 0, `variable ${v.name} (${v.query}) has no values: ${JSON.stringify(r)}`);
  }
});

test('every PromQL example of docs/metrics.md returns data from Prometheus', { skip, timeout: 90000 }, async () => {
  const exprs = docsExpressions();
  assert.ok(exprs.length >= 10, `only ${exprs.length} PromQL examples found in docs/metrics.md`);
  assertAllOk(await queryAll(exprs));
  assert.ok(traffic.rounds >= 3, `only ${traffic.rounds} rounds of traffic ran while Prometheus scraped`);
});
