// AdminServer end to end: a real listener on a free loopback port, its io_context in a thread,
// and a blocking HTTP/1.1 client in the test. Every endpoint with and without the token, the
// quota endpoints over a MemoryStore's quota buckets, hooks answering inline, from another thread and
// never, limits, keep-alive, and the start-up checks.
#include "admin/server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <future>
#include <thread>

#include "store/memory_store.h"
#include "store/quota.h"

namespace tg::admin {
namespace {

using namespace std::chrono_literals;
namespace net = boost::asio;

constexpr const char* kToken = "test-admin-token";

struct HttpReply {
  int status = 0;
  std::string head;
  std::string body;
  std::string header(std::string_view name) const {
    std::string needle = "\r\n" + std::string(name) + ": ";
    size_t p = head.find(needle);
    if (p == std::string::npos) {
      return {};
    }
    p += needle.size();
    return head.substr(p, head.find("\r\n", p) - p);
  }
};

int connectTo(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

std::string buildRequest(std::string_view method, std::string_view target, const char* token,
                         std::string_view body, bool close) {
  std::string req = std::string(method) + " " + std::string(target) + " HTTP/1.1\r\nHost: admin\r\n";
  if (token) {
    req += "Authorization: Bearer " + std::string(token) + "\r\n";
  }
  if (!body.empty() || method == "POST" || method == "PUT") {
    req += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
           "\r\n";
  }
  if (close) {
    req += "Connection: close\r\n";
  }
  req += "\r\n";
  req += body;
  return req;
}

// Reads one response (Content-Length framed) from `fd`; `buf` keeps leftover bytes.
HttpReply readReply(int fd, std::string& buf) {
  HttpReply r;
  char chunk[4096];
  size_t headEnd;
  while ((headEnd = buf.find("\r\n\r\n")) == std::string::npos) {
    ssize_t n = ::read(fd, chunk, sizeof chunk);
    if (n <= 0) {
      return r;
    }
    buf.append(chunk, static_cast<size_t>(n));
  }
  r.head = buf.substr(0, headEnd + 2);
  r.status = std::atoi(r.head.c_str() + 9);
  size_t len = std::stoul("0" + r.header("Content-Length"));
  while (buf.size() < headEnd + 4 + len) {
    ssize_t n = ::read(fd, chunk, sizeof chunk);
    if (n <= 0) {
      break;
    }
    buf.append(chunk, static_cast<size_t>(n));
  }
  r.body = buf.substr(headEnd + 4, len);
  buf.erase(0, headEnd + 4 + len);
  return r;
}

HttpReply request(uint16_t port, std::string_view method, std::string_view target,
                  const char* token = kToken, std::string_view body = {}) {
  int fd = connectTo(port);
  if (fd < 0) {
    return {};
  }
  std::string req = buildRequest(method, target, token, body, true);
  if (::write(fd, req.data(), req.size()) != static_cast<ssize_t>(req.size())) {
    ::close(fd);
    return {};
  }
  std::string buf;
  HttpReply r = readReply(fd, buf);
  ::close(fd);
  return r;
}

// The server on its own io_context thread, torn down in order: stop on the server's thread,
// then join.
class Running {
 public:
  Running(AdminOptions options, Hooks hooks) {
    options.host = "127.0.0.1";
    options.port = 0;
    auto s = AdminServer::create(io_, std::move(options), std::move(hooks));
    if (!s) {
      error_ = s.error();
      return;
    }
    server_ = std::move(s.value());
    server_->start();
    thread_ = std::thread([this] { io_.run(); });
  }
  ~Running() {
    if (server_) {
      net::post(io_, [this] { server_->stop(); });
      thread_.join();
    }
  }
  uint16_t port() const { return server_->port(); }
  const std::string& error() const { return error_; }
  AdminServer& server() { return *server_; }
  net::io_context& io() { return io_; }

 private:
  net::io_context io_{1};
  std::unique_ptr<AdminServer> server_;
  std::thread thread_;
  std::string error_;
};

struct Fixture : ::testing::Test {
  Fixture() {
    hooks.ready = [this] { return ready.load(); };
    hooks.metrics = [] { return std::string("tg_up 1\n"); };
    hooks.config = [] { return std::string("{\"server\":{}}\n"); };
    hooks.buckets = [this](const BucketQuery& q, std::function<void(BucketsReply)> done) {
      lastQuery = q;
      BucketsReply r;
      if (q.consumer == "ghost") {
        r.ok = false;
        r.notFound = true;
        r.error = "unknown consumer 'ghost'";
      } else {
        BucketView b;
        b.key = "per-consumer:0:v" + q.consumer;
        b.policy = "per-consumer";
        b.rule = "rule0";
        b.unit = "tokens";
        b.limit = 1000;
        b.windowMs = 60000;
        b.used = 250;
        b.remaining = 750;
        b.resetMs = 12000;
        r.buckets.push_back(b);
      }
      done(std::move(r));  // inline
    };
    hooks.resetBuckets = [this](const BucketQuery& q, std::function<void(ResetReply)> done) {
      std::string consumer = q.consumer;
      // From another thread, later: the server must post the answer back to its own thread.
      helpers.emplace_back([done, consumer] {
        std::this_thread::sleep_for(20ms);
        ResetReply r;
        r.reset = consumer == "alice" ? 3 : 0;
        done(std::move(r));
      });
    };
    hooks.top = [](size_t n) {
      std::vector<TopEntry> all = {{"alice", 900}, {"bob", 400}, {"carol", 10}};
      all.resize(std::min(n, all.size()));
      return all;
    };
    hooks.events = [](uint64_t after) {
      return "{\"events\":[],\"next\":" + std::to_string(after) + "}\n";
    };
    hooks.reload = [this] {
      ReloadReply r;
      r.ok = reloadOk.load();
      if (!r.ok) {
        r.errors.push_back("tokengate.yaml:3: routes[0].upstream: names no upstream: 'x'");
      }
      return r;
    };
    options.token = kToken;
    options.quota = &quotas;
  }
  ~Fixture() override {
    for (auto& t : helpers) {
      t.join();
    }
  }

  Hooks hooks;
  AdminOptions options;
  store::MemoryStore quotas;
  std::atomic<bool> ready{true};
  std::atomic<bool> reloadOk{true};
  BucketQuery lastQuery;
  std::vector<std::thread> helpers;  // touched on the server's thread only, joined after it
};

struct Call {
  std::string method;
  std::string target;
  std::string body;
};

const std::vector<Call> kProtected = {
    {"GET", "/metrics", ""},
    {"GET", "/admin/config", ""},
    {"GET", "/admin/buckets?consumer=alice", ""},
    {"POST", "/admin/buckets/reset?consumer=alice", ""},
    {"GET", "/admin/top?n=2", ""},
    {"GET", "/admin/events?after=3", ""},
    {"GET", "/admin/quota/alice", ""},
    {"PUT", "/admin/quota/alice", "{\"quota\":100}"},
    {"POST", "/admin/quota/alice/increase", "{\"amount\":5}"},
    {"POST", "/admin/quota/alice/decrease", "{\"amount\":5}"},
    {"DELETE", "/admin/quota/alice", ""},
    {"POST", "/admin/reload", ""},
    {"GET", "/no/such/endpoint", ""},
};

TEST_F(Fixture, EveryProtectedEndpointNeeds401WithoutTheToken) {
  Running srv(options, hooks);
  ASSERT_EQ(srv.error(), "");
  for (const Call& c : kProtected) {
    HttpReply none = request(srv.port(), c.method, c.target, nullptr, c.body);
    EXPECT_EQ(none.status, 401) << c.method << " " << c.target;
    EXPECT_NE(none.body.find("\"unauthorized\""), std::string::npos) << none.body;
    EXPECT_EQ(none.header("WWW-Authenticate"), "Bearer realm=\"tokengate-admin\"");
    EXPECT_EQ(none.header("Content-Type"), "application/json");
    HttpReply wrong = request(srv.port(), c.method, c.target, "not-the-token", c.body);
    EXPECT_EQ(wrong.status, 401) << c.method << " " << c.target;
    HttpReply right = request(srv.port(), c.method, c.target, kToken, c.body);
    EXPECT_NE(right.status, 401) << c.method << " " << c.target;
    EXPECT_NE(right.status, 0) << c.method << " " << c.target;
  }
  // Nothing was changed by the unauthenticated calls: the quota was only touched with the token.
  store::QuotaResult q;
  store::quotaGet(quotas, "alice", q, nullptr);
  EXPECT_FALSE(q.remaining.has_value());  // the authorised DELETE came last
}

TEST_F(Fixture, ConsoleFilesAreOpenWithContentTypesAndCsp) {
  Running srv(options, hooks);
  ASSERT_EQ(srv.error(), "");
  struct Want {
    const char* path;
    const char* type;
    const char* contains;
  };
  for (const Want& w : {Want{"/", "text/html; charset=utf-8", "<title>tokengate console</title>"},
                        Want{"/console", "text/html; charset=utf-8", "/console/app.js"},
                        Want{"/console/app.js", "text/javascript; charset=utf-8", "'use strict'"},
                        Want{"/console/app.css", "text/css; charset=utf-8", "[hidden]"}}) {
    HttpReply r = request(srv.port(), "GET", w.path, nullptr);
    EXPECT_EQ(r.status, 200) << w.path;
    EXPECT_EQ(r.header("Content-Type"), w.type) << w.path;
    EXPECT_NE(r.body.find(w.contains), std::string::npos) << w.path;
    EXPECT_EQ(r.header("X-Content-Type-Options"), "nosniff") << w.path;
    EXPECT_EQ(r.header("Content-Security-Policy"),
              "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
              "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
        << w.path;
    EXPECT_EQ(r.header("Cache-Control"), "no-store") << w.path;
  }
  // The HTML has no inline script or style (the CSP would block it).
  HttpReply html = request(srv.port(), "GET", "/", nullptr);
  EXPECT_EQ(html.body.find("<script>"), std::string::npos);
  EXPECT_EQ(html.body.find("<style"), std::string::npos);
  EXPECT_EQ(html.body.find("style=\""), std::string::npos);
  EXPECT_EQ(request(srv.port(), "POST", "/console", nullptr).status, 401);  // not an asset
  EXPECT_EQ(request(srv.port(), "POST", "/console", kToken).status, 405);
  EXPECT_EQ(request(srv.port(), "GET", "/console/other.js", nullptr).status, 401);
}

TEST_F(Fixture, EventsPassTheCursorToTheHook) {
  Running srv(options, hooks);
  ASSERT_EQ(srv.error(), "");
  HttpReply r = request(srv.port(), "GET", "/admin/events?after=42");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header("Content-Type"), "application/json");
  EXPECT_EQ(r.body, "{\"events\":[],\"next\":42}\n");
  EXPECT_EQ(request(srv.port(), "GET", "/admin/events").body, "{\"events\":[],\"next\":0}\n");
  EXPECT_EQ(request(srv.port(), "GET", "/admin/events?after=-1").status, 400);
  EXPECT_EQ(request(srv.port(), "GET", "/admin/events?after=x").status, 400);
}

TEST_F(Fixture, HealthAndReadinessAreOpen) {
  Running srv(options, hooks);
  HttpReply h = request(srv.port(), "GET", "/healthz", nullptr);
  EXPECT_EQ(h.status, 200);
  EXPECT_EQ(h.body, "{\"status\":\"ok\"}\n");
  EXPECT_EQ(h.header("Cache-Control"), "no-store");
  HttpReply r = request(srv.port(), "GET", "/readyz", nullptr);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "{\"status\":\"ready\"}\n");
  ready = false;
  r = request(srv.port(), "GET", "/readyz", nullptr);
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.body, "{\"status\":\"not_ready\"}\n");
}

TEST_F(Fixture, MetricsConfigTopReload) {
  Running srv(options, hooks);
  HttpReply m = request(srv.port(), "GET", "/metrics");
  EXPECT_EQ(m.status, 200);
  EXPECT_EQ(m.header("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_EQ(m.body, "tg_up 1\n");
  HttpReply c = request(srv.port(), "GET", "/admin/config");
  EXPECT_EQ(c.status, 200);
  EXPECT_EQ(c.body, "{\"server\":{}}\n");
  HttpReply t = request(srv.port(), "GET", "/admin/top?n=2");
  EXPECT_EQ(t.status, 200);
  EXPECT_EQ(t.body, "{\"top\":[{\"consumer\":\"alice\",\"tokens\":900},"
                    "{\"consumer\":\"bob\",\"tokens\":400}]}\n");
  EXPECT_EQ(request(srv.port(), "GET", "/admin/top").body.find("carol") != std::string::npos,
            true);
  EXPECT_EQ(request(srv.port(), "GET", "/admin/top?n=0").status, 400);
  EXPECT_EQ(request(srv.port(), "GET", "/admin/top?n=abc").status, 400);
  HttpReply ok = request(srv.port(), "POST", "/admin/reload");
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(ok.body, "{\"ok\":true,\"errors\":[]}\n");
  reloadOk = false;
  HttpReply bad = request(srv.port(), "POST", "/admin/reload");
  EXPECT_EQ(bad.status, 422);
  EXPECT_EQ(bad.body,
            "{\"ok\":false,\"errors\":[\"tokengate.yaml:3: routes[0].upstream: names no "
            "upstream: 'x'\"]}\n");
}

TEST_F(Fixture, Buckets) {
  Running srv(options, hooks);
  HttpReply b = request(srv.port(), "GET", "/admin/buckets?consumer=alice&route=chat&model=gpt-4o");
  EXPECT_EQ(b.status, 200);
  EXPECT_EQ(b.body,
            "{\"consumer\":\"alice\",\"route\":\"chat\",\"model\":\"gpt-4o\",\"buckets\":[{\"key\":"
            "\"per-consumer:0:valice\",\"policy\":\"per-consumer\",\"rule\":\"rule0\",\"unit\":"
            "\"tokens\",\"limit\":1000,\"window_ms\":60000,\"used\":250,\"remaining\":750,"
            "\"reset_ms\":12000}]}\n");
  EXPECT_EQ(request(srv.port(), "GET", "/admin/buckets").status, 400);
  EXPECT_EQ(request(srv.port(), "GET", "/admin/buckets?consumer=ghost").status, 404);
  HttpReply r = request(srv.port(), "POST", "/admin/buckets/reset?consumer=alice");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "{\"consumer\":\"alice\",\"reset\":3}\n");
}

TEST_F(Fixture, QuotaReadSetIncreaseDecreaseDelete) {
  Running srv(options, hooks);
  uint16_t p = srv.port();
  HttpReply g = request(p, "GET", "/admin/quota/alice");
  EXPECT_EQ(g.status, 200);
  EXPECT_EQ(g.body, "{\"consumer\":\"alice\",\"quota\":null,\"unlimited\":true}\n");
  HttpReply s = request(p, "PUT", "/admin/quota/alice", kToken, "{\"quota\": 1000}");
  EXPECT_EQ(s.status, 200);
  EXPECT_EQ(s.body, "{\"consumer\":\"alice\",\"quota\":1000,\"unlimited\":false}\n");
  HttpReply inc = request(p, "POST", "/admin/quota/alice/increase", kToken, "{\"amount\": 500}");
  EXPECT_EQ(inc.status, 200);
  EXPECT_EQ(inc.body, "{\"consumer\":\"alice\",\"quota\":1500,\"unlimited\":false}\n");
  HttpReply dec = request(p, "POST", "/admin/quota/alice/decrease", kToken, "{\"amount\": 2000}");
  EXPECT_EQ(dec.status, 200);
  EXPECT_EQ(dec.body, "{\"consumer\":\"alice\",\"quota\":-500,\"unlimited\":false}\n");
  // What the request path sees.
  store::QuotaResult q;
  store::quotaCheck(quotas, "alice", q, nullptr);
  EXPECT_FALSE(q.allowed);
  store::quotaCharge(quotas, "alice", 100, std::chrono::system_clock::now());
  EXPECT_EQ(request(p, "GET", "/admin/quota/alice").body,
            "{\"consumer\":\"alice\",\"quota\":-600,\"unlimited\":false}\n");
  // Names are percent-decoded.
  request(p, "PUT", "/admin/quota/team%20a", kToken, "{\"quota\":7}");
  store::quotaGet(quotas, "team a", q, nullptr);
  EXPECT_EQ(q.remaining, 7);
  HttpReply del = request(p, "DELETE", "/admin/quota/alice");
  EXPECT_EQ(del.status, 200);
  EXPECT_EQ(del.body, "{\"consumer\":\"alice\",\"quota\":null,\"unlimited\":true}\n");
  store::quotaCheck(quotas, "alice", q, nullptr);
  EXPECT_TRUE(q.allowed);
}

TEST_F(Fixture, QuotaBadBodiesAre400) {
  Running srv(options, hooks);
  uint16_t p = srv.port();
  for (std::string_view body : {"", "{", "{\"quota\":-1}", "{\"quota\":\"1\"}", "{\"amount\":1}",
                                "{\"quota\":1.5}"}) {
    HttpReply r = request(p, "PUT", "/admin/quota/alice", kToken, body);
    EXPECT_EQ(r.status, 400) << body;
    EXPECT_NE(r.body.find("\"invalid_body\""), std::string::npos) << r.body;
  }
  EXPECT_EQ(request(p, "POST", "/admin/quota/alice/increase", kToken, "{\"amount\":0}").status,
            400);
  EXPECT_EQ(request(p, "POST", "/admin/quota/alice/decrease", kToken, "{}").status, 400);
  EXPECT_EQ(quotas.stats().entries, 0u);
  // An overflow reported by the store is a 409.
  request(p, "PUT", "/admin/quota/big", kToken, "{\"quota\":9007199254740991}");
  store::QuotaResult q;
  store::quotaSet(quotas, "big", INT64_MAX - 10, q, nullptr);
  HttpReply o = request(p, "POST", "/admin/quota/big/increase", kToken, "{\"amount\":100}");
  EXPECT_EQ(o.status, 409);
  EXPECT_NE(o.body.find("quota_invalid"), std::string::npos);
}

TEST_F(Fixture, MethodAndPathErrors) {
  Running srv(options, hooks);
  HttpReply m = request(srv.port(), "POST", "/admin/quota/alice", kToken, "{}");
  EXPECT_EQ(m.status, 405);
  EXPECT_EQ(m.header("Allow"), "GET, PUT, DELETE");
  EXPECT_EQ(request(srv.port(), "GET", "/admin/nothing").status, 404);
  EXPECT_EQ(request(srv.port(), "GET", "/admin/quota/%zz").status, 400);
}

TEST_F(Fixture, BodyLimitAndKeepAlive) {
  options.maxBodyBytes = 100;
  Running srv(options, hooks);
  HttpReply big = request(srv.port(), "PUT", "/admin/quota/alice", kToken, std::string(200, ' '));
  EXPECT_EQ(big.status, 413);
  // Two requests on one connection.
  int fd = connectTo(srv.port());
  ASSERT_GE(fd, 0);
  std::string both = buildRequest("GET", "/healthz", nullptr, "", false) +
                     buildRequest("PUT", "/admin/quota/bob", kToken, "{\"quota\":3}", false);
  ASSERT_EQ(::write(fd, both.data(), both.size()), static_cast<ssize_t>(both.size()));
  std::string buf;
  HttpReply a = readReply(fd, buf);
  HttpReply b = readReply(fd, buf);
  ::close(fd);
  EXPECT_EQ(a.status, 200);
  EXPECT_EQ(a.header("Connection"), "");
  EXPECT_EQ(b.status, 200);
  EXPECT_EQ(b.body, "{\"consumer\":\"bob\",\"quota\":3,\"unlimited\":false}\n");
}

TEST_F(Fixture, SlowClientGets408) {
  options.headerTimeout = 200ms;
  Running srv(options, hooks);
  int fd = connectTo(srv.port());
  ASSERT_GE(fd, 0);
  std::string partial = "GET /healthz HTTP/1.1\r\nHost: a\r\n";
  ASSERT_EQ(::write(fd, partial.data(), partial.size()), static_cast<ssize_t>(partial.size()));
  std::string buf;
  HttpReply r = readReply(fd, buf);
  ::close(fd);
  EXPECT_EQ(r.status, 408);
}

TEST(AdminServer, MissingHooksAnswer501) {
  AdminOptions options;  // no token (loopback), no quota store
  Running srv(options, Hooks{});
  ASSERT_EQ(srv.error(), "");
  EXPECT_EQ(request(srv.port(), "GET", "/healthz", nullptr).status, 200);
  for (const Call& c : kProtected) {
    if (c.target == "/no/such/endpoint") {
      continue;
    }
    HttpReply r = request(srv.port(), c.method, c.target, nullptr, c.body);
    EXPECT_EQ(r.status, 501) << c.method << " " << c.target << " " << r.body;
  }
  EXPECT_EQ(request(srv.port(), "GET", "/readyz", nullptr).status, 501);
  HttpReply q = request(srv.port(), "GET", "/admin/quota/alice", nullptr);
  EXPECT_NE(q.body.find("quota_disabled"), std::string::npos);
}

TEST(AdminServer, HookThatNeverAnswersGets504) {
  AdminOptions options;
  options.hookTimeout = 100ms;
  Hooks hooks;
  hooks.buckets = [](const BucketQuery&, std::function<void(BucketsReply)>) {};
  Running srv(options, hooks);
  HttpReply r = request(srv.port(), "GET", "/admin/buckets?consumer=a", nullptr);
  EXPECT_EQ(r.status, 504);
}

TEST(AdminServer, RefusesNonLoopbackWithoutToken) {
  net::io_context io;
  AdminOptions options;
  options.host = "0.0.0.0";
  options.port = 0;
  auto s = AdminServer::create(io, options, Hooks{});
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().find("admin.token is required"), std::string::npos) << s.error();
  options.token = "t";
  auto ok = AdminServer::create(io, options, Hooks{});
  EXPECT_TRUE(ok) << (ok ? "" : ok.error());
  options.token = "sha256:xyz";
  EXPECT_FALSE(AdminServer::create(io, options, Hooks{}));
  options.token = "";
  options.host = "not-an-ip";
  EXPECT_FALSE(AdminServer::create(io, options, Hooks{}));
}

TEST(AdminServer, ReportsItsAddressAndStops) {
  AdminOptions options;
  auto srv = std::make_unique<Running>(options, Hooks{});
  uint16_t port = srv->port();
  EXPECT_NE(port, 0);
  EXPECT_EQ(srv->server().address(), "127.0.0.1:" + std::to_string(port));
  // An idle keep-alive connection does not hold the shutdown up.
  int fd = connectTo(port);
  ASSERT_GE(fd, 0);
  srv.reset();
  EXPECT_LT(connectTo(port), 0);
  ::close(fd);
}

}  // namespace
}  // namespace tg::admin
