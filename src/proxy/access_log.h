#pragma once
// The access log: one JSON line per request, written by the worker that served it.
// Each worker buffers its lines and writes them with one write(2) when the buffer passes
// 16 KiB or 100 ms after the first unwritten line, so logging costs no syscall per request
// under load and a line still appears within 100 ms when traffic is light. flush() writes
// what is buffered (at shutdown). Lines from different workers never interleave inside a
// line because each write carries whole lines.
//
// Fields: time, request_id, client, method, path, route, upstream, status, bytes_in,
// bytes_out, duration_ms, upstream_first_byte_ms (null when the upstream never answered),
// upstream_request_id (when the upstream sent one), error (when the gateway answered itself).
// Credentials in the query string (key=, api_key=, token=, ...) are logged as REDACTED.
// LLM requests add: model, dialect, stream, and the usage record: input_tokens (cached
// included), cached_input_tokens, cache_write_input_tokens, output_tokens (reasoning
// included), reasoning_tokens, total_tokens, and usage_source: "reported" (by the provider),
// "estimated" (by the gateway: cut stream, client gone, provider silent) or "none" (no
// response, or an error response that consumed nothing).
// Key-auth and limits add: consumer (when authenticated), ratelimit (allowed, rejected,
// too_large, shadow_rejected, store_failure; absent when no limit applied), ratelimit_policy
// and ratelimit_rule (of the bucket that decided a rejection), reserved_tokens.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "http/net.h"
#include "usage/response_tracker.h"

namespace tg::proxy {

struct AccessRecord {
  std::chrono::system_clock::time_point start;
  std::string_view requestId;
  std::string_view client;
  std::string_view method;
  std::string_view path;
  std::string_view route;
  std::string_view upstream;
  int status = 0;
  uint64_t bytesIn = 0;
  uint64_t bytesOut = 0;
  double durationMs = 0;
  std::optional<double> upstreamFirstByteMs;
  std::string_view upstreamRequestId;
  std::string_view error;
  // LLM requests only (empty / nullopt otherwise):
  std::string_view model;
  std::string_view dialect;
  std::optional<bool> stream;
  std::optional<usage::Usage> usage;
  bool streamCut = false;  // the gateway ended the stream: the budget ran out (enforce: stream)
  // Key-auth and rate limiting (empty / nullopt when not applicable):
  std::string_view consumer;     // authenticated consumer
  std::string_view ratelimit;    // limiter::outcomeName: allowed, rejected, shadow_rejected, ...
  std::string_view limitPolicy;  // the deciding bucket's policy (rejections, shadow rejections)
  std::string_view limitRule;    // ... and rule
  std::optional<int64_t> reservedTokens;  // tokens reserved at admission (largest bucket)
  std::optional<uint64_t> clampedMaxTokens;  // clamp_max_tokens lowered the output cap to this
  std::string_view queue;                 // the admission queue's result (Exchange::queueResult)
  double queuedMs = 0;                    // ... and the time waited in it
};

// Appends the JSON line (with its newline) for `r` to `out`.
void formatAccessRecord(std::string& out, const AccessRecord& r);

// One line of the rate-limit event log (server.ratelimit_log): every request the limiter or a
// quota did not simply allow. Fields: time, request_id, client, route, consumer, model,
// decision (rejected, too_large, shadow_rejected, store_failure, store_unavailable,
// insufficient_quota, stream_cut), policy, rule, value (the bucket's selector value, never a
// secret), limit, remaining, retry_after_ms, reserved_tokens, relayed_tokens (stream_cut: the
// tokens charged, prompt and relayed output), queue and queued_ms (a request that met an
// admission queue: how its wait ended, and how long it took), status.
struct RateLimitRecord {
  std::chrono::system_clock::time_point time;
  std::string_view requestId;
  std::string_view client;
  std::string_view route;
  std::string_view consumer;
  std::string_view model;
  std::string_view decision;
  std::string_view policy;
  std::string_view rule;
  std::string_view value;
  std::optional<uint64_t> limit;
  std::optional<int64_t> remaining;
  std::optional<int64_t> retryAfterMs;
  std::optional<int64_t> reservedTokens;
  std::optional<int64_t> relayedTokens;
  std::string_view queue;
  double queuedMs = 0;
  int status = 0;
};
void formatRateLimitRecord(std::string& out, const RateLimitRecord& r);

class AccessLog {
 public:
  // fd < 0 disables logging. The fd is shared with other workers and not closed here.
  AccessLog(http::net::any_io_executor ex, int fd);
  ~AccessLog();
  AccessLog(const AccessLog&) = delete;
  AccessLog& operator=(const AccessLog&) = delete;

  bool enabled() const { return fd_ >= 0; }
  void record(const AccessRecord& r);
  void record(const RateLimitRecord& r);
  // A line already formatted (with its newline), e.g. by formatRateLimitRecord.
  void recordLine(std::string_view line);
  void flush();

 private:
  void committed();  // a line was appended to buf_: write now or arm the timer
  int fd_;
  std::string buf_;
  http::net::steady_timer timer_;
  bool timerArmed_ = false;
};

}  // namespace tg::proxy
