#include "admin/server.h"

#include <charconv>
#include <exception>
#include <unordered_set>

#include "admin/api.h"
#include "admin/console.h"
#include "core/log.h"
#include "http/read_buffer.h"
#include "http/request_reader.h"
#include "io/deadline.h"
#include "io/stream.h"

namespace tg::admin {

namespace net = http::net;
using http::error_code;
using http::tcp;
using std::chrono::milliseconds;

namespace {

constexpr std::string_view kJson = "application/json";
constexpr std::string_view kPrometheus = "text/plain; version=0.0.4; charset=utf-8";

struct Reply {
  int status = 200;
  std::string_view contentType = kJson;
  std::string body;
  std::string extraHeaders;  // "Name: value\r\n" each
};

void setError(Reply& r, int status, std::string_view code, std::string_view message) {
  r.status = status;
  r.contentType = kJson;
  r.body = jsonError(code, message);
}

void notImplemented(Reply& r, std::string_view what) {
  setError(r, 501, "not_implemented", std::string(what) + " is not available in this gateway");
}

std::string peerOf(tcp::socket& s) {
  error_code ec;
  tcp::endpoint ep = s.remote_endpoint(ec);
  return ec ? std::string("unknown") : ep.address().to_string();
}

void appendQuoted(std::string& out, std::string_view s) {
  out += '"';
  core::appendJsonEscaped(out, s);
  out += '"';
}

std::string bucketsJson(const BucketQuery& q, const std::vector<BucketView>& buckets) {
  std::string out = "{\"consumer\":";
  appendQuoted(out, q.consumer);
  if (!q.route.empty()) {
    out += ",\"route\":";
    appendQuoted(out, q.route);
  }
  if (!q.model.empty()) {
    out += ",\"model\":";
    appendQuoted(out, q.model);
  }
  out += ",\"buckets\":[";
  for (size_t i = 0; i < buckets.size(); ++i) {
    const BucketView& b = buckets[i];
    out += i ? ",{\"key\":" : "{\"key\":";
    appendQuoted(out, b.key);
    out += ",\"policy\":";
    appendQuoted(out, b.policy);
    out += ",\"rule\":";
    appendQuoted(out, b.rule);
    out += ",\"unit\":";
    appendQuoted(out, b.unit);
    out += ",\"limit\":" + std::to_string(b.limit);
    out += ",\"window_ms\":" + std::to_string(b.windowMs);
    out += ",\"used\":" + std::to_string(b.used);
    out += ",\"remaining\":" + std::to_string(b.remaining);
    out += ",\"reset_ms\":" + std::to_string(b.resetMs) + "}";
  }
  out += "]}\n";
  return out;
}

std::string topJson(const std::vector<TopEntry>& top) {
  std::string out = "{\"top\":[";
  for (size_t i = 0; i < top.size(); ++i) {
    out += i ? ",{\"consumer\":" : "{\"consumer\":";
    appendQuoted(out, top[i].consumer);
    out += ",\"tokens\":" + std::to_string(top[i].tokens) + "}";
  }
  out += "]}\n";
  return out;
}

std::string reloadJson(const ReloadReply& r) {
  std::string out = r.ok ? "{\"ok\":true,\"errors\":[" : "{\"ok\":false,\"errors\":[";
  for (size_t i = 0; i < r.errors.size(); ++i) {
    if (i) {
      out += ',';
    }
    appendQuoted(out, r.errors[i]);
  }
  out += "]}\n";
  return out;
}

// A value handed over by a callback (from any thread), or nothing after a timeout. The timer
// doubles as the wake-up: the callback posts the value to the server's thread and cancels it.
template <typename T>
struct Waiter {
  explicit Waiter(const net::any_io_executor& ex) : timer(ex) {}
  net::steady_timer timer;
  std::optional<T> value;
};

template <typename T, typename Start>
http::Task<std::optional<T>> awaitCallback(net::any_io_executor ex, milliseconds timeout,
                                           Start start) {
  auto w = std::make_shared<Waiter<T>>(ex);
  w->timer.expires_after(timeout);
  std::function<void(T)> done = [w, ex](T v) {
    net::post(ex, [w, v = std::move(v)]() mutable {
      if (!w->value) {
        w->value = std::move(v);
        w->timer.cancel();
      }
    });
  };
  start(std::move(done));
  error_code ec;
  co_await w->timer.async_wait(http::use(ec));
  co_return std::move(w->value);
}

// One quota call in flight: the result outlives a timed-out wait (the store still writes
// it), so it lives in shared state with the wake-up timer.
struct QuotaCall {
  explicit QuotaCall(const net::any_io_executor& ex) : timer(ex) {}
  net::steady_timer timer;
  store::QuotaResult result;
  bool finished = false;
};

using QuotaOp = std::function<bool(store::QuotaResult&, std::function<void()>)>;

}  // namespace

struct AdminServer::State {
  State(net::io_context& io, AdminOptions o, Hooks h, TokenAuth a)
      : ex(io.get_executor()),
        options(std::move(o)),
        hooks(std::move(h)),
        auth(a),
        acceptor(io),
        limits{options.maxHeaderBytes, options.maxHeaders,  options.maxBodyBytes,
               options.headerTimeout,  options.bodyTimeout, options.idleTimeout} {}

  net::any_io_executor ex;
  AdminOptions options;
  Hooks hooks;
  TokenAuth auth;
  tcp::acceptor acceptor;
  http::RequestLimits limits;
  bool stopped = false;
  struct Connection;
  std::unordered_set<Connection*> connections;
};

// One admin connection: its stream, buffer, deadline and reader (as proxy::Session, smaller).
struct AdminServer::State::Connection {
  Connection(std::shared_ptr<State> s, tcp::socket sock)
      : st(std::move(s)),
        peer(peerOf(sock)),
        stream(std::move(sock)),
        deadline(st->ex, [this] { stream.cancel(); }),
        buf(4096),
        reader(stream, buf, deadline, st->limits) {
    st->connections.insert(this);
  }
  ~Connection() {
    deadline.stop();
    st->connections.erase(this);
  }

  std::shared_ptr<State> st;
  std::string peer;
  io::Stream stream;
  io::Deadline deadline;
  http::ReadBuffer buf;
  http::RequestReader reader;
  http::Request req;
  std::string out;
};

namespace {

using State = AdminServer::State;

http::Task<bool> runQuota(State& st, const std::shared_ptr<QuotaCall>& call, const QuotaOp& op) {
  net::any_io_executor ex = st.ex;
  std::function<void()> done = [call, ex] {
    net::post(ex, [call] {
      call->finished = true;
      call->timer.cancel();
    });
  };
  if (op(call->result, done)) {
    co_return true;
  }
  call->timer.expires_after(st.options.hookTimeout);
  error_code ec;
  co_await call->timer.async_wait(http::use(ec));
  co_return call->finished;
}

// The quota endpoints: straight to the store's quota buckets (store/quota.h).
http::Task<void> handleQuota(State& st, Endpoint e, const std::string& consumer,
                             const http::Request& req, const std::string& peer, Reply& r) {
  store::Store* qs = st.options.quota;
  if (!qs) {
    setError(r, 501, "quota_disabled", "quotas are not enabled (quota.enabled in the config)");
    co_return;
  }
  int64_t value = 0;
  if (e == Endpoint::QuotaSet || e == Endpoint::QuotaIncrease || e == Endpoint::QuotaDecrease) {
    const bool isSet = e == Endpoint::QuotaSet;
    core::Result<int64_t> parsed = parseIntegerBody(req.body, isSet ? "quota" : "amount", isSet ? 0 : 1);
    if (!parsed) {
      setError(r, 400, "invalid_body", parsed.error());
      co_return;
    }
    value = *parsed;
  }
  QuotaOp op;
  std::string_view action;
  switch (e) {
    case Endpoint::QuotaGet:
      op = [qs, &consumer](store::QuotaResult& out, std::function<void()> done) {
        return store::quotaGet(*qs, consumer, out, std::move(done));
      };
      break;
    case Endpoint::QuotaSet:
      action = "set";
      op = [qs, &consumer, value](store::QuotaResult& out, std::function<void()> done) {
        return store::quotaSet(*qs, consumer, value, out, std::move(done));
      };
      break;
    case Endpoint::QuotaDelete:
      action = "delete";
      op = [qs, &consumer](store::QuotaResult& out, std::function<void()> done) {
        return store::quotaRemove(*qs, consumer, out, std::move(done));
      };
      break;
    case Endpoint::QuotaIncrease:
    case Endpoint::QuotaDecrease: {
      action = e == Endpoint::QuotaIncrease ? "increase" : "decrease";
      int64_t delta = e == Endpoint::QuotaIncrease ? value : -value;
      op = [qs, &consumer, delta](store::QuotaResult& out, std::function<void()> done) {
        return store::quotaAdd(*qs, consumer, delta, out, std::move(done));
      };
      break;
    }
    default:
      setError(r, 500, "internal", "not a quota endpoint");
      co_return;
  }
  auto call = std::make_shared<QuotaCall>(st.ex);
  bool finished = co_await runQuota(st, call, op);
  if (!finished) {
    setError(r, 504, "quota_store_timeout", "the quota store did not answer in time");
    co_return;
  }
  const store::QuotaResult& res = call->result;
  if (res.status == store::QuotaStatus::Unavailable) {
    setError(r, 503, "quota_store_unavailable", "the quota store cannot answer: " + res.error);
    co_return;
  }
  if (res.status == store::QuotaStatus::Invalid) {
    setError(r, 409, "quota_invalid", res.error);
    co_return;
  }
  if (!action.empty()) {
    std::string now = res.remaining ? std::to_string(*res.remaining) : std::string("unlimited");
    core::logInfo("admin quota change", {{"consumer", consumer},
                                         {"action", action},
                                         {"value", std::to_string(value)},
                                         {"quota", now},
                                         {"peer", peer}});
  }
  r.status = 200;
  r.body = jsonQuota(consumer, res.remaining);
}

// Fills `q` from the query; false (and a 400 in `r`) when consumer is missing or invalid.
bool bucketQuery(const http::Request& req, BucketQuery& q, Reply& r) {
  std::string_view query = targetQuery(req.target);
  std::optional<std::string> consumer = queryParam(query, "consumer");
  if (!consumer || !validConsumerName(*consumer)) {
    setError(r, 400, "invalid_query", "the query parameter consumer=NAME is required");
    return false;
  }
  q.consumer = std::move(*consumer);
  q.route = queryParam(query, "route").value_or("");
  q.model = queryParam(query, "model").value_or("");
  return true;
}

http::Task<void> handleBuckets(State& st, Endpoint e, const http::Request& req,
                               const std::string& peer, Reply& r) {
  BucketQuery q;
  if (!bucketQuery(req, q, r)) {
    co_return;
  }
  if (e == Endpoint::Buckets) {
    if (!st.hooks.buckets) {
      notImplemented(r, "GET /admin/buckets");
      co_return;
    }
    auto start = [&st, &q](std::function<void(BucketsReply)> done) {
      st.hooks.buckets(q, std::move(done));
    };
    std::optional<BucketsReply> got =
        co_await awaitCallback<BucketsReply>(st.ex, st.options.hookTimeout, start);
    if (!got) {
      setError(r, 504, "hook_timeout", "the bucket lookup did not answer in time");
    } else if (got->notFound) {
      setError(r, 404, "not_found", got->error);
    } else if (!got->ok) {
      setError(r, 503, "store_unavailable", got->error);
    } else {
      r.body = bucketsJson(q, got->buckets);
    }
    co_return;
  }
  if (!st.hooks.resetBuckets) {
    notImplemented(r, "POST /admin/buckets/reset");
    co_return;
  }
  auto start = [&st, &q](std::function<void(ResetReply)> done) {
    st.hooks.resetBuckets(q, std::move(done));
  };
  std::optional<ResetReply> got =
      co_await awaitCallback<ResetReply>(st.ex, st.options.hookTimeout, start);
  if (!got) {
    setError(r, 504, "hook_timeout", "the bucket reset did not answer in time");
  } else if (got->notFound) {
    setError(r, 404, "not_found", got->error);
  } else if (!got->ok) {
    setError(r, 503, "store_unavailable", got->error);
  } else {
    core::logInfo("admin buckets reset", {{"consumer", q.consumer},
                                          {"route", q.route},
                                          {"model", q.model},
                                          {"buckets", std::to_string(got->reset)},
                                          {"peer", peer}});
    std::string body = "{\"consumer\":";
    appendQuoted(body, q.consumer);
    body += ",\"reset\":" + std::to_string(got->reset) + "}\n";
    r.body = std::move(body);
  }
}

void handleTop(State& st, const http::Request& req, Reply& r) {
  if (!st.hooks.top) {
    notImplemented(r, "GET /admin/top");
    return;
  }
  size_t n = 10;
  std::optional<std::string> ns = queryParam(targetQuery(req.target), "n");
  if (ns) {
    unsigned long v = 0;
    auto [p, ec] = std::from_chars(ns->data(), ns->data() + ns->size(), v);
    if (ns->empty() || ec != std::errc() || p != ns->data() + ns->size() || v < 1 || v > 1000) {
      setError(r, 400, "invalid_query", "n must be an integer from 1 to 1000");
      return;
    }
    n = v;
  }
  std::vector<TopEntry> top = st.hooks.top(n);
  if (top.size() > n) {
    top.resize(n);
  }
  r.body = topJson(top);
}

void handleEvents(State& st, const http::Request& req, Reply& r) {
  if (!st.hooks.events) {
    notImplemented(r, "GET /admin/events");
    return;
  }
  uint64_t after = 0;
  std::optional<std::string> as = queryParam(targetQuery(req.target), "after");
  if (as) {
    auto [p, ec] = std::from_chars(as->data(), as->data() + as->size(), after);
    if (as->empty() || ec != std::errc() || p != as->data() + as->size()) {
      setError(r, 400, "invalid_query", "after must be a non-negative integer (an event seq)");
      return;
    }
  }
  r.body = st.hooks.events(after);
}

http::Task<void> handle(State& st, const http::Request& req, const std::string& peer, Reply& r) {
  RouteMatch m = route(req.method, req.target);
  const bool open = m.endpoint && !requiresAuth(*m.endpoint);
  if (!open && !st.auth.allows(req.header("authorization"))) {
    // Unknown paths too: nothing about the API is revealed without the token.
    setError(r, 401, "unauthorized", "a valid admin token is required: Authorization: Bearer <token>");
    r.extraHeaders = "WWW-Authenticate: Bearer realm=\"tokengate-admin\"\r\n";
    co_return;
  }
  if (!m.endpoint) {
    setError(r, m.status, m.status == 405 ? "method_not_allowed"
                          : m.status == 404 ? "not_found"
                                            : "bad_request",
             m.error);
    if (m.status == 405) {
      r.extraHeaders = "Allow: " + m.allow + "\r\n";
    }
    co_return;
  }
  switch (*m.endpoint) {
    case Endpoint::Healthz:
      r.body = "{\"status\":\"ok\"}\n";
      break;
    case Endpoint::Readyz:
      if (!st.hooks.ready) {
        notImplemented(r, "GET /readyz");
      } else if (st.hooks.ready()) {
        r.body = "{\"status\":\"ready\"}\n";
      } else {
        r.status = 503;
        r.body = "{\"status\":\"not_ready\"}\n";
      }
      break;
    case Endpoint::Metrics:
      if (!st.hooks.metrics) {
        notImplemented(r, "GET /metrics");
      } else {
        r.contentType = kPrometheus;
        r.body = st.hooks.metrics();
      }
      break;
    case Endpoint::Config:
      if (!st.hooks.config) {
        notImplemented(r, "GET /admin/config");
      } else {
        r.body = st.hooks.config();
      }
      break;
    case Endpoint::Buckets:
    case Endpoint::BucketsReset:
      co_await handleBuckets(st, *m.endpoint, req, peer, r);
      break;
    case Endpoint::Top:
      handleTop(st, req, r);
      break;
    case Endpoint::Events:
      handleEvents(st, req, r);
      break;
    case Endpoint::Reloads:
      if (!st.hooks.reloads) {
        notImplemented(r, "GET /admin/reloads");
      } else {
        r.body = st.hooks.reloads();
      }
      break;
    case Endpoint::Console: {
      ConsoleAsset a;
      if (!consoleAsset(m.asset, a)) {
        setError(r, 404, "not_found", "the console is not built into this gateway");
      } else {
        r.contentType = a.contentType;
        r.body = std::string(a.body);
        r.extraHeaders = std::string(consoleHeaders());
      }
      break;
    }
    case Endpoint::QuotaGet:
    case Endpoint::QuotaSet:
    case Endpoint::QuotaDelete:
    case Endpoint::QuotaIncrease:
    case Endpoint::QuotaDecrease:
      co_await handleQuota(st, *m.endpoint, m.consumer, req, peer, r);
      break;
    case Endpoint::Reload:
      if (!st.hooks.reload) {
        notImplemented(r, "POST /admin/reload");
      } else {
        ReloadReply rr = st.hooks.reload();
        core::logInfo("admin reload", {{"ok", rr.ok ? "true" : "false"},
                                       {"errors", std::to_string(rr.errors.size())},
                                       {"peer", peer}});
        r.status = rr.ok ? 200 : 422;
        r.body = reloadJson(rr);
      }
      break;
  }
}

http::Task<void> serveConnection(std::shared_ptr<State> st, tcp::socket sock) {
  auto c = std::make_unique<State::Connection>(st, std::move(sock));
  unsigned served = 0;
  while (!st->stopped) {
    http::ReadResult rr = co_await c->reader.readHead(c->req);
    if (rr.status == http::ReadStatus::Closed || rr.status == http::ReadStatus::IoError) {
      break;
    }
    if (rr.status == http::ReadStatus::Ok) {
      rr = co_await c->reader.readBody(c->req);
      if (rr.status == http::ReadStatus::IoError) {
        break;
      }
    }
    Reply reply;
    bool keep = false;
    switch (rr.status) {
      case http::ReadStatus::Ok:
        ++served;
        co_await handle(*st, c->req, c->peer, reply);
        keep = c->req.keepAlive && !st->stopped && served < st->options.maxRequestsPerConnection;
        break;
      case http::ReadStatus::Timeout:
        setError(reply, 408, "request_timeout", rr.detail);
        break;
      case http::ReadStatus::HeadTooLarge:
        setError(reply, 431, "request_header_too_large", rr.detail);
        break;
      case http::ReadStatus::BodyTooLarge:
        setError(reply, 413, "request_too_large",
                 "admin request bodies are limited to " +
                     std::to_string(st->options.maxBodyBytes) + " bytes");
        break;
      default:
        setError(reply, 400, "bad_request", rr.detail);
        break;
    }
    c->out = renderResponse(reply.status, reply.contentType, reply.body, !keep,
                            reply.extraHeaders);
    c->deadline.expiresAfter(st->options.idleTimeout);
    error_code ec;
    net::const_buffer out = net::buffer(c->out);
    co_await c->stream.write(out, ec);
    if (ec || !keep) {
      break;
    }
  }
  c->deadline.clear();
  c->stream.close();
}

void logStray(std::exception_ptr e) { core::logStrayException(e, "admin: unexpected exception"); }

http::Task<void> acceptLoop(std::shared_ptr<State> st) {
  net::steady_timer backoff(st->ex);
  while (!st->stopped) {
    error_code ec;
    tcp::socket sock = co_await st->acceptor.async_accept(http::use(ec));
    if (st->stopped) {
      break;
    }
    if (ec) {
      if (ec == net::error::operation_aborted) {
        break;
      }
      // EMFILE and the like: wait a little instead of spinning.
      backoff.expires_after(milliseconds(100));
      co_await backoff.async_wait(http::use(ec));
      continue;
    }
    if (st->connections.size() >= st->options.maxConnections) {
      error_code ignored;
      sock.close(ignored);
      continue;
    }
    net::co_spawn(st->ex, serveConnection(st, std::move(sock)), logStray);
  }
}

}  // namespace

core::Result<std::unique_ptr<AdminServer>> AdminServer::create(net::io_context& io,
                                                               AdminOptions options,
                                                               Hooks hooks) {
  core::Result<TokenAuth> auth = TokenAuth::make(options.token);
  if (!auth) {
    return core::Error{"admin.token: " + auth.error()};
  }
  error_code ec;
  net::ip::address addr;
  if (options.host == "localhost") {
    addr = net::ip::make_address_v4("127.0.0.1");
  } else {
    addr = net::ip::make_address(options.host, ec);
    if (ec) {
      return core::Error{"admin.listen: '" + options.host +
                         "' is not an IP address (or localhost)"};
    }
  }
  if (!auth->enabled() && !addr.is_loopback()) {
    return core::Error{"admin.token is required to listen on a non-loopback address (" +
                       options.host + "): without it every admin endpoint would be open"};
  }
  options.token.clear();  // only the digest is kept
  auto st = std::make_shared<State>(io, std::move(options), std::move(hooks), *auth);
  tcp::endpoint ep(addr, st->options.port);
  st->acceptor.open(ep.protocol(), ec);
  if (!ec) {
    st->acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  }
  if (!ec) {
    st->acceptor.bind(ep, ec);
  }
  if (!ec) {
    st->acceptor.listen(tcp::acceptor::max_listen_connections, ec);
  }
  if (ec) {
    return core::Error{"admin listener " + ep.address().to_string() + ":" +
                       std::to_string(ep.port()) + ": " + ec.message()};
  }
  return std::unique_ptr<AdminServer>(new AdminServer(std::move(st)));
}

AdminServer::AdminServer(std::shared_ptr<State> s) : s_(std::move(s)) {}

AdminServer::~AdminServer() { stop(); }

void AdminServer::start() { net::co_spawn(s_->ex, acceptLoop(s_), logStray); }

void AdminServer::stop() {
  if (s_->stopped) {
    return;
  }
  s_->stopped = true;
  error_code ignored;
  s_->acceptor.close(ignored);
  for (State::Connection* c : s_->connections) {
    c->stream.close();
  }
}

uint16_t AdminServer::port() const {
  error_code ec;
  return s_->acceptor.local_endpoint(ec).port();
}

std::string AdminServer::address() const {
  error_code ec;
  tcp::endpoint ep = s_->acceptor.local_endpoint(ec);
  if (ec) {
    return {};
  }
  std::string host = ep.address().to_string();
  if (ep.address().is_v6()) {
    host = "[" + host + "]";
  }
  return host + ":" + std::to_string(ep.port());
}

}  // namespace tg::admin
