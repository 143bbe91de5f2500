// The command line: check, run, --version, --help, the quick start.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import {
  harness, REPO, GATEWAY_BIN, freePort, simpleConfig, toYaml, runCli, request, postJSON, canConnect, now, sleep, CHAT_BODY,
} from './lib.mjs';

const h = harness();
let sim;

before(async () => { sim = await h.sim(); }, { timeout: 60000 });

test('--version and --help exit 0', { timeout: 15000 }, async () => {
  const v = await runCli(['--version']);
  assert.equal(v.code, 0, v.stderr);
  assert.match(v.stdout + v.stderr, /\d+\.\d+\.\d+/, 'a version number');
  const hlp = await runCli(['--help']);
  assert.equal(hlp.code, 0, hlp.stderr);
  const text = hlp.stdout + hlp.stderr;
  for (const word of ['run', 'check', '--config', '--listen', '--upstream']) assert.ok(text.includes(word), `--help mentions ${word}`);
});

test('an unknown command or option exits non-zero', { timeout: 15000 }, async () => {
  const a = await runCli(['frobnicate']);
  assert.notEqual(a.code, 0);
  assert.ok(a.stderr.length > 0, 'says why on stderr');
  const b = await runCli(['run', '--no-such-option']);
  assert.notEqual(b.code, 0);
});

test('check: the shipped example config is valid', { timeout: 15000 }, async () => {
  const r = await runCli(['check', '--config', path.join(REPO, 'examples', 'tokengate.yaml')]);
  assert.equal(r.code, 0, `examples/tokengate.yaml: ${r.stderr}`);
});

test('check: a generated valid config exits 0', { timeout: 15000 }, async () => {
  const file = h.writeFile('ok.yaml', toYaml(simpleConfig(await freePort(), sim.url)) + '\n');
  const r = await runCli(['check', '--config', file]);
  assert.equal(r.code, 0, r.stderr);
});

// Line numbers below are 1-based and are part of the assertions.
const BAD = `server:
  access_log: stdout
  drain_timeout: forever
listeners:
  - address: 127.0.0.1:notaport
limits:
  max_body_bytes: lots
upstreams:
  - name: up
    url: ftp://example.com/
routes:
  - name: r
    match:
      path_prefix: /v1/
    upstream: missing-upstream
`;
const BAD_ERRORS = [
  [3, 'server.drain_timeout'],
  [5, 'listeners[0].address'],
  [7, 'limits.max_body_bytes'],
  [10, 'upstreams[0].url'],
  [15, 'routes[0].upstream'],
];

test('check: a config with several errors exits 1 and prints each with its YAML path and line', { timeout: 15000 }, async () => {
  const file = h.writeFile('bad.yaml', BAD);
  const r = await runCli(['check', '--config', file]);
  assert.equal(r.code, 1, `exit ${r.code}; stderr:\n${r.stderr}`);
  const lines = r.stderr.split('\n');
  for (const [line, yamlPath] of BAD_ERRORS) {
    const hit = lines.find((l) => l.includes(`:${line}:`) && l.includes(yamlPath));
    assert.ok(hit, `no stderr line with ":${line}:" and "${yamlPath}"; stderr:\n${r.stderr}`);
    assert.ok(hit.includes('bad.yaml'), `the file name is in "${hit}"`);
  }
});

test('check: an unset ${VAR} without default is an error naming the variable', { timeout: 15000 }, async () => {
  const port = await freePort();
  const cfg = toYaml(simpleConfig(port, 'http://127.0.0.1:${TG_TEST_DEFINITELY_UNSET}')) + '\n';
  const file = h.writeFile('env.yaml', cfg);
  const env = { TG_TEST_DEFINITELY_UNSET: undefined };
  const r = await runCli(['check', '--config', file], { env });
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /TG_TEST_DEFINITELY_UNSET/);
  // And set, it is fine.
  const ok = await runCli(['check', '--config', file], { env: { TG_TEST_DEFINITELY_UNSET: String(sim.port) } });
  assert.equal(ok.code, 0, ok.stderr);
});

test('check: a missing file and malformed YAML exit 1', { timeout: 15000 }, async () => {
  const a = await runCli(['check', '--config', path.join(h.tmpDir(), 'nope.yaml')]);
  assert.equal(a.code, 1);
  assert.ok(a.stderr.length > 0);
  const file = h.writeFile('broken.yaml', 'server:\n  workers: [1, 2\nlisteners: {\n');
  const b = await runCli(['check', '--config', file]);
  assert.equal(b.code, 1);
  assert.match(b.stderr, /broken\.yaml:\d+/, 'malformed YAML is reported with a line');
});

// A file without listeners: is a fragment: `check` reads each section present on its own and
// compiles the rate-limit ones, and says so; `run` needs a whole configuration and says so in one
// line.
test('check: the section-only examples validate as fragments', { timeout: 15000 }, async () => {
  for (const [name, section] of [['limits.yaml', 'rate_limits'], ['higress-ai-token-ratelimit.yaml', 'higress']]) {
    const r = await runCli(['check', '--config', path.join(REPO, 'examples', name)]);
    assert.equal(r.code, 0, `${name}: exit ${r.code}; stderr:\n${r.stderr}`);
    assert.match(r.stdout, /fragment/, `${name}: the output says it is a fragment: ${r.stdout}`);
    assert.ok(r.stdout.includes(`checked sections: ${section}`), `${name}: names the sections: ${r.stdout}`);
    assert.doesNotMatch(r.stdout + r.stderr, /at least one listener/);
  }
});

test('check: a broken fragment exits 1 with the YAML path and line', { timeout: 15000 }, async () => {
  const file = h.writeFile('broken-fragment.yaml', [
    'rate_limits:',
    '  policies:',
    '  - name: p',
    '    rules:',
    '    - by: per_header',
    '      keys: ["regexp:("]',
    '      limits: [{tokens: 10, per: minute}]',
    'higress:',
    '  rule_name: h',
    '  redis: {service_name: redis.static}',
    '  global_threshold: {token_per_minute: 0}',
    '',
  ].join('\n'));
  const r = await runCli(['check', '--config', file]);
  assert.equal(r.code, 1, `exit ${r.code}; stdout:\n${r.stdout}`);
  const lines = r.stderr.split('\n');
  for (const [line, yamlPath] of [[5, 'rate_limits.policies[0].rules[0].header'],
    [6, 'rate_limits.policies[0].rules[0].keys[0]'], [11, 'higress.global_threshold.token_per_minute']]) {
    const hit = lines.find((l) => l.includes(`broken-fragment.yaml:${line}: ${yamlPath}:`));
    assert.ok(hit, `no stderr line for ${yamlPath} at line ${line}; stderr:\n${r.stderr}`);
  }
  assert.match(r.stderr, /fragment/);
  assert.doesNotMatch(r.stderr, /at least one listener/);
});

test('run: a fragment is not a full configuration, said in one line', { timeout: 15000 }, async () => {
  const r = await runCli(['run', '--config', path.join(REPO, 'examples', 'limits.yaml')]);
  assert.equal(r.code, 1, r.stderr);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0], /not a full configuration: it has no listeners: section/);
});

test('run with an invalid config exits non-zero without listening', { timeout: 20000 }, async () => {
  const port = await freePort();
  const cfg = simpleConfig(port, 'ftp://127.0.0.1:1/');
  const file = h.writeFile('run-bad.yaml', toYaml(cfg) + '\n');
  const proc = h.spawn('tokengate', GATEWAY_BIN, ['run', '--config', file], { allowExit: true });
  const t0 = now();
  let listened = false;
  while (proc.running && now() - t0 < 10000) {
    if (await canConnect(port, '127.0.0.1', 200)) listened = true;
    await sleep(20);
  }
  const exit = await proc.waitExit(1000);
  assert.ok(exit, 'run with an invalid config is still running after 10 s');
  assert.notEqual(exit.code, 0);
  assert.equal(listened, false, 'it accepted connections with an invalid config');
  assert.match(proc.err, /upstreams\[0\]\.url/);
});

test('quick start: run --listen --upstream proxies every path', { timeout: 20000 }, async () => {
  const gw = await h.quickGateway(sim.url);
  const r = await postJSON(gw.port, '/v1/chat/completions', CHAT_BODY, { 'x-sim-tokens': '4' });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json().usage.completion_tokens, 4);
  const e = await request({ port: gw.port, path: '/anything/sim/echo?a=b' });
  assert.equal(e.status, 200);
  assert.equal(e.json().path, '/anything/sim/echo?a=b');
  assert.ok(e.headers['x-request-id']);
});
