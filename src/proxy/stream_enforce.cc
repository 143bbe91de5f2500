#include "proxy/stream_enforce.h"

#include <algorithm>
#include <chrono>

#include "core/strings.h"
#include "proxy/pipeline.h"

namespace tg::proxy {

namespace {

// Tops up the followed buckets to cover `output` tokens (see the header). False: the budget
// ran out, or the store failed under a closed policy.
http::Task<bool> cover(Exchange& x, uint64_t prompt, uint64_t output) {
  limiter::Admission& a = x.admission;
  core::TokenUsage sofar;
  sofar.inputTokens = prompt;
  sofar.outputTokens = output;
  for (int attempt = 0; attempt < 2; ++attempt) {
    const uint64_t ahead = attempt == 0 ? kStreamHeadroom : 0;
    std::optional<limiter::Admission::ReserveCall> call = a.topUp(sofar, ahead);
    if (!call) {
      co_return true;
    }
    const store::TimePoint now = std::chrono::system_clock::now();  // a local: see admit.cc
    co_await reserveOn(*a.followStore(), *call, now);
    switch (a.toppedUp()) {
      case limiter::Admission::TopUp::Covered:
        co_return true;
      case limiter::Admission::TopUp::Refused:
        break;
      case limiter::Admission::TopUp::StoreFailed:
        if (a.followClosedOnFailure()) {
          co_return false;
        }
        a.stopFollowing();
        co_return true;
    }
  }
  co_return false;
}

// The budget ran out before the block that is held back: the usage record of what was
// relayed, and the dialect's ending.
void endStream(Exchange& x, uint64_t output, std::string& out) {
  x.cutByBudget = true;
  std::string ignored;  // the tracker holds nothing the client may still get
  x.acct->end(false, ignored);
  std::optional<usage::Usage> u = x.acct->usage();
  core::TokenUsage t = u ? core::TokenUsage(*u) : core::TokenUsage{};
  if (!u) {
    t.inputTokens = x.acct->request()->promptEstimate;
  }
  t.outputTokens = output;
  t.reasoningTokens = std::min(t.reasoningTokens, output);
  t.totalTokens = t.inputTokens + t.outputTokens;
  t.estimated = true;
  x.usage = t;
  out += x.streamCut->ending(t.inputTokens, t.outputTokens);
}

}  // namespace

void startStreamEnforcement(Exchange& x, bool endable) {
  if (!endable || !x.limited || !x.llm() || !x.acct->plainBody()) {
    return;
  }
  const usage::RequestInfo& info = *x.acct->request();
  if (!info.stream || !usage::StreamCut::supports(info.dialect) || x.resp.status < 200 ||
      x.resp.status >= 300 ||
      !core::istartsWith(core::trimOws(x.resp.header("content-type")), "text/event-stream") ||
      !x.admission.followsStream()) {
    return;
  }
  x.streamCut = std::make_unique<usage::StreamCut>(info, x.acct->outputCounter());
}

http::Task<bool> enforceStream(Exchange& x, std::string_view body, bool last, std::string& out) {
  usage::StreamCut& cut = *x.streamCut;
  if (!body.empty()) {
    cut.feed(body);
  }
  if (last) {
    cut.finish();
  }
  const uint64_t estimate = x.acct->request()->promptEstimate;
  for (;;) {
    std::optional<usage::StreamCut::Block> b = cut.next();
    if (!b) {
      break;
    }
    if (b->outputTokens > 0) {
      const uint64_t prompt = cut.reportedInput().value_or(estimate);
      const uint64_t output = cut.relayedOutput() + b->outputTokens;
      if (!co_await cover(x, prompt, output)) {
        endStream(x, cut.relayedOutput(), out);
        co_return false;
      }
    }
    cut.take();
    x.acct->relay(b->bytes, out);
  }
  if (last && cut.bufferedBytes() > 0) {
    x.acct->relay(cut.rest(), out);  // an unfinished last event: forwarded as bytes
  }
  co_return true;
}

}  // namespace tg::proxy
