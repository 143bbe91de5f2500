// Settle: the request's usage record into everything that counts it (pipeline.h).

#include "proxy/pipeline.h"

namespace tg::proxy {

// Exactly once per request, whichever way it ended (relay() settles before the last byte; the
// pipeline calls it again after every other path, a no-op then). The usage record is read here
// and kept in x.usage for metrics and the access log: provider-reported figures when they
// arrived, else the gateway's estimate; none when no response came (a rejected, failed or
// breaker-refused request returns its whole reservation and is charged nothing).
void settle(Exchange& x, const Services& s) {
  if (x.settled) {
    return;
  }
  x.settled = true;
  if (x.llm() && !x.usage) {  // a stream the gateway cut has its usage already
    x.usage = x.acct->usage();
  }
  const std::optional<core::TokenUsage>& u = x.usage;
  if (x.consumer != nullptr && u && s.consumerTotals != nullptr) {
    s.consumerTotals->add(x.consumer->name, u->billed());
  }
  if (x.quotaCharged && u && s.quota != nullptr && u->billed() > 0) {
    store::quotaCharge(*s.quota, x.consumer->name, static_cast<int64_t>(u->billed()),
                       std::chrono::system_clock::now());
  }
  if (x.limited) {
    x.admission.settle(u ? *u : core::TokenUsage{}, std::chrono::system_clock::now());
    if (s.queues != nullptr && !s.queues->idle() && x.policies().queueing) {
      // What the request did not use went back to its buckets: their queues' heads try now.
      for (const limiter::MatchedBucket& b : x.admission.matched()) {
        if (x.policies().policies[b.policyIndex].queue) {
          s.queues->notify(b.spec.key);
        }
      }
    }
  }
}

}  // namespace tg::proxy
