// Component tests of the request pipeline (proxy/pipeline.h), limits and settlement: the
// answer of a rejected request, the concurrency slot freed before the client has the last
// byte, and exactly one settlement of an estimate when a stream ends early on either side.
// The harness: pipeline_harness.h; forwarding and the gateway's other answers:
// pipeline_test.cc.

#include <gtest/gtest.h>

#include "pipeline_harness.h"

namespace tg::proxy::test {
namespace {

using limiter::Quantity;

const std::string kChatJson =
    R"({"id":"chatcmpl-1","object":"chat.completion","model":"gpt-4o",)"
    R"("choices":[{"index":0,"message":{"role":"assistant","content":"Hi!"},"finish_reason":"stop"}],)"
    R"("usage":{"prompt_tokens":12,"completion_tokens":5,"total_tokens":17}})";

// Stream events without "usage" members (the tests below never get as far as usage).
const std::string kEvent1 =
    R"(data: {"id":"c1","object":"chat.completion.chunk","model":"gpt-4o","choices":[{"index":0,"delta":{"role":"assistant","content":"Hello there, this is"},"finish_reason":null}]})"
    "\n\n";
const std::string kEvent2 =
    R"(data: {"id":"c1","object":"chat.completion.chunk","model":"gpt-4o","choices":[{"index":0,"delta":{"content":" the second part of a longer answer"},"finish_reason":null}]})"
    "\n\n";
const std::string kUsageEvent =
    R"(data: {"id":"c1","object":"chat.completion.chunk","model":"gpt-4o","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":2,"total_tokens":11}})"
    "\n\n";
const std::string kDone = "data: [DONE]\n\n";

const std::string kStreamBody = chatBody("gpt-4o", R"(,"stream":true)");

// alice's streaming chat request that asks for usage.
std::string aliceStreamWithUsage() {
  return post("/v1/chat/completions",
              chatBody("gpt-4o", R"(,"stream":true,"stream_options":{"include_usage":true})"),
              {kAlice});
}

// An upstream that streams kEvent1, then the rest; the first stream it serves waits for
// `finish` between the two. `answered` counts the streams it started.
std::function<http::Task<void>(HttpPeer&)> holdFirstStream(Signal& finish, unsigned& answered) {
  return [&finish, &answered](HttpPeer& p) -> http::Task<void> {
    for (;;) {
      std::optional<WireRequest> r = co_await p.readRequest();
      if (!r) {
        co_return;
      }
      std::string head = sseHead() + chunk(kEvent1);
      co_await p.send(head);
      if (answered++ == 0) {
        co_await finish.wait();
      }
      std::string rest = chunk(kEvent2 + kUsageEvent + kDone) + kLastChunk;
      co_await p.send(rest);
    }
  };
}

TEST(PipelineLimitsTest, RequestLimitAnswers429WithRateLimitHeadersAndAnOpenAIError) {
  PipelineHarness h(withPolicies(R"(
  - name: per-consumer
    routes: [chat]
    rules:
    - {name: requests, by: per_consumer, limits: [{requests: 1, per: minute}]}
)"));
  unsigned upstreamSaw = 0;
  h.upstreams().setHandler([&](HttpPeer& p) -> http::Task<void> {
    for (;;) {
      std::optional<WireRequest> r = co_await p.readRequest();
      if (!r) {
        co_return;
      }
      ++upstreamSaw;
      std::string answer = jsonResponse(kChatJson);
      co_await p.send(answer);
    }
  });
  WireResponse first, second, otherConsumer;
  h.run([&]() -> http::Task<void> {
    auto& c = h.connect();
    std::string alice = post("/v1/chat/completions", chatBody(), {kAlice});
    co_await c->send(alice);
    first = co_await c->readResponse();
    co_await c->send(alice);
    second = co_await c->readResponse();
    // Per consumer: bob has his own bucket (and the connection survived the 429).
    std::string bob = post("/v1/chat/completions", chatBody(), {kBob});
    co_await c->send(bob);
    otherConsumer = co_await c->readResponse();
  });

  EXPECT_EQ(first.status, 200);
  EXPECT_EQ(first.header("x-ratelimit-limit-requests"), "1");
  EXPECT_EQ(first.header("x-ratelimit-remaining-requests"), "0");

  EXPECT_EQ(second.status, 429);
  EXPECT_EQ(second.header("content-type"), "application/json");
  EXPECT_EQ(second.header("x-ratelimit-limit-requests"), "1");
  EXPECT_EQ(second.header("x-ratelimit-remaining-requests"), "0");
  EXPECT_FALSE(second.header("x-ratelimit-reset-requests").empty());
  EXPECT_FALSE(second.header("retry-after").empty());
  EXPECT_FALSE(second.header("x-request-id").empty());
  EXPECT_EQ(second.body.rfind(R"({"error":{"message":")", 0), 0u) << second.body;
  EXPECT_NE(second.body.find(R"("code":"rate_limit_exceeded")"), std::string::npos) << second.body;

  EXPECT_EQ(otherConsumer.status, 200);
  EXPECT_EQ(upstreamSaw, 2u) << "the rejected request reached the upstream";
  EXPECT_EQ(h.metrics().limiter.decisions.labels({"per-consumer", "requests", "rejected"}).value(), 1u);
  EXPECT_EQ(h.metrics().limiter.decisions.labels({"per-consumer", "requests", "allowed"}).value(), 2u);
  std::vector<std::string> log = h.accessLog();
  ASSERT_EQ(log.size(), 3u);
  EXPECT_NE(log[1].find(R"("error":"rate_limited")"), std::string::npos) << log[1];
  EXPECT_NE(log[1].find(R"("ratelimit":"rejected")"), std::string::npos) << log[1];
}

// relay() settles (and frees the concurrency slot) BEFORE it writes the last bytes. A socket
// write completes through the event loop, so a client can read the whole response, and send
// its next request, before the gateway's coroutine is back from that write. Holding the
// gateway's final write (MemoryStream::holdWrites) makes that interleaving certain: the bytes
// reach the client, the write stays pending. Settling after the write would leave the slot
// taken and answer the second request 429.
TEST(PipelineLimitsTest, ConcurrencySlotIsFreeOnceTheClientHasTheLastByte) {
  PipelineHarness h(withPolicies(R"(
  - name: per-consumer
    routes: [chat]
    rules:
    - {name: inflight, by: per_consumer, limits: [{concurrent: 1}]}
)"));
  Signal finishFirst(h.executor());
  unsigned answered = 0;
  h.upstreams().setHandler(holdFirstStream(finishFirst, answered));
  WireResponse whileStreaming, first, afterLastByte;
  bool heldWhenRead = false;
  bool heldWhenAdmitted = false;
  h.run([&]() -> http::Task<void> {
    auto& a = h.connect();
    auto& b = h.connect();
    // Only the write that ends the response is held.
    a.serverEnd->holdWrites([](std::string_view bytes) { return bytes.ends_with("0\r\n\r\n"); });
    std::string req = aliceStreamWithUsage();
    co_await a->send(req);
    co_await a->readResponseHead(first);
    const bool started = co_await a->readBodyUntil(first, kEvent1);
    CO_ASSERT_TRUE(started);
    // The stream is in flight: the slot is taken (the limit does bite).
    co_await b->send(req);
    whileStreaming = co_await b->readResponse();

    finishFirst.set();
    co_await a->readBodyUntil(first);
    heldWhenRead = a.serverEnd->writeHeld();
    co_await b->send(req);
    afterLastByte = co_await b->readResponse();
    heldWhenAdmitted = a.serverEnd->writeHeld();
    a.serverEnd->releaseWrites();
  });

  EXPECT_EQ(whileStreaming.status, 429) << whileStreaming.body;
  EXPECT_EQ(first.status, 200);
  EXPECT_TRUE(first.complete);
  EXPECT_EQ(first.body, kEvent1 + kEvent2 + kUsageEvent + kDone);
  EXPECT_TRUE(heldWhenRead) << "the gateway's last write should still be pending";
  EXPECT_TRUE(heldWhenAdmitted);
  EXPECT_EQ(afterLastByte.status, 200) << afterLastByte.body;
  EXPECT_TRUE(afterLastByte.complete);
  // The upstream connection went back to the pool before the last write too: the second
  // stream reused it.
  EXPECT_EQ(h.upstreams().counts(0).connects, 1u);
  EXPECT_EQ(h.upstreams().counts(0).reused, 1u);
  EXPECT_EQ(h.used("chat", "alice", Quantity::Concurrent), 0);
}

// on_limit: queue through the whole pipeline: a request refused by a concurrency limit waits
// (no answer yet) instead of 429, and the settle of the request holding the slot hands it the
// turn (notify): it is admitted and served, with the wait in the access log and the metrics.
TEST(PipelineLimitsTest, QueuedRequestIsAdmittedWhenTheSlotHolderSettles) {
  PipelineHarness h(withPolicies(R"(
  - name: per-consumer
    routes: [chat]
    on_limit: queue
    max_wait: 1h
    rules:
    - {name: inflight, by: per_consumer, limits: [{concurrent: 1}]}
)"));
  Signal finishFirst(h.executor());
  unsigned answered = 0;
  h.upstreams().setHandler(holdFirstStream(finishFirst, answered));
  WireResponse first, second;
  size_t waitingWhileHeld = 0;
  unsigned upstreamSawWhileHeld = 0;
  h.run([&]() -> http::Task<void> {
    auto& a = h.connect();
    auto& b = h.connect();
    std::string req = aliceStreamWithUsage();
    co_await a->send(req);
    co_await a->readResponseHead(first);
    const bool started = co_await a->readBodyUntil(first, kEvent1);
    CO_ASSERT_TRUE(started);
    co_await b->send(req);
    // b waits in the queue: give the loop a few rounds, it must not be answered.
    for (int i = 0; i < 20; ++i) {
      co_await net::post(h.executor(), net::use_awaitable);
    }
    waitingWhileHeld = h.queues().waiting();
    upstreamSawWhileHeld = answered;
    finishFirst.set();
    co_await a->readBodyUntil(first);
    second = co_await b->readResponse();
  });

  EXPECT_EQ(waitingWhileHeld, 1u);
  EXPECT_EQ(upstreamSawWhileHeld, 1u) << "the queued request reached the upstream";
  EXPECT_EQ(first.status, 200);
  EXPECT_EQ(second.status, 200) << second.body;
  EXPECT_TRUE(second.complete);
  EXPECT_TRUE(h.queues().idle());
  EXPECT_EQ(h.used("chat", "alice", Quantity::Concurrent), 0);
  EXPECT_EQ(h.metrics().limiter.queueResults.labels({"per-consumer", "admitted"}).value(), 1u);
  EXPECT_EQ(h.metrics().limiter.queueDepth.labels({"per-consumer"}).value(), 0);
  std::vector<std::string> log = h.accessLog();
  ASSERT_EQ(log.size(), 2u);
  EXPECT_EQ(log[0].find(R"("queue")"), std::string::npos) << log[0];
  EXPECT_NE(log[1].find(R"("queue":"admitted")"), std::string::npos) << log[1];
  EXPECT_NE(log[1].find(R"("ratelimit":"allowed")"), std::string::npos) << log[1];
}

// The checks shared by the two early ends below: the access log says the usage was estimated
// because of `error`, and that estimate was settled exactly once everywhere it counts.
void expectSettledOnceAsEstimate(PipelineHarness& h, std::string_view error) {
  std::vector<std::string> log = h.accessLog();
  ASSERT_EQ(log.size(), 1u);
  const std::string& line = log[0];
  EXPECT_NE(line.find(std::string(R"("error":")") + std::string(error) + "\""), std::string::npos)
      << line;
  EXPECT_NE(line.find(R"("usage_source":"estimated")"), std::string::npos) << line;
  EXPECT_EQ(jsonInt(line, "status"), 200) << line;
  const long long total = jsonInt(line, "total_tokens");
  EXPECT_GT(jsonInt(line, "input_tokens"), 0) << line;
  EXPECT_GT(jsonInt(line, "output_tokens"), 0) << "the relayed text counts: " << line;
  EXPECT_EQ(h.metrics().proxy.estimatedUsage.labels({"chat", "incomplete"}).value(), 1u);
  // Settled: the reservation (prompt + default_max_tokens 4096) became the estimate, once.
  EXPECT_EQ(h.used("chat", "alice", Quantity::TotalTokens), total);
  EXPECT_EQ(h.used("chat", "alice", Quantity::Concurrent), 0);
  EXPECT_EQ(
      h.consumerTotals().top(1),
      (std::vector<std::pair<std::string, uint64_t>>{{"alice", static_cast<uint64_t>(total)}}));
  EXPECT_EQ(h.metrics().proxy.tokens.labels({"alice", "gpt-4o", "output"}).value(),
            static_cast<uint64_t>(jsonInt(line, "output_tokens")));
}

const char* kTokensAndInflight = R"(
  - name: per-consumer
    routes: [chat]
    rules:
    - {name: tokens, by: per_consumer, limits: [{tokens: 100000, per: minute}, {concurrent: 1}]}
)";

TEST(PipelineLimitsTest, UpstreamCutMidStreamTruncatesTheResponseAndSettlesTheEstimateOnce) {
  PipelineHarness h(withPolicies(kTokensAndInflight));
  h.upstreams().setHandler([](HttpPeer& p) -> http::Task<void> {
    std::optional<WireRequest> r = co_await p.readRequest();
    CO_ASSERT_TRUE(r);
    std::string head = sseHead() + chunk(kEvent1);
    co_await p.send(head);
    co_await yieldNow();
    std::string more = chunk(kEvent2);
    co_await p.send(more);
    // ...and the connection closes mid-body: no final chunk, no usage.
  });
  WireResponse resp;
  bool gatewayClosed = false;
  h.run([&]() -> http::Task<void> {
    auto& c = h.connect();
    std::string req = post("/v1/chat/completions", kStreamBody, {kAlice});
    co_await c->send(req);
    resp = co_await c->readResponse();
    gatewayClosed = c.serverDone;
  });

  EXPECT_EQ(resp.status, 200);
  EXPECT_TRUE(resp.chunked);
  EXPECT_FALSE(resp.complete) << "a cut stream must not end with the final chunk";
  EXPECT_TRUE(resp.eof);
  EXPECT_EQ(resp.body, kEvent1 + kEvent2);
  EXPECT_TRUE(gatewayClosed) << "the client connection closes after a cut response";
  EXPECT_EQ(h.upstreams().counts(0).released, 0u);
  expectSettledOnceAsEstimate(h, "upstream_broken");
}

// The client stops reading mid-stream (its next write fails): the relay stops, the upstream
// connection is closed, not pooled (its response is unfinished), and the estimate of what was
// relayed is settled once.
TEST(PipelineLimitsTest, ClientGoneMidStreamSettlesOnceAndDropsTheUpstreamConnection) {
  PipelineHarness h(withPolicies(kTokensAndInflight));
  Signal clientLeft(h.executor());
  bool upstreamSawClose = false;
  h.upstreams().setHandler([&](HttpPeer& p) -> http::Task<void> {
    std::optional<WireRequest> r = co_await p.readRequest();
    CO_ASSERT_TRUE(r);
    std::string head = sseHead() + chunk(kEvent1);
    co_await p.send(head);
    co_await clientLeft.wait();
    std::string more = chunk(kEvent2);
    co_await p.send(more);
    // The gateway closes this connection instead of sending another request on it.
    std::optional<WireRequest> next = co_await p.readRequest();
    upstreamSawClose = !next && p.stream().peerClosed();
  });
  WireResponse resp;
  bool sawCloseFirst = false;
  size_t idleAtEnd = 0;
  h.run([&]() -> http::Task<void> {
    auto& c = h.connect();
    std::string req = post("/v1/chat/completions", kStreamBody, {kAlice});
    co_await c->send(req);
    co_await c->readResponseHead(resp);
    const bool started = co_await c->readBodyUntil(resp, kEvent1);
    CO_ASSERT_TRUE(started);
    c.serverEnd->failWritesAfter(0);  // the client is gone: the gateway's next write fails
    clientLeft.set();
    co_await c->readBodyUntil(resp);
    // Before the test ends (which closes pooled connections itself). The relay closed the
    // upstream connection before the gateway closed the client's, so the fake upstream's wake-up
    // is already queued: one turn of the loop lets it run.
    co_await yieldNow();
    sawCloseFirst = upstreamSawClose;
    idleAtEnd = h.upstreams().idleCount(0);
  });

  EXPECT_EQ(resp.status, 200);
  EXPECT_FALSE(resp.complete);
  EXPECT_EQ(resp.body, kEvent1);
  EXPECT_TRUE(sawCloseFirst) << "the upstream connection was not closed";
  EXPECT_EQ(h.upstreams().counts(0).released, 0u);
  EXPECT_EQ(idleAtEnd, 0u);
  expectSettledOnceAsEstimate(h, "client_gone");
}

}  // namespace
}  // namespace tg::proxy::test
