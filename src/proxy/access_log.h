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

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "http/net.h"

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
};

// Appends the JSON line (with its newline) for `r` to `out`.
void formatAccessRecord(std::string& out, const AccessRecord& r);

class AccessLog {
 public:
  // fd < 0 disables logging. The fd is shared with other workers and not closed here.
  AccessLog(http::net::any_io_executor ex, int fd);
  ~AccessLog();
  AccessLog(const AccessLog&) = delete;
  AccessLog& operator=(const AccessLog&) = delete;

  bool enabled() const { return fd_ >= 0; }
  void record(const AccessRecord& r);
  void flush();

 private:
  int fd_;
  std::string buf_;
  http::net::steady_timer timer_;
  bool timerArmed_ = false;
};

}  // namespace tg::proxy
