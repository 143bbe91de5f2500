// Component tests of the request pipeline (proxy/pipeline.h): a client and fake upstreams over
// in-memory streams drive serveExchange end to end (read, route, identify, inspect, forward,
// relay, settle, log) on one io_context, with no socket. This file: what is forwarded and what
// the client gets back, including the gateway's own answers. Limits and settlement when a
// response ends early: pipeline_limits_test.cc.

#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>

#include "pipeline_harness.h"

namespace tg::proxy::test {
namespace {

// An upstream that answers every request on its connection with `body` (JSON), recording what
// it received.
FakeUpstreams::Handler answerJson(std::string body, std::vector<WireRequest>* seen,
                                  std::string extraHeaders = {}) {
  return [body, seen, extraHeaders](HttpPeer& p) -> http::Task<void> {
    for (;;) {
      std::optional<WireRequest> r = co_await p.readRequest();
      if (!r) {
        co_return;
      }
      if (seen) {
        seen->push_back(*r);
      }
      std::string answer = jsonResponse(body, 200, extraHeaders);
      co_await p.send(answer);
    }
  };
}

const std::string kChatJson =
    R"({"id":"chatcmpl-1","object":"chat.completion","model":"gpt-4o-2024-08-06",)"
    R"("choices":[{"index":0,"message":{"role":"assistant","content":"Hi!"},"finish_reason":"stop"}],)"
    R"("usage":{"prompt_tokens":12,"completion_tokens":5,"total_tokens":17}})";

size_t countHeaders(const WireMessage& m, std::string_view name) {
  size_t n = 0;
  for (const auto& h : m.headers) {
    n += WireMessage::sameName(h.name, name) ? 1 : 0;
  }
  return n;
}

TEST(PipelineTest, JsonChatIsForwardedAndItsReportedUsageCounted) {
  PipelineHarness h(withPolicies(R"(
  - name: per-consumer
    routes: [chat]
    rules:
    - {name: tokens, by: per_consumer, limits: [{tokens: 10000, per: minute}]}
)"));
  std::vector<WireRequest> seen;
  h.upstreams().setHandler(answerJson(kChatJson, &seen, "x-request-id: up-123\r\n"));
  const std::string body = chatBody("gpt-4o", R"(,"max_tokens":50)");
  WireResponse resp;
  h.run([&]() -> http::Task<void> {
    auto& c = h.connect();
    // A forged x-mse-consumer must not survive: only the gateway names the consumer.
    std::string req = post("/v1/chat/completions", body, {kAlice, "X-Mse-Consumer: mallory"});
    co_await c->send(req);
    resp = co_await c->readResponse();
  });

  ASSERT_EQ(seen.size(), 1u);
  const WireRequest& up = seen[0];
  EXPECT_EQ(up.startLine, "POST /v1/chat/completions HTTP/1.1");
  EXPECT_EQ(up.header("host"), "api.test:8000");
  EXPECT_EQ(up.header("x-forwarded-host"), "gw.test");
  EXPECT_EQ(up.header("x-forwarded-for"), "192.0.2.10");
  EXPECT_FALSE(up.has("authorization")) << "the gateway key was forwarded";
  EXPECT_EQ(countHeaders(up, "x-mse-consumer"), 1u);
  EXPECT_EQ(up.header("x-mse-consumer"), "alice");
  EXPECT_EQ(up.header("x-request-id").size(), 32u);
  EXPECT_EQ(up.body, body) << "a non-streaming body is forwarded unchanged";

  EXPECT_EQ(resp.status, 200);
  EXPECT_TRUE(resp.complete);
  EXPECT_EQ(resp.body, kChatJson);
  EXPECT_EQ(resp.header("x-request-id"), up.header("x-request-id"));
  EXPECT_EQ(resp.header("x-upstream-request-id"), "up-123");
  EXPECT_FALSE(resp.has("connection")) << "keep-alive stays implicit on HTTP/1.1";

  ProxyStats& m = h.metrics().proxy;
  EXPECT_EQ(m.tokens.labels({"alice", "gpt-4o", "input"}).value(), 12u);
  EXPECT_EQ(m.tokens.labels({"alice", "gpt-4o", "output"}).value(), 5u);
  EXPECT_EQ(m.requests.labels({"chat", "llm", "alice", "gpt-4o", "200"}).value(), 1u);
  // The reservation (prompt estimate + 50) was replaced by the reported 17.
  EXPECT_EQ(h.used("chat", "alice", limiter::Quantity::TotalTokens), 17);
  EXPECT_EQ(h.consumerTotals().top(5),
            (std::vector<std::pair<std::string, uint64_t>>{{"alice", 17}}));

  std::vector<std::string> log = h.accessLog();
  ASSERT_EQ(log.size(), 1u);
  EXPECT_NE(log[0].find(R"("usage_source":"reported")"), std::string::npos) << log[0];
  EXPECT_NE(log[0].find(R"("consumer":"alice")"), std::string::npos) << log[0];
  EXPECT_EQ(jsonInt(log[0], "total_tokens"), 17) << log[0];
  EXPECT_EQ(jsonInt(log[0], "status"), 200) << log[0];
}

// OpenAI streams after the gateway asked for usage: every chunk carries "usage":null, and a
// last chunk with empty choices carries the figures.
const std::string kEvent1 =
    R"(data: {"id":"c1","object":"chat.completion.chunk","model":"gpt-4o","choices":[{"index":0,"delta":{"role":"assistant","content":"Hi"},"finish_reason":null}],"usage":null})"
    "\n\n";
const std::string kEvent2 =
    R"(data: {"id":"c1","object":"chat.completion.chunk","model":"gpt-4o","choices":[{"index":0,"delta":{"content":" there"},"finish_reason":"stop"}],"usage":null})"
    "\n\n";
const std::string kUsageEvent =
    R"(data: {"id":"c1","object":"chat.completion.chunk","model":"gpt-4o","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":2,"total_tokens":11}})"
    "\n\n";
const std::string kDone = "data: [DONE]\n\n";

std::string withoutNullUsage(std::string event) {
  event.erase(event.find(R"(,"usage":null)"), 13);
  return event;
}

TEST(PipelineTest, StreamGetsIncludeUsageInjectedAndTheExtraChunkStripped) {
  PipelineHarness h(kBaseConfig);
  std::vector<WireRequest> seen;
  h.upstreams().setHandler([&](HttpPeer& p) -> http::Task<void> {
    std::optional<WireRequest> r = co_await p.readRequest();
    CO_ASSERT_TRUE(r);
    seen.push_back(*r);
    // Event by event, the usage event split over two chunks.
    std::string first = sseHead() + chunk(kEvent1);
    co_await p.send(first);
    co_await yieldNow();
    std::string second = chunk(kEvent2);
    co_await p.send(second);
    co_await yieldNow();
    std::string third = chunk(kUsageEvent.substr(0, 40));
    co_await p.send(third);
    co_await yieldNow();
    std::string rest = chunk(kUsageEvent.substr(40) + kDone) + kLastChunk;
    co_await p.send(rest);
  });
  const std::string body = chatBody("gpt-4o", R"(,"stream":true)");
  WireResponse resp;
  h.run([&]() -> http::Task<void> {
    auto& c = h.connect();
    std::string req = post("/v1/chat/completions", body, {kAlice});
    co_await c->send(req);
    resp = co_await c->readResponse();
  });

  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].body,
            chatBody("gpt-4o", R"(,"stream":true,"stream_options":{"include_usage":true})"));
  EXPECT_EQ(seen[0].header("content-length"), std::to_string(seen[0].body.size()));

  EXPECT_EQ(resp.status, 200);
  EXPECT_TRUE(resp.chunked);
  EXPECT_TRUE(resp.complete);
  EXPECT_EQ(resp.header("content-type"), "text/event-stream");
  // Byte for byte the stream the client gets when it never asked for usage.
  EXPECT_EQ(resp.body, withoutNullUsage(kEvent1) + withoutNullUsage(kEvent2) + kDone);

  EXPECT_EQ(h.metrics().proxy.tokens.labels({"alice", "gpt-4o", "input"}).value(), 9u);
  EXPECT_EQ(h.metrics().proxy.tokens.labels({"alice", "gpt-4o", "output"}).value(), 2u);
  std::vector<std::string> log = h.accessLog();
  ASSERT_EQ(log.size(), 1u);
  EXPECT_NE(log[0].find(R"("stream":true)"), std::string::npos) << log[0];
  EXPECT_NE(log[0].find(R"("usage_source":"reported")"), std::string::npos) << log[0];
  EXPECT_EQ(jsonInt(log[0], "total_tokens"), 11) << log[0];
}

// Identify runs before the body is parsed: without a key the answer is 401 whatever the body,
// and the body is still read off the connection, so the next request on it is parsed from its
// own first byte. With the key, the same body is judged: 400.
TEST(PipelineTest, MissingKeyIsAnswered401BeforeTheBodyIsJudgedAndTheConnectionStaysUsable) {
  PipelineHarness h(kBaseConfig);
  h.upstreams().setHandler(answerJson(kChatJson, nullptr));
  const std::string badJson = R"({"model":"gpt-4o","messages":[)";
  WireResponse noKey, withKey, wrongKey;
  h.run([&]() -> http::Task<void> {
    auto& c = h.connect();
    std::string r1 = post("/v1/chat/completions", badJson);
    co_await c->send(r1);
    noKey = co_await c->readResponse();
    std::string r2 = post("/v1/chat/completions", badJson, {kAlice});
    co_await c->send(r2);
    withKey = co_await c->readResponse();
    std::string r3 = post("/v1/chat/completions", badJson, {"Authorization: Bearer sk-nobody"});
    co_await c->send(r3);
    wrongKey = co_await c->readResponse();
  });

  EXPECT_EQ(noKey.status, 401);
  EXPECT_NE(noKey.body.find(R"("code":"invalid_api_key")"), std::string::npos) << noKey.body;
  EXPECT_NE(noKey.body.find(R"("type":"authentication_error")"), std::string::npos);
  EXPECT_FALSE(noKey.has("connection")) << "a 401 keeps the connection";
  EXPECT_EQ(withKey.status, 400) << withKey.body;
  EXPECT_NE(withKey.body.find(R"("code":"invalid_json")"), std::string::npos) << withKey.body;
  EXPECT_EQ(wrongKey.status, 401);
  EXPECT_NE(wrongKey.body.find("Incorrect API key provided."), std::string::npos);
  EXPECT_EQ(h.upstreams().counts(0).connects, 0u);
}

// A connect that fails is answered 502 in the route's dialect (Anthropic here), charges
// nothing, and leaves the client connection usable.
TEST(PipelineTest, UnreachableUpstreamIsAnswered502InTheRoutesDialect) {
  PipelineHarness h(withPolicies(R"(
  - name: per-consumer
    routes: [messages]
    rules:
    - {name: tokens, by: per_consumer, limits: [{tokens: 10000, per: minute}]}
)"));
  const std::string anthropicJson =
      R"({"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4",)"
      R"("content":[{"type":"text","text":"Hi"}],"stop_reason":"end_turn",)"
      R"("usage":{"input_tokens":10,"output_tokens":3}})";
  h.upstreams().failConnects(1);
  h.upstreams().setHandler(1, answerJson(anthropicJson, nullptr));
  const std::string body =
      R"({"model":"claude-sonnet-4","max_tokens":100,"messages":[{"role":"user","content":"Hi"}]})";
  WireResponse failed, ok;
  int64_t usedAfterFailure = -1;
  h.run([&]() -> http::Task<void> {
    auto& c = h.connect();
    std::string req = post("/v1/messages", body, {"x-api-key: sk-alice"});
    co_await c->send(req);
    failed = co_await c->readResponse();
    usedAfterFailure = h.used("messages", "alice", limiter::Quantity::TotalTokens);
    h.upstreams().failConnects(1, {});  // the upstream is back
    co_await c->send(req);
    ok = co_await c->readResponse();
  });

  EXPECT_EQ(failed.status, 502);
  EXPECT_EQ(failed.header("content-type"), "application/json");
  EXPECT_EQ(failed.body.rfind(R"({"type":"error","error":{"type":"api_error","message":")"
                              R"(upstream claude is unreachable: )",
                              0),
            0u)
      << failed.body;
  EXPECT_EQ(usedAfterFailure, 0) << "a request that got no response is charged nothing";
  EXPECT_EQ(ok.status, 200) << "the connection stays usable after a 502";
  EXPECT_EQ(ok.body, anthropicJson);
  EXPECT_EQ(h.used("messages", "alice", limiter::Quantity::TotalTokens), 13);
  EXPECT_EQ(h.upstreams().counts(1).connects, 2u);

  std::vector<std::string> log = h.accessLog();
  ASSERT_EQ(log.size(), 2u);
  EXPECT_NE(log[0].find(R"("error":"upstream_unreachable")"), std::string::npos) << log[0];
  EXPECT_NE(log[0].find(R"("usage_source":"none")"), std::string::npos) << log[0];
  EXPECT_NE(log[0].find(R"("upstream_first_byte_ms":null)"), std::string::npos) << log[0];
  EXPECT_NE(log[1].find(R"("dialect":"anthropic")"), std::string::npos) << log[1];
}

// Two requests in one write: both answered, in order, over one upstream connection (the
// second waits in the read buffer while the first is served).
TEST(PipelineTest, PipelinedRequestsAreAnsweredInOrder) {
  PipelineHarness h(kBaseConfig);
  h.upstreams().setHandler([](HttpPeer& p) -> http::Task<void> {
    for (;;) {
      std::optional<WireRequest> r = co_await p.readRequest();
      if (!r) {
        co_return;
      }
      const bool first = r->body.find("model-a") != std::string::npos;
      for (int i = 0; first && i < 3; ++i) {
        co_await yieldNow();  // a slow first answer changes nothing
      }
      std::string answer = jsonResponse(
          std::string(R"({"answer_to":")") + (first ? "model-a" : "model-b") +
          R"(","choices":[],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}})");
      co_await p.send(answer);
    }
  });
  WireResponse r1, r2;
  h.run([&]() -> http::Task<void> {
    auto& c = h.connect();
    std::string both = post("/v1/chat/completions", chatBody("model-a"), {kAlice}) +
                       post("/v1/chat/completions", chatBody("model-b"), {kAlice});
    co_await c->send(both);
    r1 = co_await c->readResponse();
    r2 = co_await c->readResponse();
  });

  EXPECT_EQ(r1.status, 200);
  EXPECT_EQ(r2.status, 200);
  EXPECT_NE(r1.body.find(R"("answer_to":"model-a")"), std::string::npos) << r1.body;
  EXPECT_NE(r2.body.find(R"("answer_to":"model-b")"), std::string::npos) << r2.body;
  EXPECT_NE(r1.header("x-request-id"), r2.header("x-request-id"));
  EXPECT_EQ(h.upstreams().counts(0).connects, 1u);
  EXPECT_EQ(h.upstreams().counts(0).reused, 1u);
  std::vector<std::string> log = h.accessLog();
  ASSERT_EQ(log.size(), 2u);
  EXPECT_NE(log[0].find(R"("model":"model-a")"), std::string::npos) << log[0];
  EXPECT_NE(log[1].find(R"("model":"model-b")"), std::string::npos) << log[1];
}

// With limits.max_body_bytes 64, sends only the head of a POST to `path` declaring a
// 100,000-byte body (`keyHeader`: "Name: value\r\n" or empty), and reads the answer and whether
// the gateway then closed the connection.
struct OversizedAnswer {
  WireResponse resp;
  bool closed = false;
};
OversizedAnswer sendOversizedHead(PipelineHarness& h, std::string_view path,
                                  std::string_view keyHeader) {
  OversizedAnswer a;
  h.run([&]() -> http::Task<void> {
    auto& c = h.connect();
    std::string head = "POST " + std::string(path) + " HTTP/1.1\r\nHost: gw.test\r\n" +
                       std::string(keyHeader) +
                       "Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n";
    co_await c->send(head);
    a.resp = co_await c->readResponse();
    a.closed = co_await c->readEof();
  });
  return a;
}
std::string withBodyLimit64() {
  std::string yaml = kBaseConfig;
  yaml.insert(yaml.find("upstreams:"), "limits: {max_body_bytes: 64}\n");
  return yaml;
}

// Content-Length over limits.max_body_bytes: 413 in the route's dialect as soon as the head
// is read (the body is never sent here), then the connection closes.
TEST(PipelineTest, BodyOverTheLimitIsAnswered413BeforeItIsReadAndTheConnectionCloses) {
  PipelineHarness h(withBodyLimit64());
  auto [resp, closed] = sendOversizedHead(h, "/v1/messages", "x-api-key: sk-alice\r\n");

  EXPECT_EQ(resp.status, 413);
  EXPECT_EQ(resp.header("connection"), "close");
  EXPECT_EQ(resp.body.rfind(R"({"type":"error","error":{"type":"request_too_large",)", 0), 0u)
      << resp.body;
  EXPECT_NE(resp.body.find("exceeds 64 bytes"), std::string::npos) << resp.body;
  EXPECT_TRUE(closed);
  EXPECT_EQ(h.upstreams().counts(1).connects, 0u);
}

// A caller without a key learns that its key is missing, not the gateway's body limit: the
// 401 wins over the 413, and the connection closes (the body was not read).
TEST(PipelineTest, BodyOverTheLimitWithoutAKeyIsAnswered401AndTheConnectionCloses) {
  PipelineHarness h(withBodyLimit64());
  auto [resp, closed] = sendOversizedHead(h, "/v1/chat/completions", "");

  EXPECT_EQ(resp.status, 401) << resp.body;
  EXPECT_NE(resp.body.find(R"("code":"invalid_api_key")"), std::string::npos) << resp.body;
  EXPECT_EQ(resp.body.find("exceeds"), std::string::npos) << resp.body;
  EXPECT_EQ(resp.header("connection"), "close");
  EXPECT_TRUE(closed);
  EXPECT_EQ(h.upstreams().counts(0).connects, 0u);
}

TEST(PipelineTest, UnknownPathIsAnswered404AndTheConnectionStaysOpen) {
  PipelineHarness h(kBaseConfig);
  h.upstreams().setHandler(answerJson(kChatJson, nullptr));
  WireResponse missing, ok;
  h.run([&]() -> http::Task<void> {
    auto& c = h.connect();
    std::string get = "GET /nowhere HTTP/1.1\r\nHost: gw.test\r\n\r\n";
    co_await c->send(get);
    missing = co_await c->readResponse();
    std::string req = post("/v1/chat/completions", chatBody(), {kAlice});
    co_await c->send(req);
    ok = co_await c->readResponse();
  });

  EXPECT_EQ(missing.status, 404);
  EXPECT_NE(missing.body.find(R"("code":"route_not_found")"), std::string::npos) << missing.body;
  EXPECT_NE(missing.body.find("no route for /nowhere"), std::string::npos) << missing.body;
  EXPECT_EQ(ok.status, 200);
}

// An answer of the gateway's own that the client does not take (it left): the access log keeps
// the answer's error, counts only the bytes that went out, and the connection is closed.
TEST(PipelineTest, OwnAnswerTheClientDoesNotTakeCountsOnlyTheBytesSent) {
  PipelineHarness h(kBaseConfig);
  std::string got;
  bool closed = false;
  PipelineHarness::Client* client = nullptr;
  h.run([&]() -> http::Task<void> {
    auto& c = h.connect();
    client = &c;
    c.serverEnd->failWritesAfter(7);
    std::string get = "GET /nowhere HTTP/1.1\r\nHost: gw.test\r\n\r\n";
    co_await c->send(get);
    co_await c->readEof();  // the 7 bytes that went out
    got = c->pending();
    closed = c.serverDone;
  });

  EXPECT_EQ(got, "HTTP/1.");
  EXPECT_TRUE(closed || client->serverDone) << "the connection stays open";
  std::vector<std::string> log = h.accessLog();
  ASSERT_EQ(log.size(), 1u);
  EXPECT_NE(log[0].find(R"("status":404)"), std::string::npos) << log[0];
  EXPECT_NE(log[0].find(R"("bytes_out":7,)"), std::string::npos) << log[0];
  EXPECT_NE(log[0].find(R"("error":"route_not_found")"), std::string::npos) << log[0];
}

// A pooled connection the upstream closed while it was idle: the request is retried once on a
// fresh connection, and the client never notices.
TEST(PipelineTest, StalePooledConnectionIsRetriedOnAFreshOne) {
  PipelineHarness h(kBaseConfig);
  h.upstreams().setHandler([](HttpPeer& p) -> http::Task<void> {
    std::optional<WireRequest> r = co_await p.readRequest();
    CO_ASSERT_TRUE(r);
    std::string answer = jsonResponse(kChatJson);
    co_await p.send(answer);
    // ...and the connection closes when the handler returns, without Connection: close.
  });
  WireResponse r1, r2;
  h.run([&]() -> http::Task<void> {
    auto& c = h.connect();
    std::string req = post("/v1/chat/completions", chatBody(), {kAlice});
    co_await c->send(req);
    r1 = co_await c->readResponse();
    co_await c->send(req);
    r2 = co_await c->readResponse();
  });

  EXPECT_EQ(r1.status, 200);
  EXPECT_EQ(r2.status, 200);
  EXPECT_EQ(r2.body, kChatJson);
  EXPECT_EQ(h.upstreams().counts(0).reused, 1u) << "the stale connection was tried first";
  EXPECT_EQ(h.upstreams().counts(0).connects, 2u);
}

// The harness itself: a test whose coroutines never finish fails at its guard time (and its
// still-suspended coroutines are torn down safely) instead of hanging the suite.
TEST(PipelineHarnessTest, AHungTestFailsAtItsGuardInsteadOfHanging) {
  PipelineHarness h(kBaseConfig);
  Signal never(h.executor());
  h.upstreams().setHandler([&](HttpPeer& p) -> http::Task<void> {
    std::optional<WireRequest> r = co_await p.readRequest();
    co_await never.wait();  // an upstream that never answers, with no timeout to save it
  });
  EXPECT_NONFATAL_FAILURE(h.run(
                              [&]() -> http::Task<void> {
                                auto& c = h.connect();
                                std::string req =
                                    post("/v1/chat/completions", chatBody(), {kAlice});
                                co_await c->send(req);
                                WireResponse r = co_await c->readResponse();
                              },
                              50ms),
                          "did not finish within its guard time");
  EXPECT_TRUE(h.timedOut());
}

}  // namespace
}  // namespace tg::proxy::test
