#pragma once
// Session::Exchange: the state of one request on a connection, shared by the session's
// translation units (session.cc: reading, forwarding, relaying; session_limits.cc: key-auth,
// admission and settlement). Private to proxy/.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "config/config.h"
#include "limiter/policy.h"
#include "proxy/accounting.h"
#include "proxy/session.h"
#include "proxy/worker.h"

namespace tg::proxy {

struct Session::Exchange {
  // The config generation this request runs on, pinned for its whole life (a reload never
  // changes its route, upstream, pool or policies; proxy/worker.h Generation).
  std::shared_ptr<const Generation> gen;
  const config::Config& cfg() const { return *gen->config; }
  const limiter::PolicySet& policies() const { return *gen->policies; }
  std::chrono::system_clock::time_point wallStart;
  std::chrono::steady_clock::time_point start;
  std::string requestId;
  const config::RouteConfig* route = nullptr;
  const config::UpstreamConfig* upstream = nullptr;
  config::Dialect dialect = config::Dialect::OpenAI;
  int status = 0;
  uint64_t bytesOut = 0;
  std::optional<double> firstByteMs;    // response head from the upstream (since start)
  std::optional<double> firstBodyMs;    // first response body bytes (a stream's first event)
  std::optional<double> upstreamDoneMs;  // the response ended (or failed)
  std::string upstreamRequestId;
  std::string_view error;
  bool keepAlive = true;
  std::optional<Accounting> acct;
  // The request's usage record, read once when the response is over (settlement, metrics and
  // the access log all use it; an estimate may run the tokenizer over the relayed text).
  const std::optional<usage::Usage>& usage() const {
    if (!usageRead) {
      usageRead = true;
      if (acct && acct->active()) {
        usageRecord = acct->usage();
      }
    }
    return usageRecord;
  }
  mutable bool usageRead = false;
  mutable std::optional<usage::Usage> usageRecord;
  // Key-auth: the authenticated consumer and its key's id; where the key came from, so it is
  // not forwarded (a header name, or a query parameter removed from the upstream target).
  const limiter::Consumer* consumer = nullptr;
  std::string_view apiKeyId;
  std::string keyHeader;
  std::string keyParam;
  // Limits: admission_ ran for this request (settle it), and the header lines it produced.
  bool limited = false;
  // Quota: the consumer to charge at settle ("" = none).
  std::string quotaConsumer;
};

}  // namespace tg::proxy
