// Shared harness of the integration and compatibility tests.
//
// It starts the gateway (build/tokengate, or $TOKENGATE_BIN) and the simulated LLM upstream
// (build/tokengate-sim, or $TOKENGATE_SIM_BIN) as child processes on free loopback ports,
// writes their configuration files into a private temp dir, waits until they accept
// connections, collects their stdout/stderr, and offers small HTTP clients (node:http,
// raw sockets, SSE) that record timings.
//
// Ownership: everything a test file starts goes through one Harness (see harness()), whose
// cleanup runs in the file's after() hook: every child process is stopped (SIGTERM, then
// SIGKILL), every fake server closed, every temp dir removed, even when a test failed. A process
// 'exit'/signal handler kills what is left if the test process itself dies. The cleanup also
// fails the file when a child printed a sanitizer report (ASan/UBSan/LSan) or died on its own.
//
// Only loopback addresses are used (127.0.0.1 / localhost).

import { spawn, execFile } from 'node:child_process';
import { after } from 'node:test';
import { fileURLToPath } from 'node:url';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
// Relative paths in the environment are taken from the directory the tests were started in.
export const GATEWAY_BIN = path.resolve(process.env.TOKENGATE_BIN || path.join(REPO, 'build', 'tokengate'));
export const SIM_BIN = path.resolve(process.env.TOKENGATE_SIM_BIN || path.join(REPO, 'build', 'tokengate-sim'));
/** How long a freshly spawned process may take to accept connections (ASan builds are slow). */
export const STARTUP_MS = Number(process.env.TOKENGATE_TEST_STARTUP_MS || 20000);

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export const now = () => performance.now();
export const sha256 = (buf) => crypto.createHash('sha256').update(buf).digest('hex');

// ---------------------------------------------------------------------------------------------
// Process bookkeeping: a global registry so that nothing survives the test process.

const liveChildren = new Set();
function killAllSync() {
  for (const child of liveChildren) {
    try { child.kill('SIGKILL'); } catch { /* already gone */ }
  }
  liveChildren.clear();
}
process.on('exit', killAllSync);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => { killAllSync(); process.exit(128 + os.constants.signals[sig]); });
}

/** A spawned child process with its output collected. */
export class Proc {
  constructor(name, bin, args, { env = {}, cwd = REPO } = {}) {
    this.name = name;
    this.bin = bin;
    this.args = args;
    this.out = '';
    this.err = '';
    this.exit = null;          // { code, signal } once exited
    this.signalled = false;    // true once the harness (or a test) sent it a signal
    this.child = spawn(bin, args, {
      cwd,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    liveChildren.add(this.child);
    this.child.stdout.setEncoding('utf8');
    this.child.stderr.setEncoding('utf8');
    this.child.stdout.on('data', (d) => { this.out += d; });
    this.child.stderr.on('data', (d) => { this.err += d; });
    this.exited = new Promise((resolve) => {
      this.child.on('error', (e) => {
        this.spawnError = e;
        this.exit ??= { code: null, signal: null, error: e };
        liveChildren.delete(this.child);
        resolve(this.exit);
      });
      // 'close' (not 'exit'): the stdio streams are drained, so out/err are complete.
      this.child.on('close', (code, signal) => {
        this.exit ??= { code, signal };
        liveChildren.delete(this.child);
        resolve(this.exit);
      });
    });
  }

  get running() { return this.exit === null; }
  get pid() { return this.child.pid; }

  signal(sig = 'SIGTERM') {
    this.signalled = true;
    if (this.running) this.child.kill(sig);
  }

  /** Waits for exit at most `ms`; returns the exit record or null on timeout. */
  async waitExit(ms) {
    let timer;
    const r = await Promise.race([
      this.exited,
      new Promise((res) => { timer = setTimeout(() => res(null), ms); }),
    ]);
    clearTimeout(timer);
    return r;
  }

  /** SIGTERM, then SIGKILL after `graceMs`. */
  async stop(graceMs = 5000) {
    if (!this.running) return this.exit;
    this.signal('SIGTERM');
    const r = await this.waitExit(graceMs);
    if (r) return r;
    this.signal('SIGKILL');
    return this.exited;
  }

  describe() {
    return `${this.name} (${this.bin} ${this.args.join(' ')})\n--- stderr ---\n${this.err.slice(-4000)}\n--- stdout ---\n${this.out.slice(-2000)}`;
  }
}

const SANITIZER_RE = /(ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:|WARNING: ThreadSanitizer|ERROR: UndefinedBehaviorSanitizer)/;

// ---------------------------------------------------------------------------------------------
// Ports, readiness, temp dirs.

/** A free loopback TCP port (listen on 0, read the port, close). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** Resolves true if a TCP connection to host:port succeeds within `ms`. */
export function canConnect(port, host = '127.0.0.1', ms = 1000) {
  return new Promise((resolve) => {
    const s = net.connect({ port, host });
    const done = (ok) => { clearTimeout(t); s.destroy(); resolve(ok); };
    const t = setTimeout(() => done(false), ms);
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

/** Polls until a TCP connect succeeds; fails early (with the process's stderr) if it exits. */
export async function waitForPort(port, proc, timeoutMs = STARTUP_MS) {
  const deadline = now() + timeoutMs;
  while (now() < deadline) {
    if (proc && !proc.running) {
      throw new Error(`${proc.name} exited (${JSON.stringify(proc.exit)}) before listening on ${port}\n${proc.describe()}`);
    }
    if (await canConnect(port, '127.0.0.1', 500)) return;
    await sleep(50);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for port ${port}${proc ? '\n' + proc.describe() : ''}`);
}

export async function waitFor(fn, { timeout = 5000, interval = 50, what = 'condition' } = {}) {
  const deadline = now() + timeout;
  let last;
  while (now() < deadline) {
    last = await fn();
    if (last) return last;
    await sleep(interval);
  }
  throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
}

// ---------------------------------------------------------------------------------------------
// YAML: a small block-style emitter (strings double-quoted JSON-style, which YAML accepts).

function isPlainObject(v) { return v !== null && typeof v === 'object' && !Array.isArray(v); }
function yamlKey(k) { return /^[A-Za-z0-9_.\-]+$/.test(k) ? k : JSON.stringify(k); }
function yamlScalar(v) {
  if (v === null) return 'null';
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v) && v.length === 0) return '[]';
  if (isPlainObject(v) && Object.keys(v).length === 0) return '{}';
  throw new Error(`not a YAML scalar: ${v}`);
}
function isNested(v) {
  return (Array.isArray(v) && v.length > 0) || (isPlainObject(v) && Object.keys(v).length > 0);
}

export function toYaml(value, indent = 0) {
  const pad = ' '.repeat(indent);
  if (Array.isArray(value)) {
    return value.map((item) => {
      if (isNested(item)) {
        const inner = toYaml(item, indent + 2);
        return `${pad}- ${inner.slice(indent + 2)}`;
      }
      return `${pad}- ${yamlScalar(item)}`;
    }).join('\n');
  }
  if (isPlainObject(value)) {
    return Object.entries(value)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => (isNested(v)
        ? `${pad}${yamlKey(k)}:\n${toYaml(v, indent + 2)}`
        : `${pad}${yamlKey(k)}: ${yamlScalar(v)}`))
      .join('\n');
  }
  return pad + yamlScalar(value);
}

/**
 * A gateway config object with one plain listener on 127.0.0.1:port.
 * `upstreams` / `routes` are taken as given; server/limits merge over test defaults.
 */
export function gatewayConfig({ port, upstreams, routes, server = {}, limits, listenerTls } = {}) {
  const listener = { address: `127.0.0.1:${port}` };
  if (listenerTls) listener.tls = listenerTls;
  return {
    server: { drain_timeout: '10s', access_log: 'stdout', ...server },
    listeners: [listener],
    limits,
    upstreams,
    routes,
  };
}

/** The simplest config: every path ("/") goes to one upstream at `url`. */
export function simpleConfig(port, url, { dialect, server, limits, upstream = {} } = {}) {
  return gatewayConfig({
    port,
    server,
    limits,
    upstreams: [{ name: 'sim', url, ...upstream }],
    routes: [{ name: 'all', match: { path_prefix: '/' }, upstream: 'sim', ...(dialect ? { dialect } : {}) }],
  });
}

// ---------------------------------------------------------------------------------------------
// The harness.

export class Harness {
  constructor() {
    this.procs = [];
    this.servers = [];
    this.sockets = new Set();
    this.dirs = [];
  }

  tmpDir() {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), 'tokengate-test-'));
    this.dirs.push(d);
    return d;
  }

  /** Spawns any process and tracks it. `allowExit`: it may exit on its own without failing the file. */
  spawn(name, bin, args, { env, allowExit = false } = {}) {
    if (!fs.existsSync(bin)) {
      throw new Error(`${name} binary not found at ${bin} (run \`make build\`, or set TOKENGATE_BIN / TOKENGATE_SIM_BIN)`);
    }
    const p = new Proc(name, bin, args, { env });
    p.allowExit = allowExit;
    this.procs.push(p);
    return p;
  }

  /**
   * Starts the simulator on a free port. Returns { port, url, proc, host }.
   * tls: { cert, key, ca } switches it to HTTPS (readiness is checked with `ca`).
   */
  async sim({ args = [], tls: simTls, env } = {}) {
    const port = await freePort();
    const fullArgs = ['--listen', `127.0.0.1:${port}`, ...args];
    if (simTls) fullArgs.push('--tls-cert', simTls.cert, '--tls-key', simTls.key);
    const proc = this.spawn('tokengate-sim', SIM_BIN, fullArgs, { env });
    await waitForPort(port, proc);
    const deadline = now() + STARTUP_MS;
    for (;;) {
      try {
        const r = await request({ port, path: '/health', tls: !!simTls, ca: simTls?.caPem, servername: 'localhost', timeout: 2000 });
        if (r.status === 200) break;
      } catch { /* not ready */ }
      if (!proc.running) throw new Error(`sim exited\n${proc.describe()}`);
      if (now() > deadline) throw new Error(`sim /health never returned 200\n${proc.describe()}`);
      await sleep(50);
    }
    const scheme = simTls ? 'https' : 'http';
    return { port, proc, url: `${scheme}://127.0.0.1:${port}`, localhostUrl: `${scheme}://localhost:${port}` };
  }

  /** Writes `text` into a fresh temp dir as `name`; returns the path. */
  writeFile(name, text) {
    const file = path.join(this.tmpDir(), name);
    fs.writeFileSync(file, text);
    return file;
  }

  /**
   * Starts `tokengate run --config FILE`. `config` is an object (emitted as YAML) or YAML text
   * (then `port` is required). Waits until the listener accepts connections.
   * Returns { port, proc, configFile, accessLog() }.
   */
  async gateway(config, { port, env, args = [], allowExit = false, wait = true } = {}) {
    let text = config;
    if (typeof config !== 'string') {
      text = toYaml(config) + '\n';
      port ??= Number(String(config.listeners[0].address).split(':').pop());
    }
    const configFile = this.writeFile('tokengate.yaml', text);
    const proc = this.spawn('tokengate', GATEWAY_BIN, ['run', '--config', configFile, ...args], { env, allowExit });
    if (wait) await waitForPort(port, proc);
    return {
      port,
      proc,
      configFile,
      configText: text,
      accessLog: () => parseAccessLog(proc.out),
    };
  }

  /**
   * A gateway that is started on first use and started again (on a new port) whenever it has
   * died, so that one crash does not fail every later test of a file with ECONNREFUSED. Each
   * death is still reported by cleanup(). `makeConfig(port)` builds the config.
   * Returns an async getter resolving to the running gateway.
   */
  restartingGateway(makeConfig, opts = {}) {
    let current = null;
    return async () => {
      if (!current || !current.proc.running) current = await this.gateway(makeConfig(await freePort()), opts);
      return current;
    };
  }

  /** Starts `tokengate run --listen 127.0.0.1:PORT --upstream URL`. */
  async quickGateway(upstreamUrl, { env } = {}) {
    const port = await freePort();
    const proc = this.spawn('tokengate', GATEWAY_BIN, ['run', '--listen', `127.0.0.1:${port}`, '--upstream', upstreamUrl], { env });
    await waitForPort(port, proc);
    return { port, proc, accessLog: () => parseAccessLog(proc.out) };
  }

  /** A raw TCP server on 127.0.0.1 (for misbehaving upstreams). Returns { port, server, connections }. */
  async fakeUpstream(onConnection) {
    const server = net.createServer((sock) => {
      this.sockets.add(sock);
      sock.on('close', () => this.sockets.delete(sock));
      sock.on('error', () => {});
      state.connections += 1;
      onConnection(sock);
    });
    const state = { server, connections: 0, port: 0 };
    await new Promise((res) => server.listen(0, '127.0.0.1', res));
    state.port = server.address().port;
    this.servers.push(server);
    return state;
  }

  /** Stops everything; throws if a child died on its own or printed a sanitizer report. */
  async cleanup() {
    const problems = [];
    const diedAlone = new Set(this.procs.filter((p) => !p.running && !p.signalled && !p.allowExit));
    await Promise.all(this.procs.map((p) => p.stop(5000)));
    for (const p of this.procs) {
      const m = SANITIZER_RE.exec(p.err);
      if (m) {
        problems.push(`${p.name} printed a sanitizer report (exit ${JSON.stringify(p.exit)}):\n`
          + `${p.err.slice(Math.max(0, m.index - 200), m.index + 6000)}`);
      } else if (diedAlone.has(p)) {
        problems.push(`${p.name} exited on its own during the tests: ${JSON.stringify(p.exit)}\n${p.describe()}`);
      } else if (p.exit?.signal && !['SIGTERM', 'SIGKILL', 'SIGINT'].includes(p.exit.signal)) {
        problems.push(`${p.name} died with ${p.exit.signal}\n${p.describe()}`);
      }
    }
    for (const s of this.sockets) s.destroy();
    await Promise.all(this.servers.map((s) => new Promise((res) => s.close(() => res()))));
    for (const d of this.dirs) fs.rmSync(d, { recursive: true, force: true });
    this.procs = []; this.servers = []; this.dirs = [];
    if (problems.length) throw new Error(problems.join('\n\n'));
  }
}

/** One Harness for the calling test file, cleaned up in the file's after() hook. */
export function harness() {
  const h = new Harness();
  // The test file that asked, named in cleanup failures (node reports them under lib.mjs).
  const caller = (new Error().stack ?? '').split('\n').map((l) => /file:\/\/([^:)]+)/.exec(l)?.[1])
    .find((f) => f && !f.endsWith('/lib.mjs')) ?? 'unknown test file';
  after(async () => {
    try {
      await h.cleanup();
    } catch (e) {
      e.message = `[${path.relative(REPO, caller)}] ${e.message}`;
      throw e;
    }
  }, { timeout: 30000 });
  return h;
}

/** Runs a CLI command to completion. Resolves { code, signal, stdout, stderr }. */
export function runCli(args, { env, timeout = 20000, bin = GATEWAY_BIN } = {}) {
  return new Promise((resolve) => {
    execFile(bin, args, { cwd: REPO, env: { ...process.env, ...env }, timeout, maxBuffer: 16 << 20 },
      (err, stdout, stderr) => {
        resolve({
          code: err ? (typeof err.code === 'number' ? err.code : null) : 0,
          signal: err?.signal ?? null,
          error: err && typeof err.code !== 'number' ? err : null,
          stdout, stderr,
        });
      });
  });
}

export function parseAccessLog(stdout) {
  return stdout.split('\n').filter((l) => l.trim() !== '').map((line) => {
    try { return JSON.parse(line); } catch { throw new Error(`access log line is not JSON: ${JSON.stringify(line)}`); }
  });
}

// ---------------------------------------------------------------------------------------------
// HTTP clients.

function bodyOf(body, headers) {
  if (body === undefined || body === null) return undefined;
  if (Buffer.isBuffer(body) || typeof body === 'string') return body;
  if (!Object.keys(headers).some((k) => k.toLowerCase() === 'content-type')) headers['content-type'] = 'application/json';
  return JSON.stringify(body);
}

/**
 * One HTTP(S) request. Resolves { status, headers, rawHeaders, body (Buffer), text, json(), ms }.
 * Defaults: a fresh connection per request (agent:false), 127.0.0.1, 15 s timeout.
 */
export function request({
  port, host = '127.0.0.1', method, path: p = '/', headers = {}, body, tls: useTls = false,
  ca, servername, agent = false, timeout = 15000, setHost,
} = {}) {
  headers = { ...headers };
  const payload = bodyOf(body, headers);
  method ??= payload === undefined ? 'GET' : 'POST';
  const mod = useTls ? https : http;
  const t0 = now();
  return new Promise((resolve, reject) => {
    const req = mod.request({
      host, port, method, path: p, headers, agent, ca, servername, timeout, setHost,
    }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const buf = Buffer.concat(chunks);
        resolve({
          status: res.statusCode,
          headers: res.headers,
          rawHeaders: res.rawHeaders,
          body: buf,
          text: buf.toString('utf8'),
          json() { return JSON.parse(buf.toString('utf8')); },
          ms: now() - t0,
          complete: res.complete,
          reusedSocket: req.reusedSocket,
        });
      });
    });
    req.on('timeout', () => req.destroy(new Error(`request timed out after ${timeout} ms`)));
    req.on('error', reject);
    if (payload !== undefined) req.write(payload);
    req.end();
  });
}

export const postJSON = (port, p, obj, headers = {}, extra = {}) =>
  request({ port, path: p, method: 'POST', body: obj, headers, ...extra });

/** Parses SSE text into [{ event, data }] (complete events only). Returns { events, rest }. */
export function parseSse(text) {
  const events = [];
  const norm = text.replace(/\r\n/g, '\n').replace(/\r/g, '\n');
  const blocks = norm.split('\n\n');
  const rest = blocks.pop();
  for (const block of blocks) {
    let event = 'message';
    const data = [];
    for (const line of block.split('\n')) {
      if (line === '' || line.startsWith(':')) continue;
      const i = line.indexOf(':');
      const field = i < 0 ? line : line.slice(0, i);
      let value = i < 0 ? '' : line.slice(i + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (field === 'event') event = value;
      else if (field === 'data') data.push(value);
    }
    if (data.length) events.push({ event, data: data.join('\n') });
  }
  return { events, rest };
}

/**
 * A streaming request that records when each SSE event arrives (ms since the request began).
 * Resolves (never rejects on transport errors) with
 * { status, headers, events: [{event, data, t, json()}], raw, tHeaders, tEnd, complete, error }.
 * `onEvent(ev, events)` is called as each event is parsed.
 */
export function streamRequest({
  port, host = '127.0.0.1', path: p, headers = {}, body, tls: useTls = false, ca, servername,
  timeout = 30000, onEvent, method = 'POST',
} = {}) {
  headers = { accept: 'text/event-stream', ...headers };
  const payload = bodyOf(body, headers);
  const mod = useTls ? https : http;
  const t0 = now();
  return new Promise((resolve) => {
    const out = { status: 0, headers: {}, events: [], raw: '', tHeaders: null, tEnd: null, complete: false, error: null };
    let buf = '';
    let settled = false;
    const finish = (err) => {
      if (settled) return;
      settled = true;
      out.error = err ?? out.error;
      out.tEnd = now() - t0;
      resolve(out);
    };
    const req = mod.request({ host, port, method, path: p, headers, agent: false, ca, servername }, (res) => {
      out.status = res.statusCode;
      out.headers = res.headers;
      out.tHeaders = now() - t0;
      res.setEncoding('utf8');
      res.on('data', (chunk) => {
        const t = now() - t0;
        out.raw += chunk;
        buf += chunk;
        const { events, rest } = parseSse(buf);
        buf = rest;
        for (const e of events) {
          const ev = { ...e, t, json() { return JSON.parse(e.data); } };
          out.events.push(ev);
          onEvent?.(ev, out.events);
        }
      });
      res.on('error', (e) => finish(e));
      res.on('end', () => { out.complete = res.complete; finish(); });
      res.on('close', () => { if (!res.complete) finish(out.error ?? new Error('response closed before it was complete')); });
    });
    const timer = setTimeout(() => req.destroy(new Error(`stream timed out after ${timeout} ms`)), timeout);
    req.on('close', () => clearTimeout(timer));
    req.on('error', (e) => finish(e));
    if (payload !== undefined) req.write(payload);
    req.end();
  });
}

/** The data payloads of `events` that are JSON (skips [DONE]), parsed. */
export const jsonEvents = (events) => events.filter((e) => e.data !== '[DONE]').map((e) => JSON.parse(e.data));

/** Concatenated choices[0].delta.content of OpenAI chat chunks. */
export function chatStreamText(events) {
  return jsonEvents(events).map((c) => c.choices?.[0]?.delta?.content ?? '').join('');
}

// ---------------------------------------------------------------------------------------------
// Raw sockets.

/**
 * Parses as many complete HTTP/1.x responses as `buf` holds.
 * Returns { responses: [{ status, reason, headers (lowercase -> value, repeated joined by ', '),
 * rawHeaderLines, body (Buffer), text }], rest (Buffer) }. A response without framing headers is
 * complete only when `eof` is true.
 */
export function parseResponses(buf, { eof = false, headRequests = 0 } = {}) {
  const responses = [];
  let off = 0;
  for (;;) {
    const headEnd = buf.indexOf('\r\n\r\n', off);
    if (headEnd < 0) break;
    const head = buf.subarray(off, headEnd).toString('latin1');
    const [statusLine, ...lines] = head.split('\r\n');
    const m = /^HTTP\/1\.[01] (\d{3})(?: (.*))?$/.exec(statusLine);
    if (!m) throw new Error(`bad status line: ${JSON.stringify(statusLine)}`);
    const headers = {};
    for (const l of lines) {
      const i = l.indexOf(':');
      const k = l.slice(0, i).trim().toLowerCase();
      const v = l.slice(i + 1).trim();
      headers[k] = k in headers ? `${headers[k]}, ${v}` : v;
    }
    const status = Number(m[1]);
    let pos = headEnd + 4;
    let body;
    const isHead = responses.length < headRequests;
    if (isHead || status === 204 || status === 304 || (status >= 100 && status < 200)) {
      body = Buffer.alloc(0);
    } else if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
      const parts = [];
      let ok = false;
      for (;;) {
        const le = buf.indexOf('\r\n', pos);
        if (le < 0) break;
        const size = parseInt(buf.subarray(pos, le).toString('latin1').split(';')[0], 16);
        if (Number.isNaN(size)) throw new Error('bad chunk size');
        if (size === 0) {
          // trailers until an empty line
          let tp = le + 2;
          let done = false;
          for (;;) {
            const te = buf.indexOf('\r\n', tp);
            if (te < 0) break;
            if (te === tp) { pos = te + 2; done = true; break; }
            tp = te + 2;
          }
          ok = done;
          break;
        }
        if (buf.length < le + 2 + size + 2) break;
        parts.push(buf.subarray(le + 2, le + 2 + size));
        pos = le + 2 + size + 2;
      }
      if (!ok) break;
      body = Buffer.concat(parts);
    } else if (headers['content-length'] !== undefined) {
      const n = Number(headers['content-length']);
      if (buf.length < pos + n) break;
      body = buf.subarray(pos, pos + n);
      pos += n;
    } else {
      if (!eof) break;
      body = buf.subarray(pos);
      pos = buf.length;
    }
    responses.push({ status, reason: m[2] ?? '', headers, rawHead: head, body, text: body.toString('utf8') });
    off = pos;
  }
  return { responses, rest: buf.subarray(off) };
}

/**
 * Opens a raw TCP (or TLS) connection, writes `data` (a Buffer/string, or an array written in
 * one write each), and collects bytes until `responses` complete responses were parsed, the peer
 * closes, or `timeout` ms pass. Resolves { responses, raw (Buffer), closed, error, ms, tClose }.
 */
export function rawExchange(port, data, { responses: want = 1, timeout = 5000, host = '127.0.0.1', headRequests = 0 } = {}) {
  return new Promise((resolve) => {
    const t0 = now();
    const sock = net.connect({ port, host });
    let raw = Buffer.alloc(0);
    let closed = false;
    let error = null;
    let settled = false;
    const finish = () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      let parsed = { responses: [] };
      try { parsed = parseResponses(raw, { eof: closed, headRequests }); } catch (e) { error ??= e; }
      sock.destroy();
      resolve({ responses: parsed.responses, raw, closed, error, ms: now() - t0 });
    };
    const timer = setTimeout(finish, timeout);
    sock.on('connect', () => {
      for (const d of Array.isArray(data) ? data : [data]) sock.write(d);
    });
    sock.on('data', (d) => {
      raw = Buffer.concat([raw, d]);
      try {
        if (parseResponses(raw, { headRequests }).responses.length >= want) finish();
      } catch (e) { error = e; finish(); }
    });
    sock.on('error', (e) => { error = e; });
    sock.on('close', () => { closed = true; finish(); });
  });
}

/** A raw socket with helpers to read responses incrementally (for keep-alive scenarios). */
export async function rawConnect(port, host = '127.0.0.1') {
  const sock = net.connect({ port, host });
  await new Promise((res, rej) => { sock.once('connect', res); sock.once('error', rej); });
  const conn = {
    sock,
    raw: Buffer.alloc(0),
    consumed: 0,
    closed: false,
    tClose: null,
    error: null,
    waiters: [],
  };
  const wake = () => { for (const w of conn.waiters.splice(0)) w(); };
  sock.on('data', (d) => { conn.raw = Buffer.concat([conn.raw, d]); wake(); });
  sock.on('error', (e) => { conn.error = e; wake(); });
  sock.on('close', () => { conn.closed = true; conn.tClose = now(); wake(); });
  conn.write = (d) => new Promise((res) => {
    if (sock.destroyed || !sock.writable) return res(false);
    sock.write(d, (err) => res(!err));
  });
  /** Waits for the next complete response (or null if the connection closed first / timeout). */
  conn.nextResponse = async (timeout = 5000) => {
    const deadline = now() + timeout;
    for (;;) {
      const { responses, rest } = parseResponses(conn.raw.subarray(conn.consumed), { eof: conn.closed });
      if (responses.length) {
        conn.consumed = conn.raw.length - rest.length;
        return responses[0];
      }
      if (conn.closed || now() > deadline) return null;
      await new Promise((res) => {
        const t = setTimeout(res, Math.max(1, deadline - now()));
        conn.waiters.push(() => { clearTimeout(t); res(); });
      });
    }
  };
  conn.waitClose = async (timeout = 5000) => {
    const deadline = now() + timeout;
    while (!conn.closed && now() < deadline) {
      await new Promise((res) => {
        const t = setTimeout(res, Math.max(1, deadline - now()));
        conn.waiters.push(() => { clearTimeout(t); res(); });
      });
    }
    return conn.closed;
  };
  conn.destroy = () => sock.destroy();
  return conn;
}

// ---------------------------------------------------------------------------------------------
// Test PKI with the openssl CLI.

function run(cmd, args, cwd) {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { cwd, timeout: 30000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')} failed: ${stderr || err.message}`));
      else resolve(stdout);
    });
  });
}

/**
 * Creates a CA and a server certificate for localhost / 127.0.0.1 (SAN) signed by it, in `dir`.
 * Returns { ca, caKey, cert, key, caPem, dir }.
 */
export async function makeTestPki(dir) {
  const f = (n) => path.join(dir, n);
  const ecParams = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  await run('openssl', ['req', '-x509', ...ecParams, '-keyout', f('ca.key'), '-out', f('ca.crt'), '-days', '2',
    '-subj', '/CN=tokengate test CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], dir);
  await run('openssl', ['req', ...ecParams, '-keyout', f('server.key'), '-out', f('server.csr'), '-subj', '/CN=localhost'], dir);
  fs.writeFileSync(f('server.ext'), [
    'subjectAltName=DNS:localhost,IP:127.0.0.1',
    'basicConstraints=critical,CA:FALSE',
    'keyUsage=critical,digitalSignature,keyEncipherment',
    'extendedKeyUsage=serverAuth',
    '',
  ].join('\n'));
  await run('openssl', ['x509', '-req', '-in', f('server.csr'), '-CA', f('ca.crt'), '-CAkey', f('ca.key'),
    '-CAcreateserial', '-out', f('server.crt'), '-days', '2', '-extfile', f('server.ext')], dir);
  return {
    dir,
    ca: f('ca.crt'),
    caKey: f('ca.key'),
    cert: f('server.crt'),
    key: f('server.key'),
    caPem: fs.readFileSync(f('ca.crt')),
  };
}

// ---------------------------------------------------------------------------------------------
// Assertion helpers shared by the files.

/** Checks an OpenAI-format gateway error body; returns the parsed body. */
export function openaiError(res, { code } = {}) {
  const ct = res.headers['content-type'] ?? '';
  if (!/^application\/json\b/i.test(ct)) throw new Error(`error response content-type is ${JSON.stringify(ct)}, want application/json; body: ${res.text}`);
  let b;
  try { b = JSON.parse(res.text); } catch { throw new Error(`error body is not JSON: ${JSON.stringify(res.text)}`); }
  const e = b?.error;
  const bad = (why) => new Error(`not an OpenAI-format error (${why}): ${res.text}`);
  if (!e || typeof e !== 'object') throw bad('no error object');
  if (typeof e.message !== 'string' || e.message === '') throw bad('error.message');
  if (typeof e.type !== 'string' || e.type === '') throw bad('error.type');
  if (!('param' in e) || e.param !== null) throw bad('error.param must be null');
  if (typeof e.code !== 'string' || e.code === '') throw bad('error.code');
  if (code !== undefined) {
    const codes = Array.isArray(code) ? code : [code];
    if (!codes.includes(e.code)) throw new Error(`error.code is ${JSON.stringify(e.code)}, want ${codes.join(' or ')}: ${res.text}`);
  }
  return b;
}

/** Checks an Anthropic-format gateway error body; returns the parsed body. */
export function anthropicError(res) {
  const ct = res.headers['content-type'] ?? '';
  if (!/^application\/json\b/i.test(ct)) throw new Error(`error response content-type is ${JSON.stringify(ct)}, want application/json`);
  const b = JSON.parse(res.text);
  if (b?.type !== 'error' || typeof b.error !== 'object' || typeof b.error.type !== 'string'
      || typeof b.error.message !== 'string' || b.error.message === '') {
    throw new Error(`not an Anthropic-format error: ${res.text}`);
  }
  return b;
}

export const CHAT_BODY = Object.freeze({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Say something.' }] });

// ---------------------------------------------------------------------------------------------
// Rate-limit tests: fixed windows are aligned to the Unix epoch.

/**
 * Waits (at most one window) until at least `needMs` are left in the current epoch-aligned
 * window of `periodMs`, so that what a test does next cannot straddle a window boundary.
 * Returns the ms left in the window when it returns.
 */
export async function awaitWindowRoom(periodMs, needMs) {
  if (needMs >= periodMs) throw new Error(`awaitWindowRoom: ${needMs} ms never fit in a ${periodMs} ms window`);
  const left = () => periodMs - (Date.now() % periodMs);
  if (left() < needMs) await sleep(left() + 20);
  return left();
}

/** Waits until the access log of `gw` holds a line for every request id; returns them in order. */
export async function accessLogLines(gw, ids, { timeout = 5000 } = {}) {
  const want = ids.filter(Boolean);
  if (want.length !== ids.length) throw new Error(`accessLogLines: a request id is missing: ${JSON.stringify(ids)}`);
  return waitFor(() => {
    const byId = new Map(parseAccessLog(gw.proc.out).map((l) => [l.request_id, l]));
    return want.every((id) => byId.has(id)) ? want.map((id) => byId.get(id)) : null;
  }, { timeout, what: `access-log lines for ${want.join(', ')}` });
}
