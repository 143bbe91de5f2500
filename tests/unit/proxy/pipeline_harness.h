#pragma once
// PipelineHarness: the whole request pipeline (proxy/pipeline.h) on one io_context, without
// sockets. It loads a gateway config (proxy config + rate limits, as the binary does), builds
// the Generation with FakeUpstreams, a MemoryStore, the metrics (proxy/stats.h) and a Recorder, consumer
// totals and an access log written to a temp file, and the Services over them. connect()
// opens a client connection: a MemoryStream pair whose server end gets a ClientConn served by
// the serveExchange loop (as Session::run does), whose client end the test drives through an
// HttpPeer.
//
// run(body) runs the test's coroutine; when it returns, every client connection and pooled
// upstream connection is closed, and run() returns once every coroutine (server loops, fake
// upstreams) ended. A guard timer bounds the whole run: a test that hangs fails instead.
// gtest's ASSERT_* cannot be used inside a coroutine (they `return`); use EXPECT_* there, and
// CO_ASSERT_TRUE for a check the rest of the coroutine depends on.

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "app/config_file.h"
#include "fake_upstreams.h"
#include "limiter/rules.h"
#include "memory_stream.h"
#include "proxy/access_log.h"
#include "proxy/client_conn.h"
#include "proxy/exchange.h"
#include "proxy/generation.h"
#include "proxy/pipeline.h"
#include "proxy/recorder.h"
#include "proxy/services.h"
#include "proxy/stats.h"
#include "store/memory_store.h"

// A check the rest of a coroutine depends on: fails the test and leaves the coroutine.
#define CO_ASSERT_TRUE(cond)                     \
  if (!(cond)) {                                 \
    ADD_FAILURE() << "assertion failed: " #cond; \
    co_return;                                   \
  }

namespace tg::proxy::test {

using namespace std::chrono_literals;
namespace net = http::net;

// ---- wire helpers ---------------------------------------------------------------------------

// A client request with a JSON body. `headers`: complete "Name: value" lines (no CRLF).
inline std::string post(std::string_view target, std::string_view body,
                        const std::vector<std::string>& headers = {}) {
  std::string r = "POST " + std::string(target) + " HTTP/1.1\r\nHost: gw.test\r\n";
  for (const auto& h : headers) {
    r += h + "\r\n";
  }
  r += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
       "\r\n\r\n";
  r += body;
  return r;
}

// An upstream's JSON answer with a Content-Length.
inline std::string jsonResponse(std::string_view body, int status = 200,
                                std::string_view extraHeaders = {}) {
  std::string r = "HTTP/1.1 " + std::to_string(status) + (status == 200 ? " OK" : " Error") +
                  "\r\nContent-Type: application/json\r\n";
  r += extraHeaders;
  r += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n";
  r += body;
  return r;
}

// The head of an upstream's SSE stream (chunked), then its chunks.
inline std::string sseHead() {
  return "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n"
         "\r\n";
}
inline std::string chunk(std::string_view data) {
  char size[20];
  std::snprintf(size, sizeof size, "%zx", data.size());
  return std::string(size) + "\r\n" + std::string(data) + "\r\n";
}
inline const std::string kLastChunk = "0\r\n\r\n";

// Lets every other ready coroutine run once (a socket's I/O completes through the loop too).
inline http::Task<void> yieldNow() {
  auto ex = co_await net::this_coro::executor;
  co_await net::post(ex, net::use_awaitable);
}

// A one-shot event between the test's coroutines.
class Signal {
 public:
  explicit Signal(net::any_io_executor ex) : timer_(std::move(ex)) {}
  void set() {
    set_ = true;
    timer_.cancel();
  }
  http::Task<void> wait() {
    while (!set_) {
      timer_.expires_at(std::chrono::steady_clock::time_point::max());
      http::error_code ignored;
      co_await timer_.async_wait(http::use(ignored));
    }
  }

 private:
  net::steady_timer timer_;
  bool set_ = false;
};

// The integer value of `"key":N` in a JSON line; -1 when absent.
inline long long jsonInt(std::string_view line, std::string_view key) {
  const std::string k = "\"" + std::string(key) + "\":";
  const size_t at = line.find(k);
  if (at == std::string_view::npos) {
    return -1;
  }
  return std::stoll(std::string(line.substr(at + k.size(), 20)));
}

// ---- the configuration the tests share ---------------------------------------------------------

// Two upstreams (index 0: llm, OpenAI-style; index 1: claude), an Anthropic route and an
// OpenAI route that both require a gateway key, and two consumers. withPolicies() appends a
// `policies:` list (YAML at the indentation of `consumers:`).
inline const std::string kBaseConfig = R"(
listeners: [{address: 127.0.0.1:8080}]
upstreams:
  - {name: llm, url: "http://api.test:8000"}
  - {name: claude, url: "http://claude.test:8000"}
routes:
  - {name: messages, match: {path_prefix: /v1/messages}, upstream: claude, dialect: anthropic,
     key_auth: required}
  - {name: chat, match: {path_prefix: /v1/}, upstream: llm, key_auth: required}
rate_limits:
  consumers:
  - {name: alice, keys: [sk-alice]}
  - {name: bob, keys: [sk-bob]}
)";
inline std::string withPolicies(std::string_view policies) {
  return kBaseConfig + "  policies:\n" + std::string(policies);
}

inline const std::string kAlice = "Authorization: Bearer sk-alice";
inline const std::string kBob = "Authorization: Bearer sk-bob";

// An OpenAI chat request body; `extra` is appended as further members (",\"stream\":true").
inline std::string chatBody(std::string_view model = "gpt-4o", std::string_view extra = {}) {
  return R"({"model":")" + std::string(model) +
         R"(","messages":[{"role":"user","content":"Say hi to the test suite"}])" +
         std::string(extra) + "}";
}

// ---- the harness -----------------------------------------------------------------------------

inline app::GatewayConfig loadGatewayConfig(const std::string& yaml) {
  auto noEnv = [](const std::string&) -> std::optional<std::string> { return std::nullopt; };
  app::GatewayLoadResult r = app::loadGatewayConfigString(yaml, noEnv);
  std::string errors;
  for (const auto& e : r.errors) {
    errors += config::formatError("test.yaml", e) + "\n";
  }
  EXPECT_TRUE(r.config.has_value()) << errors;
  if (!r.config) {
    return app::GatewayConfig{config::Config{}, std::make_shared<const limiter::PolicySet>()};
  }
  return std::move(*r.config);
}

class PipelineHarness {
 public:
  // One client connection: the test's end (peer) and the gateway's (conn, served by a loop).
  struct Client {
    MemoryStream::Ptr clientEnd;
    MemoryStream::Ptr serverEnd;  // the gateway's end: failWritesAfter / holdWrites go here
    std::unique_ptr<ClientConn> conn;
    Exchange x;
    std::unique_ptr<HttpPeer> peer;
    unsigned exchanges = 0;   // serveExchange calls that returned
    bool serverDone = false;  // the gateway closed the connection
    HttpPeer* operator->() { return peer.get(); }
  };

  explicit PipelineHarness(const std::string& yaml)
      : gw_(loadGatewayConfig(yaml)),
        config_(std::make_shared<const config::Config>(std::move(gw_.config))),
        upstreams_(std::make_shared<FakeUpstreams>(
            io_.get_executor(), [this](http::Task<void> t) { spawn(std::move(t), "upstream"); })),
        gen_(makeGeneration()),
        logFile_(std::tmpfile()),
        accessLog_(io_.get_executor(), ::fileno(logFile_)),
        rateLimitLog_(io_.get_executor(), -1),
        services_{gen_,     store_,  nullptr,    &keyCap_,      nullptr,     &recorder_,
                  &totals_, nullptr, accessLog_, rateLimitLog_, requestIds_, draining_, &queues_} {}

  // After a run that timed out, coroutines still suspended are destroyed with the io_context,
  // never resumed (their captures may be gone by then).
  ~PipelineHarness() {
    clients_.clear();
    upstreams_->closeIdle();
    accessLog_.flush();
  }
  PipelineHarness(const PipelineHarness&) = delete;
  PipelineHarness& operator=(const PipelineHarness&) = delete;

  net::io_context& io() { return io_; }
  net::any_io_executor executor() { return io_.get_executor(); }
  FakeUpstreams& upstreams() { return *upstreams_; }
  store::MemoryStore& store() { return store_; }
  Metrics& metrics() { return *metrics_; }
  ConsumerTotals& consumerTotals() { return totals_; }
  AdmissionQueues& queues() { return queues_; }
  const config::Config& config() const { return *config_; }
  const limiter::PolicySet& policies() const { return *gw_.policies; }

  // A new client connection from `ip`, served by the gateway until either side closes it.
  Client& connect(std::string ip = "192.0.2.10") {
    auto c = std::make_unique<Client>();
    auto [client, server] = MemoryStream::pair(io_.get_executor());
    c->clientEnd = std::move(client);
    c->serverEnd = std::move(server);
    c->conn = std::make_unique<ClientConn>(*c->serverEnd, io_.get_executor(), config_->limits,
                                           std::move(ip));
    c->peer = std::make_unique<HttpPeer>(*c->clientEnd);
    Client& ref = *c;
    clients_.push_back(std::move(c));
    spawn(serveLoop(ref, services_), "server loop");
    return ref;
  }

  // Runs `body` and everything it starts; see the header comment. `body` stays alive (with
  // its captures) until run() returns.
  void run(std::function<http::Task<void>()> body, std::chrono::milliseconds guard = 2000ms) {
    bodyDone_ = false;
    net::steady_timer guardTimer(io_);
    guardTimer.expires_after(guard);
    guardTimer.async_wait([this](const http::error_code& ec) {
      if (!ec) {
        ADD_FAILURE() << "the test did not finish within its guard time (hung); " << live_
                      << " coroutine(s) still running";
        timedOut_ = true;
        io_.stop();
      }
    });
    finish_ = [this, &guardTimer] {
      guardTimer.cancel();
      io_.stop();
    };
    ++live_;
    net::co_spawn(io_, body(), [this](std::exception_ptr e) {
      reportException(e, "test body");
      --live_;
      bodyDone_ = true;
      shutdown();
      maybeFinish();
    });
    io_.restart();
    io_.run();
    if (timedOut_) {
      // Unwind what can still end while the test's objects exist: hang up every client.
      shutdown();
      io_.restart();
      io_.run_for(100ms);
    }
    finish_ = nullptr;
  }
  bool timedOut() const { return timedOut_; }

  // The access log's lines so far.
  std::vector<std::string> accessLog() {
    accessLog_.flush();
    std::string all;
    char buf[4096];
    off_t off = 0;
    for (;;) {
      ssize_t n = ::pread(::fileno(logFile_), buf, sizeof buf, off);
      if (n <= 0) {
        break;
      }
      all.append(buf, static_cast<size_t>(n));
      off += n;
    }
    std::vector<std::string> lines;
    size_t start = 0;
    for (size_t nl = all.find('\n'); nl != std::string::npos; nl = all.find('\n', start)) {
      lines.push_back(all.substr(start, nl - start));
      start = nl + 1;
    }
    return lines;
  }

  // The buckets a request of `consumer` (by name; "" = anonymous) on `route` counts in, and
  // one bucket's state in the store now (without changing it).
  std::vector<limiter::MatchedBucket> buckets(std::string_view route, std::string_view consumer,
                                              std::string_view model = {}) const {
    limiter::RequestFacts f;
    for (const limiter::Consumer& c : policies().consumers) {
      if (c.name == consumer) {
        f.consumer = &c;
      }
    }
    f.route = route;
    f.model = model;
    return limiter::match(policies(), f, std::chrono::system_clock::now());
  }
  store::BucketPeek peek(const limiter::MatchedBucket& b) {
    return store_.peekOne(b.spec, std::chrono::system_clock::now());
  }
  // Used units of the first bucket of `route`/`consumer` with quantity `q`; -1 when none.
  int64_t used(std::string_view route, std::string_view consumer, limiter::Quantity q) {
    for (const limiter::MatchedBucket& b : buckets(route, consumer)) {
      if (b.quantity == q) {
        store::BucketPeek s = peek(b);
        return static_cast<int64_t>(s.limit) - s.remaining;
      }
    }
    return -1;
  }

 private:
  std::shared_ptr<const Generation> makeGeneration() {
    auto g = std::make_shared<Generation>();
    g->number = 1;
    g->config = config_;
    g->policies = gw_.policies ? gw_.policies : std::make_shared<const limiter::PolicySet>();
    g->upstreams = upstreams_;
    return g;
  }

  // Session::run's loop over an in-memory stream.
  static http::Task<void> serveLoop(Client& c, const Services& s) {
    while (c.serverEnd->isOpen()) {
      const bool keepAlive = co_await serveExchange(*c.conn, c.x, s);
      ++c.exchanges;
      if (!keepAlive) {
        break;
      }
    }
    c.conn->deadline.clear();
    c.serverEnd->close();
    c.serverDone = true;
  }

  void spawn(http::Task<void> t, const char* what) {
    ++live_;
    net::co_spawn(io_, std::move(t), [this, what](std::exception_ptr e) {
      reportException(e, what);
      --live_;
      maybeFinish();
    });
  }
  static void reportException(std::exception_ptr e, const char* what) {
    if (!e) {
      return;
    }
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      ADD_FAILURE() << what << " threw: " << ex.what();
    } catch (...) {
      ADD_FAILURE() << what << " threw";
    }
  }
  // The test is over: clients hang up, pooled upstream connections close.
  void shutdown() {
    for (auto& c : clients_) {
      c->clientEnd->close();
    }
    upstreams_->closeIdle();
  }
  void maybeFinish() {
    if (bodyDone_ && live_ == 0 && finish_) {
      finish_();
    }
  }

  static store::MemoryStoreOptions storeOptions(Metrics& m) {
    store::MemoryStoreOptions o;
    o.stats = &m.store;
    return o;
  }

  net::io_context io_;  // first: everything below uses it while it is destroyed
  app::GatewayConfig gw_;
  std::shared_ptr<const config::Config> config_;
  std::shared_ptr<FakeUpstreams> upstreams_;
  std::shared_ptr<const Generation> gen_;
  // First of the two: the store records into it.
  std::unique_ptr<Metrics> metrics_ = std::make_unique<Metrics>("test");
  store::MemoryStore store_{storeOptions(*metrics_)};
  limiter::DistinctKeyCap keyCap_;
  Recorder recorder_{*metrics_};
  ConsumerTotals totals_;
  struct FileCloser {
    std::FILE* f;
    ~FileCloser() {
      if (f) std::fclose(f);
    }
  };
  std::FILE* logFile_;
  FileCloser logCloser_{logFile_};
  AccessLog accessLog_;
  AccessLog rateLimitLog_;
  RequestIds requestIds_{0x5eed};
  bool draining_ = false;
  AdmissionQueues queues_;
  Services services_;
  std::deque<std::unique_ptr<Client>> clients_;  // last: destroyed first
  int live_ = 0;
  bool bodyDone_ = false;
  bool timedOut_ = false;
  std::function<void()> finish_;
};

}  // namespace tg::proxy::test
