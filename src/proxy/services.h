#pragma once
// Services: what the pipeline's stages use besides the Exchange and the connection. The
// Worker builds one from what it owns and hands it to every request; a component test builds
// one from in-memory parts (a MemoryStore, a fake Upstreams, a Recorder of its own). Every
// reference outlives the requests that use it. Used on one worker thread.

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/thread_annotations.h"
#include "limiter/rules.h"
#include "proxy/admission_queue.h"
#include "proxy/recorder.h"
#include "proxy/access_log.h"
#include "proxy/generation.h"
#include "store/quota.h"
#include "store/store.h"
#include "tokenizer/tokenizer.h"

namespace tg::proxy {

// Tokens used per authenticated consumer since start (the admin API's top consumers). One map
// for all workers behind a mutex: consumers are the configured ones (bounded), and it is
// touched once per request of an authenticated consumer.
class ConsumerTotals {
 public:
  void add(std::string_view consumer, uint64_t tokens);
  // The n consumers with the most tokens, most first (ties by name).
  std::vector<std::pair<std::string, uint64_t>> top(size_t n) const;

 private:
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  mutable core::Mutex mu_;
  std::unordered_map<std::string, uint64_t, Hash, std::equal_to<>> totals_ TG_GUARDED_BY(mu_);
};

// Request ids: 32 hex digits, unique across workers and restarts (a splitmix64 stream seeded
// from the OS per worker).
class RequestIds {
 public:
  explicit RequestIds(uint64_t seed) : state_(seed) {}
  void next(std::array<char, 32>& out);

 private:
  uint64_t state_;
};

struct Services {
  // The generation new requests start on (the worker swaps it on reload).
  const std::shared_ptr<const Generation>& current;
  store::Store& store;                      // the rate-limit store
  store::Store* localStore;                 // the `local` failure-mode fallback (null = none)
  limiter::DistinctKeyCap* keyCap;          // per_ rules' distinct-key caps (null = none)
  store::Store* quota;                      // quotas' store (store/quota.h); null = quotas off
  Recorder* recorder;                       // null = no metrics
  ConsumerTotals* consumerTotals;           // null = not kept
  const tokenizer::Tokenizers* tokenizers;  // null = bytes/4 estimates only
  AccessLog& accessLog;
  AccessLog& rateLimitLog;
  RequestIds& requestIds;
  const bool& draining;  // graceful shutdown: close connections after their response
  AdmissionQueues* queues;  // on_limit: queue (process-wide); null = every limit rejects
};

}  // namespace tg::proxy
