// redis::Client against real redis-server processes: commands and pipelining, AUTH (password
// and ACL user), SELECT, command timeout, outage and restart, a server that speaks garbage,
// EVALSHA with NOSCRIPT, the store's scripts as Redis Functions (FCALL, reload after FUNCTION
// FLUSH, EVALSHA when functions are off or refused), and a 3-master Redis Cluster with a live slot
// migration (ASK, then MOVED). The io_context runs in the test thread; every wait is bounded.
#include "redis/client.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <array>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "redis/cluster.h"
#include "redis/scripts.h"
#include "redis_server.h"
#include "run_until.h"

namespace tg::redis {
namespace {

namespace net = boost::asio;
using net::ip::tcp;
using std::chrono::milliseconds;
using tg::testing::RedisServer;
using Clock = std::chrono::steady_clock;

#define REQUIRE_REDIS()                                 \
  do {                                                  \
    if (!tg::testing::redisServerAvailable()) {         \
      GTEST_SKIP() << "redis-server is not installed";  \
    }                                                   \
  } while (0)

using tg::testing::runUntil;

// Runs handlers for `d` (the client's timers and probes keep the context busy).
void runFor(net::io_context& io, milliseconds d) {
  auto end = Clock::now() + d;
  runUntil(io, [&] { return Clock::now() >= end; }, d + milliseconds(100));
}

struct Outcome {
  bool called = false;
  Status status = Status::Ok;
  Reply reply;
};

Callback record(const std::shared_ptr<Outcome>& o) {
  return [o](Status s, Reply&& r) {
    o->called = true;
    o->status = s;
    o->reply = std::move(r);
  };
}

Outcome exec(net::io_context& io, Client& c, std::vector<std::string> args,
             std::string_view key = {}, milliseconds limit = milliseconds(5000)) {
  auto o = std::make_shared<Outcome>();
  c.command(std::move(args), key, record(o));
  EXPECT_TRUE(runUntil(io, [&] { return o->called; }, limit)) << "no completion";
  return *o;
}

Options localOptions(uint16_t port) {
  Options o;
  o.seeds = {Endpoint{"127.0.0.1", port}};
  o.connectTimeout = milliseconds(500);
  o.commandTimeout = milliseconds(1000);
  o.reconnectMin = milliseconds(20);
  o.reconnectMax = milliseconds(200);
  return o;
}

bool waitUp(net::io_context& io, Client& c, milliseconds limit = milliseconds(5000)) {
  return runUntil(io, [&] { return c.health() == Health::Up; }, limit);
}

// Captures what is written to fd 2 (the JSON log lines) until text() is called.
class StderrCapture {
 public:
  StderrCapture()
      : path_("/tmp/tg-client-test-stderr-" + std::to_string(::getpid()) + ".log") {
    std::fflush(stderr);
    int fd = ::open(path_.c_str(), O_CREAT | O_TRUNC | O_WRONLY, 0600);
    saved_ = ::dup(2);
    ::dup2(fd, 2);
    ::close(fd);
  }
  ~StderrCapture() { restore(); }
  std::string text() {
    restore();
    std::ifstream f(path_);
    std::stringstream ss;
    ss << f.rdbuf();
    ::unlink(path_.c_str());
    return ss.str();
  }

 private:
  void restore() {
    if (saved_ >= 0) {
      std::fflush(stderr);
      ::dup2(saved_, 2);
      ::close(saved_);
      saved_ = -1;
    }
  }
  std::string path_;
  int saved_ = -1;
};

size_t count(const std::string& hay, const std::string& needle) {
  size_t n = 0;
  for (size_t p = hay.find(needle); p != std::string::npos; p = hay.find(needle, p + 1)) {
    ++n;
  }
  return n;
}

// Calls of `cmd` (lower case, "function|load" for a subcommand) on `n` (INFO commandstats).
int64_t commandCalls(const RedisServer& n, const std::string& cmd) {
  std::string stats = n.cli("INFO commandstats");
  std::string tag = "cmdstat_" + cmd + ":calls=";
  size_t p = stats.find(tag);
  return p == std::string::npos ? 0 : std::atoll(stats.c_str() + p + tag.size());
}

// ---------------------------------------------------------------------------------------------
// Standalone

class ClientTest : public ::testing::Test {
 protected:
  net::io_context io_;
};

TEST_F(ClientTest, BasicCommandsAndReplyTypes) {
  REQUIRE_REDIS();
  RedisServer server;
  Client c(io_.get_executor(), localOptions(server.port()));
  c.start();
  ASSERT_TRUE(waitUp(io_, c));

  auto set = exec(io_, c, {"SET", "k", "v"});
  EXPECT_EQ(set.status, Status::Ok);
  EXPECT_EQ(set.reply.type, Reply::Type::Status);
  EXPECT_EQ(set.reply.str, "OK");
  auto get = exec(io_, c, {"GET", "k"});
  EXPECT_EQ(get.reply.type, Reply::Type::String);
  EXPECT_EQ(get.reply.str, "v");
  auto nil = exec(io_, c, {"GET", "missing"});
  EXPECT_EQ(nil.status, Status::Ok);
  EXPECT_EQ(nil.reply.type, Reply::Type::Nil);
  auto incr = exec(io_, c, {"INCRBY", "n", "41"});
  EXPECT_EQ(incr.reply.type, Reply::Type::Integer);
  EXPECT_EQ(incr.reply.integer, 41);
  auto err = exec(io_, c, {"INCR", "k"});  // a Redis error is a reply, not a transport failure
  EXPECT_EQ(err.status, Status::Ok);
  EXPECT_TRUE(err.reply.isError());
  EXPECT_NE(err.reply.str.find("not an integer"), std::string::npos) << err.reply.str;
  auto mget = exec(io_, c, {"MGET", "k", "missing", "n"});
  ASSERT_EQ(mget.reply.type, Reply::Type::Array);
  ASSERT_EQ(mget.reply.elements.size(), 3u);
  EXPECT_EQ(mget.reply.elements[0].str, "v");
  EXPECT_EQ(mget.reply.elements[1].type, Reply::Type::Nil);
  EXPECT_EQ(mget.reply.elements[2].str, "41");
  std::string binary("a\0b\r\nc", 6);
  exec(io_, c, {"SET", "bin", binary});
  EXPECT_EQ(exec(io_, c, {"GET", "bin"}).reply.str, binary);
  EXPECT_EQ(server.cli("GET k"), "v");
}

TEST_F(ClientTest, CallbacksAreNeverInline) {
  REQUIRE_REDIS();
  RedisServer server;
  Client c(io_.get_executor(), localOptions(server.port()));
  bool called = false;
  c.command({"PING"}, {}, [&](Status s, Reply&&) {
    called = true;
    EXPECT_EQ(s, Status::Unavailable);  // before start(): not connected
  });
  EXPECT_FALSE(called);
  ASSERT_TRUE(runUntil(io_, [&] { return called; }));
  c.start();
  ASSERT_TRUE(waitUp(io_, c));
  called = false;
  c.command({"PING"}, {}, [&](Status s, Reply&& r) {
    called = true;
    EXPECT_EQ(s, Status::Ok);
    EXPECT_EQ(r.str, "PONG");
  });
  EXPECT_FALSE(called);
  ASSERT_TRUE(runUntil(io_, [&] { return called; }));
}

TEST_F(ClientTest, PipelinedRepliesComeBackInOrder) {
  REQUIRE_REDIS();
  RedisServer server;
  Client c(io_.get_executor(), localOptions(server.port()));
  c.start();
  ASSERT_TRUE(waitUp(io_, c));
  constexpr int kN = 5000;
  std::vector<int64_t> got;
  got.reserve(kN);
  bool orderOk = true;
  for (int i = 0; i < kN; ++i) {  // all in flight at once, written in a few batched writes
    c.command({"INCR", "counter"}, {}, [&, i](Status s, Reply&& r) {
      orderOk = orderOk && s == Status::Ok && r.integer == i + 1 &&
                static_cast<int>(got.size()) == i;
      got.push_back(r.integer);
    });
  }
  ASSERT_TRUE(runUntil(io_, [&] { return got.size() == kN; }));
  EXPECT_TRUE(orderOk);
  EXPECT_EQ(got.back(), kN);
  // Different commands interleaved: each gets its own reply.
  auto a = std::make_shared<Outcome>();
  auto b = std::make_shared<Outcome>();
  auto d = std::make_shared<Outcome>();
  c.command({"SET", "x", "1"}, {}, record(a));
  c.command({"GET", "x"}, {}, record(b));
  c.command({"LPUSH", "l", "p", "q"}, {}, record(d));
  ASSERT_TRUE(runUntil(io_, [&] { return a->called && b->called && d->called; }));
  EXPECT_EQ(a->reply.str, "OK");
  EXPECT_EQ(b->reply.str, "1");
  EXPECT_EQ(d->reply.integer, 2);
}

TEST_F(ClientTest, AuthWithPassword) {
  REQUIRE_REDIS();
  RedisServer server({"--requirepass", "s3cret"});
  Options o = localOptions(server.port());
  o.password = "s3cret";
  Client c(io_.get_executor(), o);
  c.start();
  ASSERT_TRUE(waitUp(io_, c));
  EXPECT_EQ(exec(io_, c, {"SET", "a", "1"}).reply.str, "OK");
  EXPECT_EQ(exec(io_, c, {"ACL", "WHOAMI"}).reply.str, "default");
}

TEST_F(ClientTest, AuthWithAclUser) {
  REQUIRE_REDIS();
  RedisServer server;
  ASSERT_EQ(server.cli("ACL SETUSER alice on '>wonderland' '~app:*' +@all"), "OK");
  Options o = localOptions(server.port());
  o.username = "alice";
  o.password = "wonderland";
  Client c(io_.get_executor(), o);
  c.start();
  ASSERT_TRUE(waitUp(io_, c));
  EXPECT_EQ(exec(io_, c, {"ACL", "WHOAMI"}).reply.str, "alice");
  EXPECT_EQ(exec(io_, c, {"SET", "app:1", "x"}).reply.str, "OK");
  auto denied = exec(io_, c, {"SET", "other", "x"});  // outside alice's key pattern
  EXPECT_EQ(denied.status, Status::Ok);
  EXPECT_TRUE(denied.reply.isError());
  EXPECT_NE(denied.reply.str.find("NOPERM"), std::string::npos) << denied.reply.str;
}

TEST_F(ClientTest, WrongPasswordStaysDownLogsOnceAndFailsFast) {
  REQUIRE_REDIS();
  RedisServer server({"--requirepass", "s3cret"});
  Options o = localOptions(server.port());
  o.password = "wrong";
  o.reconnectMin = milliseconds(10);
  o.reconnectMax = milliseconds(20);
  StderrCapture capture;
  {
    Client c(io_.get_executor(), o);
    c.start();
    // Several attempts (10-20 ms apart) in 400 ms; the client stays Down.
    runFor(io_, milliseconds(400));
    EXPECT_EQ(c.health(), Health::Down);
    auto t0 = Clock::now();
    auto r = exec(io_, c, {"PING"});
    EXPECT_EQ(r.status, Status::Unavailable);
    EXPECT_LT(Clock::now() - t0, milliseconds(50));  // no waiting behind a dead server
  }
  std::string log = capture.text();
  EXPECT_EQ(count(log, "WRONGPASS"), 1u) << log;  // once per outage, with Redis's own text
  EXPECT_NE(log.find("AUTH failed"), std::string::npos) << log;
}

TEST_F(ClientTest, WrongDatabaseIsLoggedWithRedisText) {
  REQUIRE_REDIS();
  RedisServer server;
  Options o = localOptions(server.port());
  o.database = 99;  // the default has 16
  StderrCapture capture;
  {
    Client c(io_.get_executor(), o);
    c.start();
    runFor(io_, milliseconds(200));
    EXPECT_EQ(c.health(), Health::Down);
    EXPECT_EQ(exec(io_, c, {"PING"}).status, Status::Unavailable);
  }
  std::string log = capture.text();
  EXPECT_EQ(count(log, "SELECT 99 failed"), 1u) << log;
  EXPECT_NE(log.find("DB index is out of range"), std::string::npos) << log;
}

TEST_F(ClientTest, SelectDatabase) {
  REQUIRE_REDIS();
  RedisServer server;
  Options o = localOptions(server.port());
  o.database = 3;
  Client c(io_.get_executor(), o);
  c.start();
  ASSERT_TRUE(waitUp(io_, c));
  exec(io_, c, {"SET", "where", "db3"});
  EXPECT_EQ(server.cli("-n 3 GET where"), "db3");
  EXPECT_EQ(server.cli("-n 0 EXISTS where"), "0");
}

TEST_F(ClientTest, CommandTimeoutResetsTheConnectionAndRecovers) {
  REQUIRE_REDIS();
  RedisServer server({"--enable-debug-command", "local"});
  Options o = localOptions(server.port());
  o.commandTimeout = milliseconds(200);
  Client c(io_.get_executor(), o);
  c.start();
  ASSERT_TRUE(waitUp(io_, c));
  auto slow = std::make_shared<Outcome>();
  auto behind = std::make_shared<Outcome>();
  auto t0 = Clock::now();
  c.command({"DEBUG", "SLEEP", "2"}, {}, record(slow));
  c.command({"PING"}, {}, record(behind));
  ASSERT_TRUE(runUntil(io_, [&] { return slow->called && behind->called; }));
  auto took = Clock::now() - t0;
  EXPECT_EQ(slow->status, Status::Timeout);
  EXPECT_EQ(behind->status, Status::Timeout);  // its reply can no longer be matched either
  EXPECT_GE(took, milliseconds(190));
  EXPECT_LT(took, milliseconds(800));
  // Up again once the server answers (it sleeps for 2 s), with the same client.
  ASSERT_TRUE(waitUp(io_, c, milliseconds(6000)));
  auto ping = exec(io_, c, {"PING"});
  EXPECT_EQ(ping.status, Status::Ok);
  EXPECT_EQ(ping.reply.str, "PONG");
}

TEST_F(ClientTest, ServerKilledFailsFastThenRestartedIsUpAgain) {
  REQUIRE_REDIS();
  RedisServer server;
  Client c(io_.get_executor(), localOptions(server.port()));
  c.start();
  ASSERT_TRUE(waitUp(io_, c));
  EXPECT_EQ(exec(io_, c, {"SET", "k", "1"}).status, Status::Ok);

  server.kill();
  auto t0 = Clock::now();
  auto lost = exec(io_, c, {"GET", "k"});  // written to a dead socket: fails on the reset
  EXPECT_EQ(lost.status, Status::Unavailable);
  EXPECT_LT(Clock::now() - t0, milliseconds(500));
  ASSERT_TRUE(runUntil(io_, [&] { return c.health() == Health::Down; }, milliseconds(500)));
  // While Down every command fails at once.
  for (int i = 0; i < 3; ++i) {
    auto t1 = Clock::now();
    EXPECT_EQ(exec(io_, c, {"PING"}).status, Status::Unavailable);
    EXPECT_LT(Clock::now() - t1, milliseconds(50));
  }
  // Still Down after a while of failed probes (backoff up to 200 ms).
  runFor(io_, milliseconds(300));
  EXPECT_EQ(c.health(), Health::Down);

  ASSERT_TRUE(server.start());  // same port
  ASSERT_TRUE(waitUp(io_, c, milliseconds(3000)));
  auto ping = exec(io_, c, {"PING"});
  EXPECT_EQ(ping.status, Status::Ok);
  EXPECT_EQ(ping.reply.str, "PONG");
}

TEST_F(ClientTest, StopCompletesPendingWithUnavailable) {
  REQUIRE_REDIS();
  RedisServer server;
  auto c = std::make_unique<Client>(io_.get_executor(), localOptions(server.port()));
  c->start();
  ASSERT_TRUE(waitUp(io_, *c));
  int unavailable = 0;
  int total = 0;
  for (int i = 0; i < 50; ++i) {
    c->command({"PING"}, {}, [&](Status s, Reply&&) {
      ++total;
      unavailable += s == Status::Unavailable;
    });
  }
  c->stop();
  EXPECT_EQ(total, 0);  // posted, not run inside stop()
  ASSERT_TRUE(runUntil(io_, [&] { return total == 50; }));
  EXPECT_EQ(unavailable, 50);
  EXPECT_EQ(c->health(), Health::Down);
  EXPECT_EQ(exec(io_, *c, {"PING"}).status, Status::Unavailable);
  // Destroying a client with commands in flight completes them too.
  auto d = std::make_unique<Client>(io_.get_executor(), localOptions(server.port()));
  d->start();
  ASSERT_TRUE(waitUp(io_, *d));
  auto o = std::make_shared<Outcome>();
  d->command({"PING"}, {}, record(o));
  d.reset();
  ASSERT_TRUE(runUntil(io_, [&] { return o->called; }));
  EXPECT_EQ(o->status, Status::Unavailable);
}

// A TCP server that is not Redis: it answers the client's connection PING with +PONG when
// `pongFirst`, then answers every later read with an HTTP error page.
class GarbageServer {
 public:
  GarbageServer(net::io_context& io, bool pongFirst)
      : acceptor_(io, tcp::endpoint(net::ip::address_v4::loopback(), 0)), pongFirst_(pongFirst) {
    accept();
  }
  uint16_t port() const { return acceptor_.local_endpoint().port(); }
  int connections() const { return connections_; }

 private:
  struct Conn {
    explicit Conn(tcp::socket s) : sock(std::move(s)) {}
    tcp::socket sock;
    std::array<char, 4096> buf;
    int reads = 0;
  };
  void accept() {
    acceptor_.async_accept([this](boost::system::error_code ec, tcp::socket s) {
      if (ec) {
        return;
      }
      ++connections_;
      serve(std::make_shared<Conn>(std::move(s)));
      accept();
    });
  }
  void serve(std::shared_ptr<Conn> c) {
    c->sock.async_read_some(net::buffer(c->buf), [this, c](boost::system::error_code ec, size_t) {
      if (ec) {
        return;
      }
      auto out = std::make_shared<std::string>(
          pongFirst_ && c->reads++ == 0 ? "+PONG\r\n"
                                        : "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
      net::async_write(c->sock, net::buffer(*out), [out, c](boost::system::error_code, size_t) {});
      serve(c);
    });
  }
  tcp::acceptor acceptor_;
  bool pongFirst_;
  int connections_ = 0;
};

TEST_F(ClientTest, GarbageRepliesFailWithProtocolAndTheClientSurvives) {
  GarbageServer garbage(io_, /*pongFirst=*/true);
  Options o = localOptions(garbage.port());
  o.functions = false;  // it answers the handshake's PING only, not a FUNCTION LOAD after it
  Client c(io_.get_executor(), o);
  c.start();
  ASSERT_TRUE(waitUp(io_, c));
  auto r = exec(io_, c, {"GET", "k"});
  EXPECT_EQ(r.status, Status::Protocol);
  // The connection was reset and reopened; the next command fails the same way, no hang.
  ASSERT_TRUE(waitUp(io_, c));
  EXPECT_EQ(exec(io_, c, {"GET", "k"}).status, Status::Protocol);
  EXPECT_GE(garbage.connections(), 2);
}

TEST_F(ClientTest, GarbageFromTheStartKeepsTheClientDownWithAClearLog) {
  GarbageServer garbage(io_, /*pongFirst=*/false);
  StderrCapture capture;
  {
    Client c(io_.get_executor(), localOptions(garbage.port()));
    c.start();
    ASSERT_TRUE(runUntil(io_, [&] { return garbage.connections() >= 3; }));
    EXPECT_EQ(c.health(), Health::Down);
    EXPECT_EQ(exec(io_, c, {"PING"}).status, Status::Unavailable);
  }
  std::string log = capture.text();
  EXPECT_EQ(count(log, "is this a Redis server?"), 1u) << log;
  EXPECT_NE(log.find("Protocol error"), std::string::npos) << log;
}

TEST_F(ClientTest, EvalShaReloadsTheScriptOnNoscript) {
  REQUIRE_REDIS();
  RedisServer server;
  Client c(io_.get_executor(), localOptions(server.port()));
  c.start();
  ASSERT_TRUE(waitUp(io_, c));
  Script incr("return redis.call('INCRBY', KEYS[1], ARGV[1])");
  EXPECT_EQ(incr.sha1.size(), 40u);
  EXPECT_EQ(server.cli("SCRIPT EXISTS " + incr.sha1), "0");

  auto run = [&](std::string by) {
    auto o = std::make_shared<Outcome>();
    c.eval(incr, {"ev"}, {std::move(by)}, record(o));
    EXPECT_TRUE(runUntil(io_, [&] { return o->called; }));
    return *o;
  };
  auto first = run("5");  // NOSCRIPT -> SCRIPT LOAD -> EVALSHA, transparently
  EXPECT_EQ(first.status, Status::Ok);
  EXPECT_EQ(first.reply.integer, 5) << first.reply.str;
  EXPECT_EQ(server.cli("SCRIPT EXISTS " + incr.sha1), "1");  // our SHA1 is Redis's
  EXPECT_EQ(run("1").reply.integer, 6);
  EXPECT_EQ(server.cli("SCRIPT FLUSH"), "OK");
  auto again = run("10");
  EXPECT_EQ(again.status, Status::Ok);
  EXPECT_EQ(again.reply.integer, 16) << again.reply.str;

  // A script that fails is an error reply, not a reload loop.
  Script broken("return redis.call('NOSUCHCOMMAND')");
  auto o = std::make_shared<Outcome>();
  c.eval(broken, {"ev"}, {}, record(o));
  ASSERT_TRUE(runUntil(io_, [&] { return o->called; }));
  EXPECT_EQ(o->status, Status::Ok);
  EXPECT_TRUE(o->reply.isError());
}

// ---- Redis Functions: the store's scripts through the client ---------------------------------

// The store's batch and peek scripts run through a Client, as RedisStore runs them: a fixed
// window of 10 per minute.
class StoreScripts {
 public:
  StoreScripts(net::io_context& io, Client& c, std::string bucketKey = "fn:consumer")
      : io_(io), c_(c) {
    bucket_.key = std::move(bucketKey);  // the slot is that of the part after its last ':'
    bucket_.limit = 10;
    bucket_.window = milliseconds(60'000);
    key_ = redisKeyFor("tg:", bucket_);
  }
  // Reserves `amount`; the reply must be well formed. Returns the verdict (-1: an error reply
  // or a failed command).
  int reserve(int64_t amount) {
    Batch b;
    std::vector<std::string> keys = {key_};
    std::vector<store::BucketSpec> buckets = {bucket_};
    std::vector<int64_t> amounts = {amount};
    b.addReserve(keys, buckets, amounts, store::ReserveMode::Reserve);
    Outcome o = run(batch_, b.keys(), b.argv());
    std::vector<int64_t> values;
    for (const Reply& e : o.reply.elements) {
      values.push_back(e.integer);
    }
    store::ReserveResult r;
    if (o.status != Status::Ok || o.reply.isError() || !parseReserveReply(values, buckets, r)) {
      ADD_FAILURE() << "batch failed: " << statusName(o.status) << " " << o.reply.str;
      return -1;
    }
    return static_cast<int>(r.verdict);
  }
  // Used units by peek (-1 on failure).
  int64_t used() {
    std::vector<std::string> args;
    appendPeekArgs(bucket_, 0, args);
    Outcome o = run(peek_, {key_}, std::move(args));
    if (o.status != Status::Ok || o.reply.type != Reply::Type::Array || o.reply.elements.empty()) {
      ADD_FAILURE() << "peek failed: " << statusName(o.status) << " " << o.reply.str;
      return -1;
    }
    return o.reply.elements[0].integer;
  }

 private:
  Outcome run(const Script& s, std::vector<std::string> keys, std::vector<std::string> args) {
    auto o = std::make_shared<Outcome>();
    c_.eval(s, std::move(keys), std::move(args), record(o));
    EXPECT_TRUE(runUntil(io_, [&] { return o->called; })) << "no completion";
    return *o;
  }
  net::io_context& io_;
  Client& c_;
  store::BucketSpec bucket_;
  std::string key_;
  Script batch_{std::string(batchScriptText())};
  Script peek_{std::string(peekScriptText())};
};

constexpr int kAdmitted = static_cast<int>(store::Verdict::Admitted);
constexpr int kOverLimit = static_cast<int>(store::Verdict::OverLimit);

#define REQUIRE_FUNCTIONS(server)                                             \
  do {                                                                        \
    if ((server).cli("FUNCTION LIST").starts_with("ERR unknown command")) {   \
      GTEST_SKIP() << "this redis-server has no Redis Functions (Redis < 7)"; \
    }                                                                         \
  } while (0)

TEST_F(ClientTest, StoreScriptsRunAsFunctionsWithFcall) {
  REQUIRE_REDIS();
  RedisServer server;
  REQUIRE_FUNCTIONS(server);
  Client c(io_.get_executor(), localOptions(server.port()));
  c.start();
  ASSERT_TRUE(waitUp(io_, c));
  const FunctionLibrary& lib = storeFunctionLibrary();
  EXPECT_NE(server.cli("FUNCTION LIST LIBRARYNAME " + lib.name).find(lib.name + "_batch"),
            std::string::npos);
  StoreScripts scripts(io_, c);
  EXPECT_EQ(scripts.reserve(4), kAdmitted);
  EXPECT_EQ(scripts.reserve(4), kAdmitted);
  EXPECT_EQ(scripts.reserve(4), kOverLimit);
  EXPECT_EQ(scripts.used(), 8);
  EXPECT_EQ(commandCalls(server, "fcall"), 4);
  EXPECT_EQ(commandCalls(server, "evalsha"), 0);
  EXPECT_EQ(commandCalls(server, "function|load"), 1);  // the connection's handshake
  EXPECT_EQ(commandCalls(server, "script|load"), 0);
  // A script that is not the store's still goes as EVALSHA, with its NOSCRIPT reload.
  Script incr("return redis.call('INCRBY', KEYS[1], ARGV[1])");
  auto o = std::make_shared<Outcome>();
  c.eval(incr, {"ev"}, {"3"}, record(o));
  ASSERT_TRUE(runUntil(io_, [&] { return o->called; }));
  EXPECT_EQ(o->reply.integer, 3) << o->reply.str;
  EXPECT_EQ(commandCalls(server, "evalsha"), 2);  // NOSCRIPT, then the retry
}

TEST_F(ClientTest, FunctionFlushIsReloadedAndRetriedOnceTransparently) {
  REQUIRE_REDIS();
  RedisServer server;
  REQUIRE_FUNCTIONS(server);
  Client c(io_.get_executor(), localOptions(server.port()));
  c.start();
  ASSERT_TRUE(waitUp(io_, c));
  StoreScripts scripts(io_, c);
  EXPECT_EQ(scripts.reserve(3), kAdmitted);
  EXPECT_EQ(server.cli("FUNCTION FLUSH"), "OK");        // behind the client's back
  EXPECT_EQ(scripts.reserve(3), kAdmitted);             // "Function not found" -> load -> FCALL
  EXPECT_EQ(commandCalls(server, "function|load"), 2);  // handshake + exactly one reload
  EXPECT_EQ(scripts.used(), 6);
  EXPECT_EQ(scripts.reserve(5), kOverLimit);
  EXPECT_EQ(commandCalls(server, "function|load"), 2);
  EXPECT_EQ(commandCalls(server, "fcall"), 5);  // 4 evals + the one retry
  EXPECT_EQ(commandCalls(server, "evalsha"), 0);
}

TEST_F(ClientTest, FunctionsOffUseEvalshaAndReloadOnNoscript) {
  REQUIRE_REDIS();
  RedisServer server;
  Options o = localOptions(server.port());
  o.functions = false;
  Client c(io_.get_executor(), o);
  c.start();
  ASSERT_TRUE(waitUp(io_, c));
  StoreScripts scripts(io_, c);
  EXPECT_EQ(scripts.reserve(4), kAdmitted);  // NOSCRIPT -> SCRIPT LOAD -> EVALSHA
  EXPECT_EQ(server.cli("SCRIPT FLUSH"), "OK");
  EXPECT_EQ(scripts.reserve(4), kAdmitted);
  EXPECT_EQ(scripts.used(), 8);
  EXPECT_EQ(commandCalls(server, "fcall"), 0);
  EXPECT_EQ(commandCalls(server, "function|load"), 0);
  EXPECT_EQ(commandCalls(server, "script|load"), 3);  // batch twice, peek once
  EXPECT_EQ(server.cli("FUNCTION LIST"), "");
}

TEST_F(ClientTest, ServerRefusingFunctionFallsBackToEvalshaAndLogsOnce) {
  REQUIRE_REDIS();
  RedisServer server;
  REQUIRE_FUNCTIONS(server);
  ASSERT_EQ(server.cli("ACL SETUSER u on '>pw' '~*' '&*' +@all -function"), "OK");
  Options o = localOptions(server.port());
  o.username = "u";
  o.password = "pw";
  StderrCapture capture;
  {
    Client c(io_.get_executor(), o);
    c.start();
    ASSERT_TRUE(waitUp(io_, c));
    StoreScripts scripts(io_, c);
    EXPECT_EQ(scripts.reserve(4), kAdmitted);
    EXPECT_EQ(scripts.reserve(4), kAdmitted);
    EXPECT_EQ(scripts.reserve(4), kOverLimit);
    EXPECT_EQ(scripts.used(), 8);
    // A reconnect is refused the same way: no second line.
    EXPECT_EQ(server.cli("CLIENT KILL USER u"), "1");
    ASSERT_TRUE(runUntil(io_, [&] { return commandCalls(server, "auth") >= 2; }));
    ASSERT_TRUE(waitUp(io_, c));
    EXPECT_EQ(scripts.reserve(1), kAdmitted);
    EXPECT_EQ(scripts.used(), 9);
  }
  std::string log = capture.text();
  EXPECT_EQ(count(log, "Redis Functions not available"), 1u) << log;
  EXPECT_NE(log.find("NOPERM"), std::string::npos) << log;
  EXPECT_EQ(commandCalls(server, "fcall"), 0);
  EXPECT_GE(commandCalls(server, "evalsha"), 5);
  EXPECT_EQ(server.cli("FUNCTION LIST"), "");
}

// TLS: a throw-away CA and a server certificate for localhost / 127.0.0.1, made with the
// openssl command line; redis-server serves TLS on a second port.
class TlsFiles {
 public:
  TlsFiles() : dir_("/tmp/tg-client-test-tls-" + std::to_string(::getpid())) {
    std::string d = dir_;
    std::string script =
        "set -e; mkdir -p " + d + "; cd " + d +
        "; printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\n' > ext.cnf"
        "; openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 1"
        " -subj /CN=tg-test-ca"
        "; openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr"
        " -subj /CN=localhost"
        "; openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial"
        " -out server.crt -days 1 -extfile ext.cnf";
    ok_ = std::system(("(" + script + ") >/dev/null 2>&1").c_str()) == 0;
  }
  ~TlsFiles() { std::system(("rm -rf " + dir_).c_str()); }
  bool ok() const { return ok_; }
  std::string path(const std::string& f) const { return dir_ + "/" + f; }

 private:
  std::string dir_;
  bool ok_ = false;
};

TEST_F(ClientTest, TlsWithVerifiedCertificate) {
  REQUIRE_REDIS();
  TlsFiles files;
  if (!files.ok()) {
    GTEST_SKIP() << "openssl cannot make test certificates";
  }
  uint16_t tlsPort = tg::testing::freeLoopbackPort();
  RedisServer server({"--tls-port", std::to_string(tlsPort), "--tls-cert-file",
                      files.path("server.crt"), "--tls-key-file", files.path("server.key"),
                      "--tls-ca-cert-file", files.path("ca.crt"), "--tls-auth-clients", "no",
                      "--requirepass", "pw"});
  Options o = localOptions(tlsPort);
  o.tls = true;
  o.caFile = files.path("ca.crt");
  o.serverName = "localhost";
  o.password = "pw";
  {
    Client c(io_.get_executor(), o);
    c.start();
    ASSERT_TRUE(waitUp(io_, c));
    EXPECT_EQ(exec(io_, c, {"SET", "tls", "yes"}).reply.str, "OK");
    int done = 0;
    for (int i = 0; i < 200; ++i) {
      c.command({"GET", "tls"}, {}, [&](Status s, Reply&& r) {
        EXPECT_EQ(s, Status::Ok);
        EXPECT_EQ(r.str, "yes");
        ++done;
      });
    }
    ASSERT_TRUE(runUntil(io_, [&] { return done == 200; }));
  }
  // The IP address is verified too (the certificate has it as a subjectAltName).
  o.serverName.clear();
  {
    Client c(io_.get_executor(), o);
    c.start();
    ASSERT_TRUE(waitUp(io_, c));
  }
  // Against the system CAs the test CA is unknown: the handshake fails, the client stays Down.
  o.caFile.clear();
  StderrCapture capture;
  {
    Client c(io_.get_executor(), o);
    c.start();
    runFor(io_, milliseconds(200));
    EXPECT_EQ(c.health(), Health::Down);
  }
  std::string log = capture.text();
  EXPECT_NE(log.find("TLS handshake failed"), std::string::npos) << log;
}

// ---------------------------------------------------------------------------------------------
// Redis Cluster: 3 masters, created once for the suite.

// A free port whose cluster bus port (+10000) is free too.
uint16_t clusterPort() {
  for (int i = 0; i < 200; ++i) {
    uint16_t p = tg::testing::freeLoopbackPort();
    if (p == 0 || p > 55000) {
      continue;
    }
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<uint16_t>(p + 10000));
    bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    ::close(fd);
    if (ok) {
      return p;
    }
  }
  return 0;
}

class ClusterTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!tg::testing::redisServerAvailable()) {
      return;
    }
    for (int i = 0; i < 3; ++i) {
      uint16_t port = clusterPort();
      std::string conf = "/tmp/tg-client-test-cluster-" + std::to_string(::getpid()) + "-" +
                         std::to_string(port) + ".conf";
      confs_.push_back(conf);
      nodes_.push_back(std::make_unique<RedisServer>(
          std::vector<std::string>{"--cluster-enabled", "yes", "--cluster-config-file", conf,
                                   "--cluster-node-timeout", "2000"},
          port));
    }
    std::string create = "--cluster create";
    for (auto& n : nodes_) {
      create += " 127.0.0.1:" + std::to_string(n->port());
    }
    create += " --cluster-replicas 0 --cluster-yes >/dev/null 2>&1";
    nodes_[0]->cli(create);
    auto end = Clock::now() + std::chrono::seconds(20);
    while (Clock::now() < end) {
      bool ok = true;
      for (auto& n : nodes_) {
        ok = ok && n->cli("CLUSTER INFO").find("cluster_state:ok") != std::string::npos;
      }
      if (ok) {
        ready_ = true;
        break;
      }
      std::this_thread::sleep_for(milliseconds(100));  // an external process: poll it
    }
  }
  static void TearDownTestSuite() {
    nodes_.clear();
    for (auto& c : confs_) {
      ::unlink(c.c_str());
    }
    confs_.clear();
  }
  void SetUp() override {
    REQUIRE_REDIS();
    ASSERT_TRUE(ready_) << "the test cluster did not reach cluster_state:ok";
  }

  Options clusterOptions() {
    Options o = localOptions(nodes_[0]->port());  // one seed: the rest is discovered
    o.cluster = true;
    return o;
  }
  // The node serving `slot`, by CLUSTER SLOTS of node 0.
  static RedisServer* owner(uint16_t slot) {
    std::string slots = nodes_[0]->cli("CLUSTER SLOTS");
    // redis-cli prints a flat list: first, last, host, port, id, ... per range.
    std::istringstream in(slots);
    std::vector<std::string> lines;
    for (std::string l; std::getline(in, l);) {
      lines.push_back(l);
    }
    for (size_t i = 0; i + 3 < lines.size(); ++i) {
      // A range starts with two numbers followed by the address.
      if (lines[i + 2] == "127.0.0.1") {
        int first = std::atoi(lines[i].c_str());
        int last = std::atoi(lines[i + 1].c_str());
        int port = std::atoi(lines[i + 3].c_str());
        if (slot >= first && slot <= last) {
          for (auto& n : nodes_) {
            if (n->port() == port) {
              return n.get();
            }
          }
        }
      }
    }
    return nullptr;
  }
  // A key whose slot lies in [lo, hi].
  static std::string keyInSlots(const std::string& prefix, uint16_t lo, uint16_t hi) {
    for (int i = 0;; ++i) {
      std::string k = prefix + std::to_string(i);
      uint16_t s = slotOf(k);
      if (s >= lo && s <= hi) {
        return k;
      }
    }
  }

  net::io_context io_;
  static inline std::vector<std::unique_ptr<RedisServer>> nodes_;
  static inline std::vector<std::string> confs_;
  static inline bool ready_ = false;
};

TEST_F(ClusterTest, RoutesKeysToAllThreeMasters) {
  Client c(io_.get_executor(), clusterOptions());
  c.start();
  ASSERT_TRUE(waitUp(io_, c));
  // redis-cli --cluster create splits 0-5460, 5461-10922, 10923-16383.
  std::vector<std::string> keys = {keyInSlots("route:", 0, 5460),
                                   keyInSlots("route:", 5461, 10922),
                                   keyInSlots("route:", 10923, 16383)};
  for (const auto& k : keys) {
    auto set = exec(io_, c, {"SET", k, "v-" + k}, k);
    EXPECT_EQ(set.status, Status::Ok);
    EXPECT_EQ(set.reply.str, "OK") << set.reply.str;  // not a MOVED error
  }
  for (const auto& k : keys) {
    auto get = exec(io_, c, {"GET", k}, k);
    EXPECT_EQ(get.reply.str, "v-" + k);
    RedisServer* n = owner(slotOf(k));
    ASSERT_NE(n, nullptr);
    EXPECT_EQ(n->cli("GET " + k), "v-" + k);  // stored on the master owning the slot
  }
  // Multi-key commands on one hash tag share a slot: no CROSSSLOT.
  auto mset = exec(io_, c, {"MSET", "{user1000}.following", "a", "{user1000}.followers", "b"},
                   "{user1000}.following");
  EXPECT_EQ(mset.reply.str, "OK") << mset.reply.str;
  // Pipelined commands across all masters, replies to the right callbacks.
  int done = 0;
  bool ok = true;
  for (int i = 0; i < 300; ++i) {
    std::string k = "p:" + std::to_string(i);
    c.command({"SET", k, std::to_string(i)}, k, [&](Status s, Reply&& r) {
      ok = ok && s == Status::Ok && r.str == "OK";
      ++done;
    });
  }
  ASSERT_TRUE(runUntil(io_, [&] { return done == 300; }));
  EXPECT_TRUE(ok);
  // EVALSHA routed by its first key, with NOSCRIPT reload on that node.
  Script get("return redis.call('GET', KEYS[1])");
  for (const auto& k : keys) {
    auto o = std::make_shared<Outcome>();
    c.eval(get, {k}, {}, record(o));
    ASSERT_TRUE(runUntil(io_, [&] { return o->called; }));
    EXPECT_EQ(o->reply.str, "v-" + k);
  }
}

TEST_F(ClusterTest, EveryMasterLoadsTheLibraryAndFunctionFlushOnOneIsRetried) {
  REQUIRE_FUNCTIONS(*nodes_[0]);
  std::vector<int64_t> loadsBefore, fcallsBefore;
  for (auto& n : nodes_) {
    loadsBefore.push_back(commandCalls(*n, "function|load"));
    fcallsBefore.push_back(commandCalls(*n, "fcall"));
  }
  Client c(io_.get_executor(), clusterOptions());
  c.start();
  ASSERT_TRUE(waitUp(io_, c));
  const uint16_t ranges[3][2] = {{0, 5460}, {5461, 10922}, {10923, 16383}};
  std::vector<std::unique_ptr<StoreScripts>> buckets;
  for (const auto& r : ranges) {
    const std::string tag = keyInSlots("fncluster", r[0], r[1]);
    buckets.push_back(std::make_unique<StoreScripts>(io_, c, "fn:" + tag));
    EXPECT_EQ(buckets.back()->reserve(4), kAdmitted);
  }
  for (size_t i = 0; i < nodes_.size(); ++i) {
    EXPECT_GE(commandCalls(*nodes_[i], "function|load"), loadsBefore[i] + 1) << i;
    EXPECT_EQ(commandCalls(*nodes_[i], "fcall"), fcallsBefore[i] + 1) << i;
  }
  // One master loses its functions (as a failover to a node without them would): its next
  // call reloads and retries there, the others are untouched.
  RedisServer* flushed = owner(ranges[1][0]);
  ASSERT_NE(flushed, nullptr);
  EXPECT_EQ(flushed->cli("FUNCTION FLUSH"), "OK");
  const int64_t loads = commandCalls(*flushed, "function|load");
  for (auto& b : buckets) {
    EXPECT_EQ(b->reserve(4), kAdmitted);
    EXPECT_EQ(b->used(), 8);
  }
  EXPECT_EQ(commandCalls(*flushed, "function|load"), loads + 1);
}

TEST_F(ClusterTest, LiveSlotMigrationFollowsAskThenMoved) {
  Client c(io_.get_executor(), clusterOptions());
  c.start();
  ASSERT_TRUE(waitUp(io_, c));
  const std::string tag = "{migrating}";
  uint16_t slot = slotOf(tag);
  RedisServer* src = owner(slot);
  ASSERT_NE(src, nullptr);
  RedisServer* dst = nodes_[0].get() == src ? nodes_[1].get() : nodes_[0].get();
  std::string srcId = src->cli("CLUSTER MYID");
  std::string dstId = dst->cli("CLUSTER MYID");
  const std::string a = tag + "a";
  const std::string b = tag + "b";
  const std::string counter = tag + "counter";

  // Traffic on the slot: every command must succeed, whatever the migration step.
  int64_t expected = 0;
  auto traffic = [&](const char* step) {
    for (int i = 0; i < 20; ++i) {
      auto r = exec(io_, c, {"INCR", counter}, counter);
      ASSERT_EQ(r.status, Status::Ok) << step;
      ASSERT_FALSE(r.reply.isError()) << step << ": " << r.reply.str;
      EXPECT_EQ(r.reply.integer, ++expected) << step;
    }
    auto get = exec(io_, c, {"GET", a}, a);
    ASSERT_EQ(get.status, Status::Ok) << step;
    EXPECT_EQ(get.reply.str, "A") << step << ": " << get.reply.str;
  };

  ASSERT_EQ(exec(io_, c, {"SET", a, "A"}, a).reply.str, "OK");
  traffic("before");

  ASSERT_EQ(dst->cli("CLUSTER SETSLOT " + std::to_string(slot) + " IMPORTING " + srcId), "OK");
  ASSERT_EQ(src->cli("CLUSTER SETSLOT " + std::to_string(slot) + " MIGRATING " + dstId), "OK");
  traffic("migrating, keys still on the source");

  // Move the keys; the source then answers ASK for them.
  int64_t askingBefore = commandCalls(*dst, "asking");
  std::string migrate = "MIGRATE 127.0.0.1 " + std::to_string(dst->port()) + " '' 0 5000 KEYS " +
                        a + " " + counter;
  ASSERT_EQ(src->cli(migrate), "OK");
  traffic("migrating, keys on the destination (ASK)");
  // A new key of the migrating slot is created on the destination, through ASK.
  auto setB = exec(io_, c, {"SET", b, "B"}, b);
  EXPECT_EQ(setB.reply.str, "OK") << setB.reply.str;
  EXPECT_EQ(dst->cli("CLUSTER COUNTKEYSINSLOT " + std::to_string(slot)), "3");
  EXPECT_GT(commandCalls(*dst, "asking"), askingBefore);

  // Finish: the slot belongs to the destination; the source answers MOVED.
  for (auto& n : nodes_) {
    ASSERT_EQ(n->cli("CLUSTER SETSLOT " + std::to_string(slot) + " NODE " + dstId), "OK");
  }
  int64_t getsOnDst = commandCalls(*dst, "get");
  traffic("moved (MOVED, then the new slot map)");
  EXPECT_GT(commandCalls(*dst, "get"), getsOnDst);
  // After the MOVED the slot map points at the destination: no more ASKING, no redirects.
  int64_t incrsOnSrc = commandCalls(*src, "incr");
  traffic("after");
  EXPECT_EQ(commandCalls(*src, "incr"), incrsOnSrc);
  EXPECT_EQ(exec(io_, c, {"GET", b}, b).reply.str, "B");
  EXPECT_EQ(c.health(), Health::Up);
}

// The last test that uses the cluster: it takes a master away, then brings it back on the
// same port.
TEST_F(ClusterTest, MasterDownFailsFastForItsSlotsOnlyThenRecovers) {
  Client c(io_.get_executor(), clusterOptions());
  c.start();
  ASSERT_TRUE(waitUp(io_, c));
  RedisServer& victim = *nodes_[2];
  std::string lost;
  std::string kept;
  for (int i = 0; lost.empty() || kept.empty(); ++i) {
    std::string k = "down:" + std::to_string(i);
    (owner(slotOf(k)) == &victim ? lost : kept) = k;
  }
  ASSERT_EQ(exec(io_, c, {"SET", lost, "1"}, lost).reply.str, "OK");
  victim.kill();
  // Within the cluster's node timeout (2 s) the other masters still serve their slots.
  auto t0 = Clock::now();
  EXPECT_EQ(exec(io_, c, {"GET", lost}, lost).status, Status::Unavailable);
  EXPECT_LT(Clock::now() - t0, milliseconds(500));
  ASSERT_TRUE(runUntil(io_, [&] { return c.health() == Health::Down; }, milliseconds(500)));
  auto t1 = Clock::now();
  EXPECT_EQ(exec(io_, c, {"GET", lost}, lost).status, Status::Unavailable);
  EXPECT_LT(Clock::now() - t1, milliseconds(50));
  auto other = exec(io_, c, {"SET", kept, "2"}, kept);
  EXPECT_EQ(other.status, Status::Ok);
  EXPECT_EQ(other.reply.str, "OK") << other.reply.str;

  ASSERT_TRUE(victim.start());  // same port, same nodes.conf: it rejoins as the same master
  ASSERT_TRUE(waitUp(io_, c, milliseconds(5000)));
  // The cluster may answer CLUSTERDOWN for a moment while its nodes agree again.
  auto end = Clock::now() + std::chrono::seconds(10);
  Outcome back = exec(io_, c, {"GET", lost}, lost);
  while ((back.status != Status::Ok || back.reply.isError()) && Clock::now() < end) {
    runFor(io_, milliseconds(100));
    back = exec(io_, c, {"GET", lost}, lost);
  }
  EXPECT_EQ(back.status, Status::Ok);
  EXPECT_EQ(back.reply.type, Reply::Type::Nil) << back.reply.str;  // no persistence: empty
}

TEST_F(ClusterTest, UnknownSeedsStayDownAndFailFast) {
  Options o = clusterOptions();
  o.seeds = {Endpoint{"127.0.0.1", clusterPort()}};  // nobody listens
  Client c(io_.get_executor(), o);
  c.start();
  runFor(io_, milliseconds(100));
  EXPECT_EQ(c.health(), Health::Down);
  auto t0 = Clock::now();
  EXPECT_EQ(exec(io_, c, {"GET", "k"}, "k").status, Status::Unavailable);
  EXPECT_LT(Clock::now() - t0, milliseconds(50));
}

}  // namespace
}  // namespace tg::redis
