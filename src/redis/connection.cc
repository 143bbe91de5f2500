#include "redis/connection.h"

#include <array>
#include <boost/asio/connect.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <exception>

#include "core/log.h"
#include "io/stream.h"
#include "redis/cluster.h"
#include "redis/resp.h"

namespace tg::redis {

using io::error_code;
using io::tcp;
using io::use;

void complete(const net::any_io_executor& ex, RequestPtr req, Status status, Reply&& reply) {
  net::post(ex, [req = std::move(req), status, reply = std::move(reply)]() mutable {
    req->done(status, std::move(reply));
  });
}

// One TCP/TLS connection: the stream, its parser and its write buffers. Shared with the
// asynchronous operations on it, so a late completion never touches a newer connection.
struct Connection::Session {
  Session(const net::any_io_executor& ex, net::ssl::context* tls) : resolver(ex) {
    if (tls != nullptr) {
      stream = std::make_unique<io::Stream>(tcp::socket(ex), *tls);
    } else {
      stream = std::make_unique<io::Stream>(tcp::socket(ex));
    }
  }
  void close() {
    resolver.cancel();
    stream->close();
  }

  std::unique_ptr<io::Stream> stream;
  tcp::resolver resolver;
  RespReader reader;
  std::string out;      // commands not yet handed to a write
  std::string writing;  // the bytes of the write in flight
  bool writeActive = false;
  bool timedOut = false;         // the deadline closed it
  bool functions = false;        // the handshake loaded the library
  std::string functionsRefused;  // the server's error reply to FUNCTION LOAD
  std::string writeError;        // why a write failed
  std::array<char, 16 * 1024> rbuf;
};

Connection::Connection(net::any_io_executor ex, Endpoint endpoint,
                       std::shared_ptr<const Options> options,
                       std::shared_ptr<net::ssl::context> tls, bool select, ConnectionOwner* owner,
                       const FunctionLibrary* library)
    : ex_(ex),
      endpoint_(std::move(endpoint)),
      key_(endpointKey(endpoint_)),
      options_(std::move(options)),
      tls_(std::move(tls)),
      select_(select),
      owner_(owner),
      library_(library),
      deadline_(ex),
      backoff_(ex) {}

Connection::~Connection() = default;

void Connection::start() {
  if (started_) {
    return;
  }
  started_ = true;
  net::co_spawn(ex_, [self = shared_from_this()]() { return self->run(); },
                [key = key_](std::exception_ptr e) {
                  core::logStrayException(e, "redis: connection task failed", {"node", key});
                });
}

void Connection::stop() {
  if (state_ == State::Closed) {
    return;
  }
  setState(State::Closed);
  if (session_) {
    session_->close();
  }
  if (connecting_) {
    connecting_->close();
  }
  ++deadlineGen_;
  deadline_.cancel();
  backoff_.cancel();
  failAll(Status::Unavailable);
}

void Connection::retire() {
  retiring_ = true;
  if (pending_.empty()) {
    stop();
  }
}

void Connection::setState(State s) {
  if (state_ == s) {
    return;
  }
  state_ = s;
  if (owner_ != nullptr) {
    owner_->onStateChange(*this);
  }
}

void Connection::finish(RequestPtr req, Status status, Reply&& reply) {
  if (owner_ != nullptr) {
    owner_->onReply(*this, std::move(req), status, std::move(reply));
  } else {
    complete(ex_, std::move(req), status, std::move(reply));
  }
}

void Connection::failAll(Status status) {
  // Moved out first: finish() may send again (to this connection, which then refuses).
  std::deque<Pending> pending;
  pending.swap(pending_);
  std::deque<RequestPtr> waiting;
  waiting.swap(waiting_);
  for (auto& p : pending) {
    if (p.req) {
      finish(std::move(p.req), status, Reply{});
    }
  }
  for (auto& r : waiting) {
    finish(std::move(r), Status::Unavailable, Reply{});
  }
}

void Connection::send(RequestPtr req, Prefix prefix, bool mayWait) {
  if (state_ != State::Up || retiring_) {
    if (state_ == State::Connecting && mayWait && !retiring_) {
      waiting_.push_back(std::move(req));
      return;
    }
    finish(std::move(req), Status::Unavailable, Reply{});
    return;
  }
  Session& s = *session_;
  Clock::time_point deadline = Clock::now() + options_->commandTimeout;
  if (prefix == Prefix::Asking) {
    appendCommand(s.out, {"ASKING"});
    pending_.push_back(Pending{nullptr, deadline});
  }
  const EvalScript* script = req->script;
  const bool fcall = script != nullptr && functions_ && !script->function.empty();
  if (prefix == Prefix::ScriptLoad && script != nullptr) {
    if (fcall) {
      appendCommand(s.out, {"FUNCTION", "LOAD", "REPLACE", library_->code});
      pending_.push_back(Pending{nullptr, deadline, /*functionLoad=*/true});
    } else {
      appendCommand(s.out, {"SCRIPT", "LOAD", script->text});
      pending_.push_back(Pending{nullptr, deadline});
    }
  }
  if (script != nullptr) {
    appendArrayHeader(s.out, 2 + req->evalArgs);
    appendBulk(s.out, fcall ? "FCALL" : "EVALSHA");
    appendBulk(s.out, fcall ? script->function : script->sha1);
    req->sentAsFunction = fcall;
  }
  s.out += req->wire;
  pending_.push_back(Pending{std::move(req), deadline});
  armDeadline(deadline);
  write(s);
}

// One write in flight per session; what queues up meanwhile goes out in the next one.
void Connection::write(Session& s) {
  if (s.writeActive || s.out.empty()) {
    return;
  }
  s.writeActive = true;
  s.writing.swap(s.out);
  s.out.clear();
  auto done = [self = shared_from_this(), sp = session_](const error_code& ec, size_t) {
    sp->writeActive = false;
    sp->writing.clear();
    if (ec) {
      if (sp->writeError.empty()) {
        sp->writeError = "write failed: " + ec.message();
      }
      sp->close();  // the read loop ends with the error
      return;
    }
    if (self->session_ == sp) {
      self->write(*sp);
    }
  };
  auto buf = net::buffer(s.writing);
  if (auto* tls = s.stream->tls()) {
    net::async_write(*tls, buf, std::move(done));
  } else {
    net::async_write(s.stream->socket(), buf, std::move(done));
  }
}

void Connection::armDeadline(Clock::time_point at) {
  if (deadlineArmed_ && deadlineAt_ <= at) {
    return;  // it fires earlier and re-checks then
  }
  deadlineArmed_ = true;
  deadlineAt_ = at;
  uint64_t gen = ++deadlineGen_;
  deadline_.expires_at(at);
  deadline_.async_wait([self = shared_from_this(), gen](const error_code& ec) {
    if (ec || gen != self->deadlineGen_) {
      return;
    }
    self->deadlineArmed_ = false;
    self->onDeadline();
  });
}

void Connection::onDeadline() {
  Clock::time_point now = Clock::now();
  if (connecting_) {
    if (now >= connectDeadline_) {
      connecting_->timedOut = true;
      connecting_->close();
    } else {
      armDeadline(connectDeadline_);
    }
  }
  if (session_ && !pending_.empty()) {
    if (pending_.front().deadline <= now) {
      session_->timedOut = true;
      session_->close();
    } else {
      armDeadline(pending_.front().deadline);
    }
  }
}

void Connection::noteFailure(const std::string& why, bool byServer) {
  lastError_ = why;
  // Once per outage: the first failure, whatever it is, then only a server that answers but
  // refuses (WRONGPASS, a bad database, not Redis) with a reason not logged yet. Transport
  // churn (closed, refused, timed out) while the server is away is not repeated.
  bool log = false;
  if (!inOutage_) {
    inOutage_ = true;
    outageStart_ = Clock::now();
    log = true;
  } else if (byServer && why != loggedError_) {
    log = true;
  }
  if (log) {
    loggedError_ = why;
    core::logWarn("redis: node unavailable", {{"node", key_}, {"error", why}});
  }
}

void Connection::noteFunctions(const std::string& refused) {
  // One line per node and distinct refusal (not one per reconnect); a load that works again
  // re-arms it.
  if (refused == functionsRefused_) {
    return;
  }
  functionsRefused_ = refused;
  if (!refused.empty()) {
    core::logInfo("redis: Redis Functions not available, running scripts with EVALSHA",
                  {{"node", key_}, {"error", refused}});
  }
}

net::awaitable<void> Connection::run() {
  auto self = shared_from_this();  // alive until the loop ends
  auto backoff = options_->reconnectMin;
  while (state_ != State::Closed) {
    setState(State::Connecting);
    std::string error;
    std::shared_ptr<Session> s = co_await connect(error);
    if (state_ == State::Closed) {
      if (s) {
        s->close();
      }
      break;
    }
    if (!s) {
      noteFailure(error, failureByServer_);
      setState(State::Backoff);
      failAll(Status::Unavailable);  // requests waiting for this attempt
      backoff_.expires_after(backoff);
      error_code ec;
      co_await backoff_.async_wait(use(ec));
      backoff = std::min(backoff * 2, options_->reconnectMax);
      continue;
    }
    backoff = options_->reconnectMin;
    if (inOutage_) {
      auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - outageStart_);
      core::logInfo("redis: node reachable again",
                    {{"node", key_}, {"down_ms", std::to_string(ms.count())}});
    } else {
      core::logInfo("redis: connected", {{"node", key_}});
    }
    inOutage_ = false;
    loggedError_.clear();
    lastError_.clear();
    session_ = s;
    functions_ = s->functions;
    if (library_ != nullptr) {
      noteFunctions(s->functionsRefused);
    }
    setState(State::Up);
    std::deque<RequestPtr> waiting;
    waiting.swap(waiting_);
    for (auto& r : waiting) {
      send(std::move(r));
    }
    std::string why;
    Status failed = co_await readLoop(s, why);
    session_.reset();
    functions_ = false;
    s->close();
    if (state_ == State::Closed) {
      break;
    }
    setState(State::Connecting);
    failAll(failed);
    if (retiring_) {
      stop();
      break;
    }
    noteFailure(why, failed == Status::Protocol);
  }
  failAll(Status::Unavailable);
}

net::awaitable<std::shared_ptr<Connection::Session>> Connection::connect(std::string& error) {
  auto s = std::make_shared<Session>(ex_, tls_.get());
  connecting_ = s;
  connectDeadline_ = Clock::now() + options_->connectTimeout;
  armDeadline(connectDeadline_);
  struct Done {  // whatever happens, this attempt is no longer the one connecting
    Connection* c;
    ~Done() {
      c->connecting_.reset();
      c->connectDeadline_ = Clock::time_point::max();
    }
  } done{this};

  failureByServer_ = false;
  auto failed = [&](std::string what, bool byServer = false) -> std::shared_ptr<Session> {
    failureByServer_ = byServer && !s->timedOut;
    if (s->timedOut) {
      error = "connect timeout (" + std::to_string(options_->connectTimeout.count()) + " ms)";
    } else {
      error = std::move(what);
    }
    s->close();
    return nullptr;
  };

  error_code ec;
  net::ip::address addr = net::ip::make_address(endpoint_.host, ec);
  if (!ec) {
    tcp::endpoint ep(addr, endpoint_.port);
    co_await s->stream->socket().async_connect(ep, use(ec));
  } else {
    ec = {};
    std::string port = std::to_string(endpoint_.port);
    auto results = co_await s->resolver.async_resolve(endpoint_.host, port, use(ec));
    if (ec) {
      co_return failed("cannot resolve '" + endpoint_.host + "': " + ec.message());
    }
    co_await net::async_connect(s->stream->socket(), results, use(ec));
  }
  if (ec || state_ == State::Closed) {
    co_return failed("cannot connect: " + ec.message());
  }
  error_code ignored;
  s->stream->socket().set_option(tcp::no_delay(true), ignored);
  if (s->stream->isTls()) {
    const std::string& name =
        options_->serverName.empty() ? endpoint_.host : options_->serverName;
    co_await s->stream->handshakeClient(name, options_->tlsVerify, ec);
    if (ec) {
      co_return failed("TLS handshake failed: " + ec.message());
    }
  }

  // AUTH, SELECT and a PING (which proves that a Redis answers) in one write; then, once they
  // succeeded, FUNCTION LOAD REPLACE of the library in a second one. Not in the first: a Redis
  // closes an unauthenticated connection that sends an argument above 16 KiB (the library is
  // larger) without answering, which would hide the AUTH refusal ("WRONGPASS") behind a bare
  // "connection closed".
  enum class Step { Auth, Select, Ping, Function };
  std::vector<Step> steps;
  std::string hello;
  if (!options_->password.empty()) {
    if (options_->username.empty()) {
      appendCommand(hello, {"AUTH", options_->password});
    } else {
      appendCommand(hello, {"AUTH", options_->username, options_->password});
    }
    steps.push_back(Step::Auth);
  }
  std::string db = std::to_string(options_->database);
  if (select_ && options_->database != 0) {
    appendCommand(hello, {"SELECT", db});
    steps.push_back(Step::Select);
  }
  appendCommand(hello, {"PING"});
  steps.push_back(Step::Ping);
  size_t next = 0;
  std::string refused;  // the first error reply
  for (int phase = 0; phase < 2; ++phase) {
    if (phase == 1) {
      if (library_ == nullptr) {
        break;
      }
      hello.clear();
      appendCommand(hello, {"FUNCTION", "LOAD", "REPLACE", library_->code});
      steps.push_back(Step::Function);
    }
    auto hb = net::buffer(hello);
    co_await s->stream->write(hb, ec);
    if (ec || state_ == State::Closed) {
      co_return failed("cannot write to the server: " + ec.message());
    }
    while (next < steps.size()) {
      auto rb = net::buffer(s->rbuf);
      size_t n = co_await s->stream->readSome(rb, ec);
      if (ec || state_ == State::Closed) {
        std::string what = "connection closed by the server";
        if (ec != net::error::eof) {
          what = "read failed: " + ec.message();
        }
        co_return failed(std::move(what));
      }
      s->reader.feed(s->rbuf.data(), n);
      Reply reply;
      for (;;) {
        RespReader::Result r = s->reader.next(reply);
        if (r == RespReader::Result::NeedMore) {
          break;
        }
        if (r == RespReader::Result::Error) {
          co_return failed(
              "protocol error (is this a Redis server?): " + std::string(s->reader.error()), true);
        }
        if (next >= steps.size()) {
          co_return failed("protocol error: unexpected reply", true);
        }
        Step step = steps[next++];
        if (reply.isError() && refused.empty()) {
          switch (step) {
            case Step::Auth:
              refused =
                  (options_->username.empty() ? "AUTH failed: "
                                              : "AUTH as '" + options_->username + "' failed: ") +
                  reply.str;
              break;
            case Step::Select:
              refused = "SELECT " + db + " failed: " + reply.str;
              break;
            case Step::Ping:
              refused = "PING failed: " + reply.str;
              break;
            case Step::Function:
              break;  // not a refusal: without the library, scripts go as EVALSHA
          }
        }
        if (step == Step::Function) {
          s->functions = !reply.isError();
          s->functionsRefused = reply.isError() ? reply.str : std::string();
        }
      }
    }
    if (!refused.empty()) {
      co_return failed(refused, true);
    }
  }
  co_return s;
}

net::awaitable<Status> Connection::readLoop(std::shared_ptr<Session> s, std::string& why) {
  for (;;) {
    error_code ec;
    auto rb = net::buffer(s->rbuf);
    size_t n = co_await s->stream->readSome(rb, ec);
    if (ec) {
      if (s->timedOut) {
        why = "command timeout (" + std::to_string(options_->commandTimeout.count()) +
              " ms): connection reset";
        co_return Status::Timeout;
      }
      if (!s->writeError.empty()) {
        why = s->writeError;
      } else if (ec == net::error::eof) {
        why = "connection closed by the server";
      } else {
        why = "read failed: " + ec.message();
      }
      co_return Status::Unavailable;
    }
    s->reader.feed(s->rbuf.data(), n);
    for (;;) {
      Reply reply;
      RespReader::Result r = s->reader.next(reply);
      if (r == RespReader::Result::NeedMore) {
        break;
      }
      if (r == RespReader::Result::Error) {
        why = "protocol error: " + std::string(s->reader.error());
        co_return Status::Protocol;
      }
      if (pending_.empty()) {
        why = "protocol error: a reply nobody asked for";
        co_return Status::Protocol;
      }
      RequestPtr req = std::move(pending_.front().req);
      const bool functionLoad = pending_.front().functionLoad;
      pending_.pop_front();
      if (functionLoad && reply.isError() && functions_) {
        // The library cannot be loaded again (an ACL changed, maxmemory): EVALSHA from now on
        // on this session; the FCALL behind this reply is retried that way (client.cc).
        functions_ = false;
        noteFunctions(reply.str);
      }
      if (req) {
        finish(std::move(req), Status::Ok, std::move(reply));
      }
      if (state_ == State::Closed || session_ != s) {
        co_return Status::Unavailable;  // stopped by the owner meanwhile
      }
    }
    if (retiring_ && pending_.empty()) {
      stop();
      co_return Status::Unavailable;
    }
  }
}

}  // namespace tg::redis
