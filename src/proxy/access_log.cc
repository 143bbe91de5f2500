#include "proxy/access_log.h"

#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>

#include "core/log.h"
#include "core/strings.h"

namespace tg::proxy {

namespace {
// Each field's key is passed with its punctuation (`,"key":` or `,"key":"`), a literal that
// is appended in one piece: the line has some twenty fields and is written for every request.
void appendStr(std::string& out, std::string_view prefix, std::string_view v) {
  out += prefix;
  core::appendJsonEscaped(out, v);
  out += '"';
}
// Numbers are formatted with std::to_chars: no locale, no allocation (the access log writes a
// dozen per request).
// Milliseconds with three decimals, formatted from whole microseconds (exact for any duration
// a request can take, and several times cheaper than formatting a double).
void appendNum(std::string& out, std::string_view prefix, double v) {
  const int64_t us = static_cast<int64_t>(v * 1000.0 + (v >= 0 ? 0.5 : -0.5));
  const uint64_t mag = static_cast<uint64_t>(us < 0 ? -us : us);
  char buf[32];
  char* p = buf;
  if (us < 0) {
    *p++ = '-';
  }
  p = std::to_chars(p, buf + sizeof buf - 4, mag / 1000).ptr;
  const auto frac = static_cast<unsigned>(mag % 1000);
  *p++ = '.';
  *p++ = static_cast<char>('0' + frac / 100);
  *p++ = static_cast<char>('0' + frac / 10 % 10);
  *p++ = static_cast<char>('0' + frac % 10);
  out += prefix;
  out.append(buf, static_cast<size_t>(p - buf));
}
void appendInt(std::string& out, std::string_view prefix, int64_t v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out += prefix;
  out.append(buf, static_cast<size_t>(r.ptr - buf));
}
void appendInt(std::string& out, std::string_view prefix, uint64_t v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out += prefix;
  out.append(buf, static_cast<size_t>(r.ptr - buf));
}
// Query parameters that carry credentials (Gemini takes its API key as ?key=) are logged
// as "REDACTED", so the access log never holds a secret.
bool isSecretParam(std::string_view name) {
  for (std::string_view s : {"key", "api_key", "apikey", "api-key", "token", "access_token", "auth",
                             "password", "sig", "signature"}) {
    if (core::iequals(name, s)) {
      return true;
    }
  }
  return false;
}

// The request target as a JSON string member, with secret query values replaced.
void appendPath(std::string& out, std::string_view target) {
  out += ",\"path\":\"";
  size_t q = target.find('?');
  if (q == std::string_view::npos) {
    core::appendJsonEscaped(out, target);
    out += '"';
    return;
  }
  core::appendJsonEscaped(out, target.substr(0, q + 1));
  std::string_view query = target.substr(q + 1);
  bool first = true;
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view param = query.substr(0, amp);
    size_t eq = param.find('=');
    if (!first) {
      out += '&';
    }
    first = false;
    if (eq != std::string_view::npos && isSecretParam(param.substr(0, eq))) {
      core::appendJsonEscaped(out, param.substr(0, eq + 1));
      out += "REDACTED";
    } else {
      core::appendJsonEscaped(out, param);
    }
    if (amp == std::string_view::npos) {
      break;
    }
    query.remove_prefix(amp + 1);
  }
  out += '"';
}

}  // namespace

void formatAccessRecord(std::string& out, const AccessRecord& r) {
  out += "{\"time\":\"";
  core::appendIsoTime(out, r.start);
  out += '"';
  appendStr(out, ",\"request_id\":\"", r.requestId);
  appendStr(out, ",\"client\":\"", r.client);
  appendStr(out, ",\"method\":\"", r.method);
  appendPath(out, r.path);
  appendStr(out, ",\"route\":\"", r.route);
  appendStr(out, ",\"upstream\":\"", r.upstream);
  appendInt(out, ",\"status\":", static_cast<uint64_t>(r.status));
  appendInt(out, ",\"bytes_in\":", r.bytesIn);
  appendInt(out, ",\"bytes_out\":", r.bytesOut);
  appendNum(out, ",\"duration_ms\":", r.durationMs);
  if (r.upstreamFirstByteMs) {
    appendNum(out, ",\"upstream_first_byte_ms\":", *r.upstreamFirstByteMs);
  } else {
    out += ",\"upstream_first_byte_ms\":null";
  }
  if (!r.upstreamRequestId.empty()) {
    appendStr(out, ",\"upstream_request_id\":\"", r.upstreamRequestId);
  }
  if (!r.error.empty()) {
    appendStr(out, ",\"error\":\"", r.error);
  }
  if (!r.dialect.empty()) {
    appendStr(out, ",\"model\":\"", r.model);
    appendStr(out, ",\"dialect\":\"", r.dialect);
    out += r.stream.value_or(false) ? ",\"stream\":true" : ",\"stream\":false";
    if (r.streamCut) {
      out += ",\"stream_cut\":\"budget\"";
    }
    if (r.usage && (r.usage->reported || r.usage->estimated)) {
      const usage::Usage& u = *r.usage;
      appendInt(out, ",\"input_tokens\":", u.inputTokens);
      appendInt(out, ",\"cached_input_tokens\":", u.cachedInputTokens);
      appendInt(out, ",\"cache_write_input_tokens\":", u.cacheWriteInputTokens);
      appendInt(out, ",\"output_tokens\":", u.outputTokens);
      appendInt(out, ",\"reasoning_tokens\":", u.reasoningTokens);
      appendInt(out, ",\"total_tokens\":", u.totalTokens);
      appendStr(out, ",\"usage_source\":\"", u.estimated ? "estimated" : "reported");
    } else {
      appendStr(out, ",\"usage_source\":\"", "none");
    }
  }
  if (!r.consumer.empty()) {
    appendStr(out, ",\"consumer\":\"", r.consumer);
  }
  if (!r.ratelimit.empty()) {
    appendStr(out, ",\"ratelimit\":\"", r.ratelimit);
    if (!r.limitPolicy.empty()) {
      appendStr(out, ",\"ratelimit_policy\":\"", r.limitPolicy);
      appendStr(out, ",\"ratelimit_rule\":\"", r.limitRule);
    }
    if (r.reservedTokens) {
      appendInt(out, ",\"reserved_tokens\":", *r.reservedTokens);
    }
  }
  if (r.clampedMaxTokens) {
    appendInt(out, ",\"max_tokens_clamped\":", *r.clampedMaxTokens);
  }
  if (!r.queue.empty()) {
    appendStr(out, ",\"queue\":\"", r.queue);
    appendInt(out, ",\"queued_ms\":", static_cast<int64_t>(std::llround(r.queuedMs)));
  }
  out += "}\n";
}

AccessLog::AccessLog(http::net::any_io_executor ex, int fd) : fd_(fd), timer_(ex) {}

AccessLog::~AccessLog() { flush(); }

void formatRateLimitRecord(std::string& out, const RateLimitRecord& r) {
  out += "{\"time\":\"";
  core::appendIsoTime(out, r.time);
  out += '"';
  appendStr(out, ",\"request_id\":\"", r.requestId);
  appendStr(out, ",\"client\":\"", r.client);
  appendStr(out, ",\"route\":\"", r.route);
  if (!r.consumer.empty()) {
    appendStr(out, ",\"consumer\":\"", r.consumer);
  }
  if (!r.model.empty()) {
    appendStr(out, ",\"model\":\"", r.model);
  }
  appendStr(out, ",\"decision\":\"", r.decision);
  if (!r.policy.empty()) {
    appendStr(out, ",\"policy\":\"", r.policy);
    appendStr(out, ",\"rule\":\"", r.rule);
    appendStr(out, ",\"value\":\"", r.value);
  }
  if (r.limit) {
    appendInt(out, ",\"limit\":", *r.limit);
  }
  if (r.remaining) {
    appendInt(out, ",\"remaining\":", *r.remaining);
  }
  if (r.retryAfterMs) {
    appendInt(out, ",\"retry_after_ms\":", *r.retryAfterMs);
  }
  if (r.reservedTokens) {
    appendInt(out, ",\"reserved_tokens\":", *r.reservedTokens);
  }
  if (r.relayedTokens) {
    appendInt(out, ",\"relayed_tokens\":", *r.relayedTokens);
  }
  if (!r.queue.empty()) {
    appendStr(out, ",\"queue\":\"", r.queue);
    appendInt(out, ",\"queued_ms\":", static_cast<int64_t>(std::llround(r.queuedMs)));
  }
  appendInt(out, ",\"status\":", static_cast<uint64_t>(r.status));
  out += "}\n";
}

void AccessLog::record(const RateLimitRecord& r) {
  if (fd_ < 0) {
    return;
  }
  formatRateLimitRecord(buf_, r);
  committed();
}

void AccessLog::recordLine(std::string_view line) {
  if (fd_ < 0) {
    return;
  }
  buf_.append(line);
  committed();
}

void AccessLog::record(const AccessRecord& r) {
  if (fd_ < 0) {
    return;
  }
  formatAccessRecord(buf_, r);
  committed();
}

void AccessLog::committed() {
  if (buf_.size() >= 16 * 1024) {
    flush();
    return;
  }
  if (!timerArmed_) {
    timerArmed_ = true;
    timer_.expires_after(std::chrono::milliseconds(100));
    timer_.async_wait([this](const http::error_code& ec) {
      timerArmed_ = false;
      if (!ec) {
        flush();
      }
    });
  }
}

void AccessLog::flush() {
  size_t off = 0;
  while (off < buf_.size()) {
    ssize_t n = ::write(fd_, buf_.data() + off, buf_.size() - off);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      break;  // the log is lost, the gateway goes on
    }
    off += static_cast<size_t>(n);
  }
  buf_.clear();
}

}  // namespace tg::proxy
