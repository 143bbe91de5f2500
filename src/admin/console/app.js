// tokengate operator console: plain JS, no dependencies, no network beyond this origin.
// The admin token lives in the `token` variable only (never the URL, never storage).
'use strict';
(function () {
  const POLL_MS = 1000;
  const SPARK_MS = 15 * 60 * 1000;
  const MAX_EVENTS = 200;
  const BREAKER = ['closed', 'half-open', 'open'];

  let token = null;
  let timer = null;
  let prev = null;        // the previous poll's aggregates, for rates
  const series = new Map();  // consumer -> [{t, v}] tokens/s, the last 15 minutes
  let rows = [];
  let sortKey = 'tps';
  let sortDir = -1;
  let after = 0;
  const events = [];
  let configPolled = 0;

  const $ = (id) => document.getElementById(id);

  function el(tag, text, cls) {
    const e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }

  function fmt(n, digits) {
    if (n === null || n === undefined || Number.isNaN(n)) return '–';
    return Number(n).toLocaleString('en-US', { maximumFractionDigits: digits === undefined ? 1 : digits });
  }

  function fmtSeconds(s) {
    if (s === null || s === undefined) return '–';
    return s < 1 ? fmt(s * 1000, 0) + ' ms' : fmt(s, 2) + ' s';
  }

  async function api(path, init) {
    const opts = Object.assign({ cache: 'no-store', credentials: 'omit' }, init || {});
    opts.headers = Object.assign({}, (init && init.headers) || {}, { Authorization: 'Bearer ' + token });
    return fetch(path, opts);
  }

  // ---- Prometheus text exposition -> [{name, labels, value}] ----
  function parseProm(text) {
    const out = [];
    for (const line of text.split('\n')) {
      if (line === '' || line[0] === '#') continue;
      const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
      if (!m) continue;
      const labels = {};
      const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
      let lm;
      while ((lm = re.exec(m[2] || '')) !== null) {
        labels[lm[1]] = lm[2].replace(/\\(.)/g, (_, c) => (c === 'n' ? '\n' : c));
      }
      out.push({ name: m[1], labels, value: Number(m[3]) });
    }
    return out;
  }

  function sumBy(samples, name, label, filter) {
    const m = new Map();
    for (const s of samples) {
      if (s.name !== name || (filter && !filter(s.labels))) continue;
      const k = s.labels[label] || '';
      m.set(k, (m.get(k) || 0) + s.value);
    }
    return m;
  }

  // Quantile q of a cumulative histogram: buckets [{le, count}] (summed over series).
  function quantile(buckets, q) {
    buckets.sort((a, b) => a.le - b.le);
    const total = buckets.length ? buckets[buckets.length - 1].count : 0;
    if (!total) return null;
    const rank = q * total;
    let lo = 0;
    let loCount = 0;
    for (const b of buckets) {
      if (b.count >= rank) {
        if (!Number.isFinite(b.le)) return lo;
        const span = b.count - loCount;
        return span > 0 ? lo + (b.le - lo) * ((rank - loCount) / span) : b.le;
      }
      lo = b.le;
      loCount = b.count;
    }
    return lo;
  }

  function ttftByUpstream(samples) {
    const per = new Map();  // upstream -> Map(le -> count)
    for (const s of samples) {
      if (s.name !== 'tokengate_time_to_first_token_seconds_bucket') continue;
      const u = s.labels.upstream || '';
      const le = s.labels.le === '+Inf' ? Infinity : Number(s.labels.le);
      if (!per.has(u)) per.set(u, new Map());
      const m = per.get(u);
      m.set(le, (m.get(le) || 0) + s.value);
    }
    const out = new Map();
    for (const [u, m] of per) {
      const b = Array.from(m, ([le, count]) => ({ le, count }));
      out.set(u, { p50: quantile(b.slice(), 0.5), p99: quantile(b.slice(), 0.99) });
    }
    return out;
  }

  function rate(cur, key, dt) {
    if (!prev || !dt) return 0;
    const before = prev.get(key);
    if (before === undefined) return 0;
    const d = cur.get(key) - before;
    return d > 0 ? d / dt : 0;  // a counter reset (restart) reads as 0
  }

  // ---- sparklines: hand-written inline SVG ----
  function sparkline(points, now) {
    const NS = 'http://www.w3.org/2000/svg';
    const w = 160;
    const h = 28;
    const svg = document.createElementNS(NS, 'svg');
    svg.setAttribute('class', 'spark');
    svg.setAttribute('width', String(w));
    svg.setAttribute('height', String(h));
    svg.setAttribute('viewBox', `0 0 ${w} ${h}`);
    const max = Math.max(1, ...points.map((p) => p.v));
    // The x axis spans the data kept (up to 15 minutes), so a fresh series is not a dot.
    const span = Math.max(10000, Math.min(SPARK_MS, points.length ? now - points[0].t : 0));
    const pts = points.map((p) => {
      const x = w - ((now - p.t) / span) * w;
      const y = h - 1 - (p.v / max) * (h - 2);
      return `${x.toFixed(1)},${y.toFixed(1)}`;
    });
    const line = document.createElementNS(NS, 'polyline');
    line.setAttribute('points', pts.join(' '));
    svg.appendChild(line);
    const title = document.createElementNS(NS, 'title');
    title.textContent = `max ${fmt(max)} tokens/s`;
    svg.appendChild(title);
    return svg;
  }

  // ---- rendering ----
  function fillTable(id, data, cells) {
    const tbody = $(id).tBodies[0];
    tbody.replaceChildren(...data.map((d) => {
      const tr = el('tr');
      for (const c of cells(d)) tr.appendChild(c instanceof Node ? c : el('td', c));
      return tr;
    }));
  }

  function renderConsumers() {
    const f = $('filter').value.trim().toLowerCase();
    const shown = rows.filter((r) => !f || r.consumer.toLowerCase().includes(f));
    shown.sort((a, b) => {
      const x = a[sortKey];
      const y = b[sortKey];
      const c = typeof x === 'string' ? x.localeCompare(y) : x - y;
      return c * sortDir || a.consumer.localeCompare(b.consumer);
    });
    for (const th of $('consumers').tHead.rows[0].cells) {
      th.classList.toggle('sorted-asc', th.dataset.key === sortKey && sortDir > 0);
      th.classList.toggle('sorted-desc', th.dataset.key === sortKey && sortDir < 0);
    }
    const now = Date.now();
    const selected = $('quota-consumer').value;
    const tbody = $('consumers').tBodies[0];
    tbody.replaceChildren(...shown.map((r) => {
      const tr = el('tr');
      tr.dataset.consumer = r.consumer;
      if (r.consumer === selected) tr.classList.add('selected');
      tr.appendChild(el('td', r.consumer || '(anonymous)'));
      tr.appendChild(el('td', fmt(r.tps)));
      tr.appendChild(el('td', fmt(r.tokens, 0)));
      tr.appendChild(el('td', fmt(r.requests, 0)));
      tr.appendChild(el('td', fmt(r.rejected, 0)));
      const td = el('td');
      td.appendChild(sparkline(series.get(r.consumer) || [], now));
      tr.appendChild(td);
      return tr;
    }));
  }

  function onMetrics(text) {
    const samples = parseProm(text);
    const t = Date.now();
    const dt = prev ? (t - prev.t) / 1000 : 0;
    const byConsumer = sumBy(samples, 'tokengate_tokens_total', 'consumer');
    const byModel = sumBy(samples, 'tokengate_tokens_total', 'model');
    const reqByConsumer = sumBy(samples, 'tokengate_requests_total', 'consumer');
    const rejByConsumer = sumBy(samples, 'tokengate_requests_total', 'consumer', (l) => l.status === '429');
    const reqByUpstream = sumBy(samples, 'tokengate_requests_total', 'upstream');
    const cur = new Map();
    for (const [k, v] of byConsumer) cur.set('c:' + k, v);
    for (const [k, v] of byModel) cur.set('m:' + k, v);
    for (const [k, v] of reqByUpstream) cur.set('u:' + k, v);
    const decisions = samples.filter((s) => s.name === 'tokengate_ratelimit_decisions_total');
    for (const s of decisions) cur.set(`d:${s.labels.policy}\0${s.labels.rule}\0${s.labels.decision}`, s.value);

    const names = new Set([...byConsumer.keys(), ...reqByConsumer.keys()]);
    names.delete('');
    let total = 0;
    rows = [];
    for (const c of names) {
      const tps = rate(cur, 'c:' + c, dt);
      total += tps;
      const pts = series.get(c) || [];
      if (prev) pts.push({ t, v: tps });
      while (pts.length && t - pts[0].t > SPARK_MS) pts.shift();
      series.set(c, pts);
      rows.push({ consumer: c, tps, tokens: byConsumer.get(c) || 0, requests: reqByConsumer.get(c) || 0, rejected: rejByConsumer.get(c) || 0 });
    }
    $('total-tps').textContent = fmt(total);
    renderConsumers();

    fillTable('models', Array.from(byModel.keys()).filter((m) => m !== '').sort(), (m) => [m, fmt(rate(cur, 'm:' + m, dt)), fmt(byModel.get(m), 0)]);

    const ttft = ttftByUpstream(samples);
    const breakers = new Map();
    for (const s of samples) if (s.name === 'tokengate_circuit_breaker_state') breakers.set(s.labels.upstream, s.value);
    const ups = new Set([...reqByUpstream.keys(), ...breakers.keys(), ...ttft.keys()]);
    ups.delete('');
    fillTable('upstreams', Array.from(ups).sort(), (u) => {
      const b = breakers.has(u) ? BREAKER[breakers.get(u)] || String(breakers.get(u)) : 'none';
      const q = ttft.get(u) || {};
      return [u, fmt(rate(cur, 'u:' + u, dt)), fmtSeconds(q.p50), fmtSeconds(q.p99), el('td', b, 'breaker-' + b)];
    });

    fillTable('decisions', decisions, (s) => [s.labels.policy, s.labels.rule, s.labels.decision, fmt(s.value, 0),
      fmt(rate(cur, `d:${s.labels.policy}\0${s.labels.rule}\0${s.labels.decision}`, dt))]);

    let depth = 0;
    for (const s of samples) if (s.name === 'tokengate_ratelimit_queue_depth') depth += s.value;
    $('queue-depth').textContent = fmt(depth, 0);

    cur.t = t;
    prev = cur;
    prev.t = t;
  }

  function onTop(j) {
    $('top').replaceChildren(...(j.top || []).map((e) => el('li', `${e.consumer}: ${fmt(e.tokens, 0)} tokens`)));
  }

  function onConfig(j) {
    const parts = [];
    if (j.generation !== undefined) parts.push('generation ' + j.generation);
    if (Array.isArray(j.routes)) parts.push(j.routes.length + ' routes');
    if (Array.isArray(j.upstreams)) parts.push(j.upstreams.length + ' upstreams');
    $('config-info').textContent = parts.join(', ') || 'loaded';
  }

  // GET /admin/reloads: the generation running and the last reload, with its errors if it
  // was refused (the running config then stays).
  function onReloads(j) {
    const last = (j.reloads || [])[j.reloads.length - 1];
    let text = 'generation ' + j.generation;
    if (last) {
      const when = new Date(last.time).toLocaleTimeString();
      text += last.ok ? ` · last reload ${when}: applied` : ` · last reload ${when}: refused`;
    } else {
      text += ' · no reload since start';
    }
    $('reload-info').textContent = text;
    $('reload-errors').replaceChildren(...(last && !last.ok ? last.errors : []).map((e) => el('li', e)));
  }

  function onEvents(j) {
    if (typeof j.next === 'number') {
      if (j.next < after) events.length = 0;  // the gateway restarted
      after = j.next;
    }
    for (const e of j.events || []) events.unshift(e);
    events.length = Math.min(events.length, MAX_EVENTS);
    const fresh = new Set((j.events || []).map((e) => e.seq));
    fillTable('events', events, (e) => {
      const policy = e.policy ? `${e.policy} / ${e.rule || ''}` : '';
      return [e.seq, (e.time || '').replace('T', ' ').replace('Z', ''), e.consumer || '', e.decision || '', policy, e.model || '', e.status];
    });
    const trs = $('events').tBodies[0].rows;
    for (let i = 0; i < trs.length; i++) if (fresh.has(events[i].seq)) trs[i].classList.add('fresh');
  }

  // ---- polling ----
  async function getJson(path) {
    const r = await api(path);
    if (r.status === 401) throw Object.assign(new Error('unauthorized'), { unauthorized: true });
    if (!r.ok) return null;
    return r.json();
  }

  async function poll() {
    timer = null;
    if (!token) return;
    try {
      const m = await api('/metrics');
      if (m.status === 401) throw Object.assign(new Error('unauthorized'), { unauthorized: true });
      if (m.ok) onMetrics(await m.text());
      const [top, ev, rl] = await Promise.all([
        getJson('/admin/top?n=10'), getJson('/admin/events?after=' + after), getJson('/admin/reloads')]);
      if (top) onTop(top);
      if (ev) onEvents(ev);
      if (rl) onReloads(rl);
      await loadBuckets();
      if (Date.now() - configPolled > 10000) {
        configPolled = Date.now();
        const c = await getJson('/admin/config');
        if (c) onConfig(c);
      }
      $('status').textContent = 'updated ' + new Date().toLocaleTimeString();
    } catch (e) {
      if (e.unauthorized) {
        logout('the admin token was rejected');
        return;
      }
      $('status').textContent = 'gateway unreachable: ' + e.message;
    }
    if (token) timer = setTimeout(poll, POLL_MS);
  }

  function logout(message) {
    token = null;
    if (timer) clearTimeout(timer);
    timer = null;
    prev = null;
    $('main').hidden = true;
    $('logout').hidden = true;
    $('login').hidden = false;
    const err = $('login-error');
    err.textContent = message || '';
    err.hidden = !message;
  }

  async function login(ev) {
    ev.preventDefault();
    const input = $('token');
    token = input.value;
    input.value = '';
    const err = $('login-error');
    err.hidden = true;
    try {
      const r = await api('/admin/top?n=1');
      if (r.status === 401) {
        token = null;
        err.textContent = 'Wrong admin token (401).';
        err.hidden = false;
        return;
      }
    } catch (e) {
      token = null;
      err.textContent = 'Cannot reach the gateway: ' + e.message;
      err.hidden = false;
      return;
    }
    $('login').hidden = true;
    $('main').hidden = false;
    $('logout').hidden = false;
    configPolled = 0;
    poll();
  }

  // ---- the selected consumer's limits (GET /admin/buckets): each bucket against its limit ----
  async function loadBuckets() {
    const c = $('quota-consumer').value.trim();
    if (!c) return;
    const j = await getJson('/admin/buckets?consumer=' + encodeURIComponent(c));
    if (!j || j.consumer !== $('quota-consumer').value.trim()) return;
    const secs = (ms) => (ms >= 1000 ? fmt(ms / 1000, 1) + ' s' : ms + ' ms');
    fillTable('buckets', j.buckets || [], (b) => {
      const pct = b.limit > 0 ? Math.min(100, Math.round((100 * b.used) / b.limit)) : 0;
      const bar = el('td');
      const meter = document.createElement('meter');
      meter.min = 0;
      meter.max = 100;
      meter.value = pct;
      meter.high = 80;
      bar.append(meter, ' ' + pct + '%');
      return [`${b.policy} / ${b.rule}`, b.unit, b.window_ms ? secs(b.window_ms) : 'in flight',
        fmt(b.limit, 0), fmt(b.used, 0), fmt(b.remaining, 0), secs(b.reset_ms || 0), bar];
    });
    const tr = $('buckets').tBodies[0].rows;
    for (let i = 0; i < tr.length; i++) tr[i].dataset.remaining = String((j.buckets[i] || {}).remaining);
  }

  // ---- quota ----
  async function loadQuota() {
    const c = $('quota-consumer').value.trim();
    const msg = $('quota-msg');
    if (!c) return;
    const r = await api('/admin/quota/' + encodeURIComponent(c));
    const j = await r.json().catch(() => ({}));
    if (!r.ok) {
      $('quota-value').textContent = '';
      msg.textContent = (j.error && j.error.message) || `error ${r.status}`;
      return;
    }
    $('quota-value').textContent = j.unlimited ? 'unlimited' : `${fmt(j.quota, 0)} tokens left`;
    $('quota-value').dataset.quota = j.unlimited ? 'unlimited' : String(j.quota);
  }

  async function changeQuota(remove) {
    const c = $('quota-consumer').value.trim();
    const msg = $('quota-msg');
    if (!c) {
      msg.textContent = 'choose a consumer first';
      return;
    }
    let init;
    let question;
    if (remove) {
      init = { method: 'DELETE' };
      question = `Remove the quota of "${c}" (unlimited)?`;
    } else {
      const v = $('quota-new').value.trim();
      if (!/^\d+$/.test(v)) {
        msg.textContent = 'the quota is a whole number of tokens';
        return;
      }
      init = { method: 'PUT', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ quota: Number(v) }) };
      question = `Set the quota of "${c}" to ${v} tokens?`;
    }
    if (!window.confirm(question)) return;
    const r = await api('/admin/quota/' + encodeURIComponent(c), init);
    const j = await r.json().catch(() => ({}));
    msg.textContent = r.ok ? 'saved' : (j.error && j.error.message) || `error ${r.status}`;
    await loadQuota();
  }

  document.addEventListener('DOMContentLoaded', () => {
    $('login-form').addEventListener('submit', login);
    $('logout').addEventListener('click', () => logout(''));
    $('filter').addEventListener('input', renderConsumers);
    for (const th of $('consumers').tHead.rows[0].cells) {
      if (!th.dataset.key) continue;
      th.addEventListener('click', () => {
        if (sortKey === th.dataset.key) sortDir = -sortDir;
        else {
          sortKey = th.dataset.key;
          sortDir = sortKey === 'consumer' ? 1 : -1;
        }
        renderConsumers();
      });
    }
    $('consumers').tBodies[0].addEventListener('click', (e) => {
      const tr = e.target.closest('tr');
      if (!tr || !tr.dataset.consumer) return;
      $('quota-consumer').value = tr.dataset.consumer;
      $('quota-msg').textContent = '';
      renderConsumers();
      loadQuota();
      loadBuckets();
    });
    $('quota-load').addEventListener('click', loadQuota);
    $('quota-set').addEventListener('click', () => changeQuota(false));
    $('quota-delete').addEventListener('click', () => changeQuota(true));
  });
})();
