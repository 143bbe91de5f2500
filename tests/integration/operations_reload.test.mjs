// Hot reload under load (issue 6 §4), through the real gateway and the simulated upstream:
// 8 clients (streaming and not, fresh and keep-alive connections) run without pause while the
// config file is rewritten and reloaded 20 times, alternately by SIGHUP and POST /admin/reload,
// half of the new configs invalid (a YAML error, an unknown key, a policy naming an unknown
// route). Asserted: zero failed requests (every response 200, every stream complete with
// [DONE]); each invalid config is reported (422 with the errors, "reload rejected" in the log)
// and the running config stays; each valid one changes the limits exactly when it lands (the
// next request carries the new x-ratelimit-limit-tokens, the one before the old), and the bucket
// counters survive the threshold edits (remaining = new limit - what was used before). A reload
// that changes what needs a restart (listeners, workers, admin) is rejected.
//
// Numbers follow from the config written here and from measurements: every probe request asks
// for T output tokens (max_tokens = x-sim-tokens = T), so it reserves and uses R = P + T.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import {
  harness, freePort, gatewayConfig, toYaml, request, postJSON, streamRequest, awaitWindowRoom,
  waitFor, sleep, canConnect, accessLogLines,
} from './lib.mjs';

const h = harness();
let sim;
let P;
let R;

const T = 10;          // output tokens of a probe request
const TL = 20;         // output tokens of a load request
const DAY = 86_400_000;
const ADMIN_TOKEN = 'reload-admin-token-93b1';
const ADMIN = { authorization: `Bearer ${ADMIN_TOKEN}` };
const PROBE = { authorization: 'Bearer sk-prober', 'x-sim-tokens': String(T) };
const LOADER = { authorization: 'Bearer sk-loader' };
const PROMPT = 'Say something.';
const chatBody = (max, extra = {}) => ({ model: 'gpt-4o-mini', max_tokens: max, messages: [{ role: 'user', content: PROMPT }], ...extra });

// The limits of valid config number v (v = 0 is the one the gateway starts with).
const probeLimit = (v) => 100_000 + 1000 * v;
const loadLimit = (v) => 50_000_000 + v;

before(async () => {
  sim = await h.sim();
  const r = await postJSON(sim.port, '/v1/chat/completions', chatBody(T), { 'x-sim-tokens': String(T) });
  assert.equal(r.status, 200, r.text);
  P = r.json().usage.prompt_tokens;
  R = r.json().usage.total_tokens;
  assert.equal(R, P + T);
}, { timeout: 60000 });

/** The config object: `probe` / `load` limits, and `mutate(cfg)` for the invalid variants. */
function configObject({ port, adminPort, probe, load, workers = 2 }) {
  const cfg = gatewayConfig({
    port,
    server: { workers },
    upstreams: [{ name: 'sim', url: sim.url }],
    routes: [
      { name: 'probe', match: { path_prefix: '/probe/' }, upstream: 'sim', rewrite_prefix: '/', dialect: 'openai', key_auth: 'required' },
      { name: 'load', match: { path_prefix: '/' }, upstream: 'sim', dialect: 'openai', key_auth: 'required' },
    ],
  });
  cfg.rate_limits = {
    consumers: [{ name: 'prober', keys: ['sk-prober'] }, { name: 'loader', keys: ['sk-loader'] }],
    policies: [
      { name: 'probe', routes: ['probe'], reservation: 'prompt_plus_max', rules: [{ name: 'daily', by: 'per_consumer', limits: [{ tokens: probe, per: 'day' }] }] },
      { name: 'load', routes: ['load'], reservation: 'prompt_plus_max', rules: [{ name: 'all', by: 'global', limits: [{ tokens: load, per: 'day' }] }] },
    ],
  };
  cfg.store = { type: 'memory' };
  cfg.admin = { listen: `127.0.0.1:${adminPort}`, token: ADMIN_TOKEN };
  return cfg;
}

// The invalid variants, each with what its error must name. Each also carries new limits, so
// that applying it by mistake would show on the next probe.
const INVALID = [
  {
    kind: 'YAML syntax error',
    text: (cfg) => `${toYaml(cfg)}\nextra_block: {unclosed: [1, 2\n`,
    error: /tokengate\.yaml/,
  },
  {
    kind: 'unknown key',
    text: (cfg) => toYaml({ ...cfg, server: { ...cfg.server, bogus_option_x: 1 } }) + '\n',
    error: /bogus_option_x/,
  },
  {
    kind: 'policy naming an unknown route',
    text: (cfg) => {
      const c = structuredClone(cfg);
      c.rate_limits.policies[0].routes = ['probe', 'no-such-route'];
      return toYaml(c) + '\n';
    },
    error: /no-such-route/,
  },
];

const count = (text, re) => (text.match(re) ?? []).length;
const RELOADED = /"msg":"config reloaded"/g;
const REJECTED = /"msg":"reload rejected/g;

test('reload under load: 20 reloads (SIGHUP and POST /admin/reload), half invalid: zero failed requests; limits change exactly when a valid config lands; counters survive', { timeout: 400000 }, async (t) => {
  const port = await freePort();
  const adminPort = await freePort();
  const gw = await h.gateway(configObject({ port, adminPort, probe: probeLimit(0), load: loadLimit(0) }));
  const admin = (p, opts = {}) => request({ port: adminPort, path: p, headers: ADMIN, timeout: 10000, ...opts });
  // A day window: the whole test must stay in one (it waits only in the last minutes of a UTC day).
  await awaitWindowRoom(DAY, 240000);

  // ---- the load: 8 clients until stopped -------------------------------------------------------
  const appliedLoad = new Set([loadLimit(0)]);  // every load limit that was ever running
  const failures = [];
  const stats = { plain: 0, streams: 0, inFlight: 0, spanning: 0 };
  let reloadsDone = 0;
  let stop = false;
  const keepAlive = new http.Agent({ keepAlive: true, maxSockets: 2 });
  const checkLimit = (what, headers) => {
    const v = Number(headers['x-ratelimit-limit-tokens']);
    if (!appliedLoad.has(v)) failures.push(`${what}: x-ratelimit-limit-tokens ${headers['x-ratelimit-limit-tokens']} was never a running load limit`);
  };
  async function plainClient(i) {
    const agent = i < 2 ? keepAlive : false;
    while (!stop) {
      stats.inFlight++;
      try {
        const r = await request({ port, path: '/v1/chat/completions', method: 'POST', body: chatBody(TL), headers: { ...LOADER, 'x-sim-tokens': String(TL) }, agent, timeout: 20000 });
        if (r.status !== 200) failures.push(`plain client ${i}: ${r.status} ${r.text}`);
        else if (r.json().usage?.completion_tokens !== TL) failures.push(`plain client ${i}: usage ${r.text}`);
        else checkLimit(`plain client ${i}`, r.headers);
        stats.plain++;
      } catch (e) {
        failures.push(`plain client ${i}: ${e.message}`);
      } finally {
        stats.inFlight--;
      }
    }
  }
  async function streamClient(i) {
    while (!stop) {
      const startedAt = reloadsDone;
      stats.inFlight++;
      const s = await streamRequest({
        port, path: '/v1/chat/completions', headers: { ...LOADER, 'x-sim-tokens': String(TL), 'x-sim-delay-ms': '8' },
        body: chatBody(TL, { stream: true }), timeout: 20000,
      });
      stats.inFlight--;
      const last = s.events.at(-1);
      if (s.error || s.status !== 200 || !s.complete || last?.data !== '[DONE]') {
        failures.push(`stream client ${i}: status ${s.status} complete ${s.complete} error ${s.error?.message} last ${JSON.stringify(last)} raw ${s.raw.slice(-300)}`);
      } else {
        checkLimit(`stream client ${i}`, s.headers);
        stats.streams++;
        if (reloadsDone > startedAt) stats.spanning++;
      }
    }
  }
  const clients = [0, 1, 2, 3].map(plainClient).concat([0, 1, 2, 3].map(streamClient));

  // ---- the reloads ----------------------------------------------------------------------------
  let v = 0;          // the running valid config
  let probes = 0;     // probe requests admitted (each charged R)
  let generation = 0; // "config reloaded" generations logged
  const inFlightAtReload = [];
  const probe = async (what) => {
    const r = await postJSON(port, '/probe/v1/chat/completions', chatBody(T), PROBE, { timeout: 20000 });
    assert.equal(r.status, 200, `${what}: ${r.text}`);
    probes++;
    assert.equal(Number(r.headers['x-ratelimit-limit-tokens']), probeLimit(v), `${what}: the limit of valid config ${v}`);
    assert.equal(Number(r.headers['x-ratelimit-remaining-tokens']), probeLimit(v) - probes * R,
      `${what}: remaining = limit of config ${v} - ${probes} probes of ${R} (the counter survived the edits)`);
    return r;
  };
  await sleep(300); // the load is running
  await probe('before any reload');

  for (let i = 0; i < 20; i++) {
    const valid = i % 4 === 0 || i % 4 === 3;   // 10 valid, 10 invalid, each by both methods
    const bySignal = i % 2 === 1;
    const next = valid ? v + 1 : v;
    const cfg = configObject({ port, adminPort, probe: probeLimit(v + 1) + (valid ? 0 : 7), load: loadLimit(v + 1) + (valid ? 0 : 7) });
    const bad = valid ? null : INVALID[i % INVALID.length];
    fs.writeFileSync(gw.configFile, bad ? bad.text(cfg) : toYaml(cfg) + '\n');
    const what = `reload ${i} (${valid ? 'valid' : bad.kind}, ${bySignal ? 'SIGHUP' : 'POST /admin/reload'})`;

    await probe(`${what}: just before`);
    if (valid) appliedLoad.add(loadLimit(next)); // from now on, responses may carry it
    const rejectedBefore = count(gw.proc.err, REJECTED);
    inFlightAtReload.push(stats.inFlight);
    if (bySignal) {
      gw.proc.child.kill('SIGHUP');
      if (valid) {
        await waitFor(() => gw.proc.err.includes(`"msg":"config reloaded","generation":"${generation + 1}"`),
          { timeout: 5000, what: `${what}: "config reloaded" generation ${generation + 1}` });
      } else {
        await waitFor(() => count(gw.proc.err, REJECTED) > rejectedBefore, { timeout: 5000, what: `${what}: "reload rejected"` });
      }
    } else {
      const r = await admin('/admin/reload', { method: 'POST' });
      if (valid) {
        assert.equal(r.status, 200, `${what}: ${r.text}`);
        assert.deepEqual(r.json(), { ok: true, errors: [] });
      } else {
        assert.equal(r.status, 422, `${what}: ${r.text}`);
        const body = r.json();
        assert.equal(body.ok, false);
        assert.ok(body.errors.length >= 1 && body.errors.some((e) => bad.error.test(e)), `${what}: errors ${JSON.stringify(body.errors)} should match ${bad.error}`);
        await waitFor(() => count(gw.proc.err, REJECTED) > rejectedBefore, { timeout: 5000, what: `${what}: "reload rejected" in the log` });
      }
    }
    reloadsDone++;
    if (valid) {
      generation++;
      v = next;
    }
    // The log line that names the error of an invalid config (by SIGHUP too).
    if (!valid) {
      const lines = gw.proc.err.split('\n').filter((l) => l.includes('"msg":"reload rejected')).slice(rejectedBefore);
      assert.ok(lines.some((l) => bad.error.test(JSON.parse(l).error ?? '')), `${what}: logged ${JSON.stringify(lines)}`);
    }
    await probe(`${what}: just after`);
    await sleep(60);
  }
  assert.equal(v, 10);
  assert.equal(count(gw.proc.err, RELOADED), 10, 'ten configs were applied');
  assert.ok(gw.proc.err.includes('"msg":"config reloaded","generation":"10"'));

  // After the last valid config: every load response carries its limit.
  await sleep(300);
  stop = true;
  await Promise.all(clients);
  keepAlive.destroy();
  const last = await postJSON(port, '/v1/chat/completions', chatBody(TL), { ...LOADER, 'x-sim-tokens': String(TL) });
  assert.equal(Number(last.headers['x-ratelimit-limit-tokens']), loadLimit(10));

  t.diagnostic(`load: ${JSON.stringify(stats)}; in flight at each reload: ${inFlightAtReload.join(' ')}`);
  assert.deepEqual(failures, [], `${failures.length} failed requests during the reloads`);
  assert.ok(stats.plain >= 40 && stats.streams >= 20, `the load ran: ${JSON.stringify(stats)}`);
  assert.ok(stats.spanning >= 5, `streams that were running across a reload: ${stats.spanning}`);
  assert.ok(inFlightAtReload.filter((n) => n > 0).length >= 16, `requests were in flight at the reloads: ${inFlightAtReload}`);

  // The admin API agrees: the probe bucket's limit is the last one, used = every probe.
  const b = await admin('/admin/buckets?consumer=prober');
  assert.equal(b.status, 200, b.text);
  const [bucket] = b.json().buckets;
  assert.equal(bucket.limit, probeLimit(10));
  assert.equal(bucket.used, probes * R);

  // A valid config that lowers the limit below what was used: the next probe is rejected (an
  // expected 429), against the new limit and the old usage.
  const lowered = probes * R + Math.floor(R / 2);
  fs.writeFileSync(gw.configFile, toYaml(configObject({ port, adminPort, probe: lowered, load: loadLimit(10) })) + '\n');
  const r = await admin('/admin/reload', { method: 'POST' });
  assert.equal(r.status, 200, r.text);
  const rej = await postJSON(port, '/probe/v1/chat/completions', chatBody(T), PROBE);
  assert.equal(rej.status, 429, rej.text);
  assert.equal(Number(rej.headers['x-ratelimit-limit-tokens']), lowered);
  assert.equal(Number(rej.headers['x-ratelimit-remaining-tokens']), lowered - probes * R);
  const [lr] = await accessLogLines(gw, [rej.headers['x-request-id']]);
  assert.equal(lr.ratelimit, 'rejected');
  assert.equal(lr.ratelimit_policy, 'probe');
});

test('reload: changing listeners, workers or the admin section is rejected (422) and the gateway keeps serving on the old config', { timeout: 60000 }, async () => {
  const port = await freePort();
  const adminPort = await freePort();
  const base = { port, adminPort, probe: probeLimit(0), load: loadLimit(0) };
  const gw = await h.gateway(configObject(base));
  const admin = (p, opts = {}) => request({ port: adminPort, path: p, headers: ADMIN, timeout: 10000, ...opts });
  const otherPort = await freePort();
  const otherAdmin = await freePort();
  const cases = [
    ['listeners', { ...base, port: otherPort, probe: probeLimit(1) }, /listeners cannot change on reload/],
    ['workers', { ...base, workers: 3, probe: probeLimit(1) }, /server\.workers cannot change on reload/],
    ['admin', { ...base, adminPort: otherAdmin, probe: probeLimit(1) }, /admin and quota cannot change on reload/],
  ];
  for (const [what, c, error] of cases) {
    fs.writeFileSync(gw.configFile, toYaml(configObject(c)) + '\n');
    const rejectedBefore = count(gw.proc.err, REJECTED);
    const r = await admin('/admin/reload', { method: 'POST' });
    assert.equal(r.status, 422, `${what}: ${r.text}`);
    assert.equal(r.json().ok, false);
    assert.ok(r.json().errors.some((e) => error.test(e)), `${what}: ${r.text}`);
    await waitFor(() => count(gw.proc.err, REJECTED) > rejectedBefore, { timeout: 5000, what: `${what}: "reload rejected"` });
    // Still served on the old listener, with the old limit; nothing listens on the new address.
    const p = await postJSON(port, '/probe/v1/chat/completions', chatBody(T), PROBE);
    assert.equal(p.status, 200, `${what}: ${p.text}`);
    assert.equal(Number(p.headers['x-ratelimit-limit-tokens']), probeLimit(0), `${what}: the old config stays`);
    assert.equal(await canConnect(otherPort, '127.0.0.1', 500), false, `${what}: nothing listens on the new port`);
    assert.equal(await canConnect(otherAdmin, '127.0.0.1', 500), false, `${what}: no new admin listener`);
  }
  assert.equal(count(gw.proc.err, RELOADED), 0);
  // By SIGHUP the same: rejected, logged.
  const rejectedBefore = count(gw.proc.err, REJECTED);
  gw.proc.child.kill('SIGHUP');
  await waitFor(() => count(gw.proc.err, REJECTED) > rejectedBefore, { timeout: 5000, what: 'SIGHUP: "reload rejected"' });
  assert.match(gw.proc.err.split('\n').filter((l) => l.includes('reload rejected')).slice(rejectedBefore).join('\n'), /admin and quota cannot change/);
  assert.ok(gw.proc.running);
  // The original file again: accepted.
  fs.writeFileSync(gw.configFile, toYaml(configObject({ ...base, probe: probeLimit(2) })) + '\n');
  const ok = await admin('/admin/reload', { method: 'POST' });
  assert.equal(ok.status, 200, ok.text);
  const p = await postJSON(port, '/probe/v1/chat/completions', chatBody(T), PROBE);
  assert.equal(Number(p.headers['x-ratelimit-limit-tokens']), probeLimit(2));
});

test('reload: a changed server.access_log is applied or rejected, never accepted and ignored', { timeout: 30000 }, async () => {
  const dir = h.tmpDir();
  const port = await freePort();
  const adminPort = await freePort();
  const withLog = (file) => ({ ...configObject({ port, adminPort, probe: probeLimit(0), load: loadLimit(0) }), server: { workers: 2, drain_timeout: '10s', access_log: file } });
  const gw = await h.gateway(withLog(`${dir}/a.log`));
  fs.writeFileSync(gw.configFile, toYaml(withLog(`${dir}/b.log`)) + '\n');
  const r = await request({ port: adminPort, path: '/admin/reload', method: 'POST', headers: ADMIN });
  if (r.status === 422) {
    assert.match(r.text, /access_log/);
    return;
  }
  assert.equal(r.status, 200, r.text);
  const id = (await request({ port, path: '/nowhere' })).headers['x-request-id'];
  await waitFor(() => fs.existsSync(`${dir}/b.log`) && fs.readFileSync(`${dir}/b.log`, 'utf8').includes(id),
    { timeout: 3000, what: 'the request logged in the new access log file' });
});
