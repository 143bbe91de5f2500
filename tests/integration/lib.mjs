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

// ---------------------------------------------------------------------------------------------
// Redis (the Redis store tests): real redis-server processes on free loopback ports, owned by a
// Harness like every other child (stopped in its cleanup, also when a test failed).

function onPath(cmd) {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir && fs.existsSync(path.join(dir, cmd))) return path.join(dir, cmd);
  }
  return null;
}
export const REDIS_SERVER_BIN = process.env.REDIS_SERVER_BIN || onPath('redis-server');
export const REDIS_CLI_BIN = process.env.REDIS_CLI_BIN || onPath('redis-cli');

/** Why the Redis tests cannot run here (no redis-server / redis-cli), or null. For test({ skip }). */
export function redisMissing() {
  if (!REDIS_SERVER_BIN) return 'redis-server not found on PATH (set REDIS_SERVER_BIN)';
  if (!REDIS_CLI_BIN) return 'redis-cli not found on PATH (set REDIS_CLI_BIN)';
  return null;
}

/**
 * redis-cli against 127.0.0.1:port with `args` (an array: each element one argument, '' allowed).
 * Resolves its stdout without the trailing newline; rejects when it fails or takes over `timeout`.
 */
export function redisCli(port, args, { timeout = 10000 } = {}) {
  return new Promise((resolve, reject) => {
    execFile(REDIS_CLI_BIN, ['-h', '127.0.0.1', '-p', String(port), ...args], { timeout, maxBuffer: 16 << 20 },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`redis-cli -p ${port} ${args.join(' ')} failed: ${stderr || err.message}`));
        else resolve(stdout.replace(/\r?\n$/, ''));
      });
  });
}

/**
 * redis-cli arguments that print one field of a bucket as the store keeps it (src/redis/scripts.h:
 * six little-endian doubles s, c, p, b, x, t): the field as an integer, or nothing when the key
 * does not exist.
 */
export function bucketFieldArgs(key, field) {
  const index = ['s', 'c', 'p', 'b', 'x', 't'].indexOf(field);
  if (index < 0) throw new Error(`no bucket field ${field}`);
  return ['EVAL', "local v = redis.call('GET', KEYS[1]) if not v then return false end " +
    "return (struct.unpack('<d', v, tonumber(ARGV[1])))", '1', key, String(1 + 8 * index)];
}

/** Resolves true once something on `port` answers a PING with any bytes (-NOAUTH counts) within `ms`. */
function redisAnswers(port, ms = 500) {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: '127.0.0.1' });
    const done = (ok) => { clearTimeout(t); s.destroy(); resolve(ok); };
    const t = setTimeout(() => done(false), ms);
    s.once('connect', () => s.write('PING\r\n'));
    s.once('data', () => done(true));
    s.once('error', () => done(false));
  });
}

/**
 * One redis-server on 127.0.0.1:port (no persistence, no protected mode) and its life cycle:
 * start / kill (SIGKILL: an outage) / stop / restart on the same port / pause (SIGSTOP: a hung
 * server) / resume. `args`: extra redis-server arguments (e.g. ['--requirepass', 'pw']).
 */
export class RedisServer {
  constructor(h, { port, args = [], name = 'redis-server' } = {}) {
    this.h = h;
    this.port = port;
    this.args = args;
    this.name = name;
    this.proc = null;
    this.paused = false;
  }

  get running() { return !!this.proc?.running; }

  /** Starts it (again, on the same port); resolves once it answers PING (bounded by STARTUP_MS). */
  async start() {
    if (this.running) return this;
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
      '--protected-mode', 'no', '--loglevel', 'warning', ...this.args];
    this.proc = this.h.spawn(`${this.name}:${this.port}`, REDIS_SERVER_BIN, args);
    this.paused = false;
    const deadline = now() + STARTUP_MS;
    while (!(await redisAnswers(this.port))) {
      if (!this.proc.running) throw new Error(`${this.proc.name} exited before answering\n${this.proc.describe()}`);
      if (now() > deadline) throw new Error(`${this.proc.name} did not answer PING within ${STARTUP_MS} ms\n${this.proc.describe()}`);
      await sleep(20);
    }
    return this;
  }

  /** SIGKILL (an outage, not a shutdown); resolves once the process is gone. */
  async kill() {
    if (!this.running) return;
    this.proc.signal('SIGKILL');
    this.paused = false;
    await this.proc.waitExit(10000);
  }

  /** SIGTERM, then SIGKILL. */
  async stop() {
    if (!this.proc) return;
    if (this.paused) this.resume();
    await this.proc.stop(3000);
  }

  async restart() {
    await this.kill();
    return this.start();
  }

  /** SIGSTOP: the server keeps its port (connections are accepted by the kernel) but never answers. */
  pause() {
    if (!this.running) return;
    this.proc.child.kill('SIGSTOP');
    this.paused = true;
  }

  resume() {
    if (!this.running || !this.paused) return;
    this.proc.child.kill('SIGCONT');
    this.paused = false;
  }

  /** redis-cli against this server (see redisCli). */
  cli(...args) { return redisCli(this.port, args); }
}

/** Starts a redis-server on a free port (or `port`). Returns the running RedisServer. */
export async function redisServer(h, { port, args = [], name } = {}) {
  // (A paused server is still ended by the harness's cleanup: SIGTERM waits, then SIGKILL.)
  return new RedisServer(h, { port: port ?? await freePort(), args, name }).start();
}

/** A free loopback port below 55000 whose cluster bus port (port + 10000) is free too. */
export async function freeClusterPort() {
  for (let i = 0; i < 200; ++i) {
    const p = await freePort();
    if (p > 55000) continue;
    const busFree = await new Promise((resolve) => {
      const srv = net.createServer();
      srv.unref();
      srv.once('error', () => resolve(false));
      srv.listen(p + 10000, '127.0.0.1', () => srv.close(() => resolve(true)));
    });
    if (busFree) return p;
  }
  throw new Error('no free port pair (port, port + 10000) for a Redis Cluster node');
}

/**
 * A Redis Cluster of `masters` masters, each with `replicas` replicas (default none), on free
 * loopback ports, created with `redis-cli --cluster create --cluster-replicas N` (slots 0-5460,
 * 5461-10922, 10923-16383 for three masters; redis-cli picks the first `masters` nodes as masters
 * and assigns the others to them as replicas) and waited for until every node reports
 * cluster_state:ok and sees every slot covered, and (with replicas) every node sees every master
 * with its `replicas` replicas and every replica's link to its master is up.
 * `nodeTimeoutMs`: cluster-node-timeout (how soon a dead master is failed over by its replica).
 * Returns { nodes: RedisServer[] (masters and replicas, in creation order), ports, keyslot(key),
 * owner(slot), nodeId(node), topology(), masterOf(slot), replicaOf(master), waitHealthy(),
 * migrateSlot(...) }.
 */
export async function redisCluster(h, { masters = 3, replicas = 0, nodeTimeoutMs = 2000, timeout = 30000 } = {}) {
  const dir = h.tmpDir();
  const nodes = [];
  for (let i = 0; i < masters * (1 + replicas); ++i) {
    const port = await freeClusterPort();
    nodes.push(await redisServer(h, {
      port,
      name: `redis-cluster-${i}`,
      args: ['--cluster-enabled', 'yes', '--cluster-config-file', path.join(dir, `nodes-${port}.conf`),
        '--cluster-node-timeout', String(nodeTimeoutMs), '--dir', dir],
    }));
  }
  await redisCli(nodes[0].port, ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`),
    '--cluster-replicas', String(replicas), '--cluster-yes'], { timeout });
  const slotsCovered = (text) => {
    // CLUSTER SLOTS as redis-cli prints it: first, last, host, port, id per range (one value a line;
    // the replicas' host, port, id follow the master's).
    const lines = text.split('\n');
    let covered = 0;
    for (let i = 0; i + 3 < lines.length; ++i) {
      if (lines[i + 2] === '127.0.0.1' && /^\d+$/.test(lines[i]) && /^\d+$/.test(lines[i + 1])) {
        covered += Number(lines[i + 1]) - Number(lines[i]) + 1;
      }
    }
    return covered;
  };
  const firstRunning = () => {
    const n = nodes.find((x) => x.running);
    if (!n) throw new Error('no node of the cluster is running');
    return n;
  };
  /**
   * CLUSTER NODES of `via`, parsed: one entry per node it knows, { node (the RedisServer, or
   * null), id, port, role: 'master' | 'replica', masterId (a replica's master, else null),
   * failed (flag fail: the cluster agreed it is down), pfail (flag fail?), slots: [[first, last]] }.
   */
  const topology = async (via = firstRunning()) => {
    const out = [];
    for (const line of (await via.cli('CLUSTER', 'NODES')).split('\n')) {
      const f = line.trim().split(' ');
      if (f.length < 8) continue;
      const port = Number(/:(\d+)@/.exec(f[1])?.[1]);
      const flags = f[2].split(',');
      const slots = [];
      for (const s of f.slice(8)) {
        if (s.startsWith('[')) continue;  // [slot->-id] / [slot-<-id]: a migration in progress
        const [a, b = a] = s.split('-').map(Number);
        slots.push([a, b]);
      }
      out.push({
        node: nodes.find((n) => n.port === port) ?? null,
        id: f[0],
        port,
        role: flags.includes('master') ? 'master' : 'replica',
        masterId: f[3] === '-' ? null : f[3],
        failed: flags.includes('fail'),
        pfail: flags.includes('fail?'),
        slots,
      });
    }
    return out;
  };
  /** Resolves once every running node reports cluster_state:ok and sees all 16384 slots served (bounded). */
  const waitHealthy = async ({ timeout: ms = timeout, what = 'cluster_state:ok on every node' } = {}) => {
    await waitFor(async () => {
      for (const n of nodes.filter((x) => x.running)) {
        if (!(await n.cli('CLUSTER', 'INFO')).includes('cluster_state:ok')) return false;
        if (slotsCovered(await n.cli('CLUSTER', 'SLOTS')) !== 16384) return false;
      }
      return true;
    }, { timeout: ms, interval: 100, what });
  };
  await waitHealthy({ timeout });
  if (replicas > 0) {
    // Every node sees the whole shape (gossip converged), and every replica is in sync.
    await waitFor(async () => {
      for (const n of nodes) {
        const t = await topology(n);
        if (t.length !== nodes.length || t.some((e) => e.failed || e.pfail)) return false;
        const ms = t.filter((e) => e.role === 'master' && e.slots.length > 0);
        if (ms.length !== masters) return false;
        if (ms.some((m) => t.filter((e) => e.masterId === m.id).length !== replicas)) return false;
      }
      for (const e of (await topology(nodes[0])).filter((x) => x.role === 'replica')) {
        if (!(await e.node.cli('INFO', 'replication')).includes('master_link_status:up')) return false;
      }
      return true;
    }, { timeout, interval: 100, what: `${masters} masters with ${replicas} replica(s) each, in sync, seen by every node` });
  }

  const ids = new Map();
  const cluster = {
    nodes,
    ports: nodes.map((n) => n.port),
    /** CLUSTER KEYSLOT of `key`. */
    keyslot: async (key) => Number(await nodes[0].cli('CLUSTER', 'KEYSLOT', key)),
    async nodeId(node) {
      if (!ids.has(node.port)) ids.set(node.port, await node.cli('CLUSTER', 'MYID'));
      return ids.get(node.port);
    },
    /** The node that owns `slot`, by CLUSTER SLOTS of `via` (default: the first node). */
    async owner(slot, via = nodes[0]) {
      const lines = (await via.cli('CLUSTER', 'SLOTS')).split('\n');
      for (let i = 0; i + 3 < lines.length; ++i) {
        if (lines[i + 2] === '127.0.0.1' && Number(lines[i]) <= slot && slot <= Number(lines[i + 1])) {
          return nodes.find((n) => n.port === Number(lines[i + 3])) ?? null;
        }
      }
      return null;
    },
    topology,
    waitHealthy,
    /** The master serving `slot` (a RedisServer), by CLUSTER NODES of `via` (default: a running node). */
    async masterOf(slot, via = firstRunning()) {
      const m = (await topology(via)).find((e) => e.role === 'master' && !e.failed
        && e.slots.some(([a, b]) => a <= slot && slot <= b));
      return m?.node ?? null;
    },
    /** A replica of `master` (a RedisServer), by CLUSTER NODES of `via` (default: a running node). */
    async replicaOf(master, via = firstRunning()) {
      const t = await topology(via);
      const id = t.find((e) => e.port === master.port)?.id;
      return t.find((e) => e.role === 'replica' && id && e.masterId === id)?.node ?? null;
    },
    /** Every key of the cluster (redis-cli --scan on each master) matching `pattern`. */
    async scan(pattern = '*') {
      const all = [];
      const masterNodes = replicas === 0 ? nodes
        : (await topology()).filter((e) => e.role === 'master' && !e.failed && e.node?.running).map((e) => e.node);
      for (const n of masterNodes) {
        const out = await n.cli('--scan', '--pattern', pattern);
        if (out) all.push(...out.split('\n'));
      }
      return all;
    },
    /**
     * Moves `slot` from its owner to `to`, live, the way redis-cli --cluster reshard does:
     * IMPORTING on the destination, MIGRATING on the source, MIGRATE of its keys in batches,
     * then SETSLOT NODE on the destination, the source and every other node. `onStep(name)`
     * is awaited after each step (to keep traffic running between them).
     * Returns { from, to, keysMoved }.
     */
    async migrateSlot(slot, to, { onStep = async () => {} } = {}) {
      const from = await cluster.owner(slot);
      if (!from) throw new Error(`no owner for slot ${slot}`);
      if (from === to) throw new Error(`slot ${slot} already belongs to ${to.port}`);
      const fromId = await cluster.nodeId(from);
      const toId = await cluster.nodeId(to);
      const ok = (what, r) => { if (r !== 'OK') throw new Error(`${what}: ${r}`); };
      ok('SETSLOT IMPORTING', await to.cli('CLUSTER', 'SETSLOT', String(slot), 'IMPORTING', fromId));
      ok('SETSLOT MIGRATING', await from.cli('CLUSTER', 'SETSLOT', String(slot), 'MIGRATING', toId));
      await onStep('migrating');
      let keysMoved = 0;
      for (let round = 0; round < 1000; ++round) {
        const out = await from.cli('CLUSTER', 'GETKEYSINSLOT', String(slot), '100');
        const keys = out ? out.split('\n') : [];
        if (keys.length === 0) break;
        const r = await from.cli('MIGRATE', '127.0.0.1', String(to.port), '', '0', '5000', 'KEYS', ...keys);
        if (r !== 'OK' && r !== 'NOKEY') throw new Error(`MIGRATE: ${r}`);
        keysMoved += keys.length;
      }
      await onStep('keys moved');
      ok('SETSLOT NODE (destination)', await to.cli('CLUSTER', 'SETSLOT', String(slot), 'NODE', toId));
      ok('SETSLOT NODE (source)', await from.cli('CLUSTER', 'SETSLOT', String(slot), 'NODE', toId));
      for (const n of nodes) {
        if (n !== to && n !== from) ok('SETSLOT NODE', await n.cli('CLUSTER', 'SETSLOT', String(slot), 'NODE', toId));
      }
      await onStep('moved');
      return { from, to, keysMoved };
    },
  };
  return cluster;
}

/** How many Redis connections `gw` has reported up (connected, or reachable again), from its stderr. */
export function redisConnections(gw) {
  return (gw.proc.err.match(/"msg":"redis: (connected|node reachable again)"/g) ?? []).length;
}
