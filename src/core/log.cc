#include "core/log.h"

#include <unistd.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <ctime>

namespace tg::core {
namespace {
std::atomic<int> gLevel{static_cast<int>(LogLevel::Info)};

const char* levelName(LogLevel l) {
  switch (l) {
    case LogLevel::Debug:
      return "debug";
    case LogLevel::Info:
      return "info";
    case LogLevel::Warn:
      return "warn";
    case LogLevel::Error:
      return "error";
  }
  return "info";
}
}  // namespace

void setLogLevel(LogLevel level) { gLevel = static_cast<int>(level); }
bool logEnabled(LogLevel level) { return static_cast<int>(level) >= gLevel.load(); }

namespace {
// The bytes JSON requires escaped inside a string: control characters, '"' and '\\'.
constexpr std::array<bool, 256> kEscape = [] {
  std::array<bool, 256> t{};
  for (int c = 0; c < 0x20; ++c) {
    t[c] = true;
  }
  t['"'] = true;
  t['\\'] = true;
  return t;
}();
}  // namespace

void appendJsonEscaped(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  const char* p = s.data();
  const char* const end = p + s.size();
  while (p < end) {
    // Runs of plain bytes (almost everything in practice) are appended in one piece.
    const char* run = p;
    while (p < end && !kEscape[static_cast<unsigned char>(*p)]) {
      ++p;
    }
    out.append(run, static_cast<size_t>(p - run));
    if (p == end) {
      break;
    }
    const auto c = static_cast<unsigned char>(*p++);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        out += "\\u00";
        out += kHex[c >> 4];
        out += kHex[c & 15];
    }
  }
}

void appendIsoTime(std::string& out, std::chrono::system_clock::time_point t) {
  // The text up to the seconds is formatted once per second per thread (the access log calls
  // this for every request).
  struct Cache {
    int64_t second = INT64_MIN;
    size_t len = 0;
    char text[80];  // "2026-11-27T16:41:14." (20 bytes for years 1000-9999)
  };
  thread_local Cache cache;
  const int64_t ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  const int64_t second = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
  if (second != cache.second) {
    std::time_t secs = static_cast<std::time_t>(second);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    const int n = std::snprintf(cache.text, sizeof cache.text, "%04d-%02d-%02dT%02d:%02d:%02d.",
                                tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                                tm.tm_sec);
    cache.len = n > 0 ? static_cast<size_t>(n) : 0;
    cache.second = second;
  }
  out.append(cache.text, cache.len);
  const int milli = static_cast<int>(ms - second * 1000);
  out += static_cast<char>('0' + milli / 100);
  out += static_cast<char>('0' + milli / 10 % 10);
  out += static_cast<char>('0' + milli % 10);
  out += 'Z';
}

void logStrayException(std::exception_ptr e, std::string_view msg, LogField context) {
  if (!e) {
    return;
  }
  std::string what = "unknown exception";
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    what = ex.what();
  } catch (...) {
  }
  if (context.first.empty()) {
    logError(msg, {{"what", what}});
  } else {
    logError(msg, {context, {"what", what}});
  }
}

void log(LogLevel level, std::string_view msg, std::initializer_list<LogField> fields) {
  if (!logEnabled(level)) {
    return;
  }
  std::string line = "{\"time\":\"";
  appendIsoTime(line, std::chrono::system_clock::now());
  line += "\",\"level\":\"";
  line += levelName(level);
  line += "\",\"msg\":\"";
  appendJsonEscaped(line, msg);
  line += '"';
  for (const auto& [k, v] : fields) {
    line += ",\"";
    appendJsonEscaped(line, k);
    line += "\":\"";
    appendJsonEscaped(line, v);
    line += '"';
  }
  line += "}\n";
  // One write per line keeps lines from different threads whole.
  ssize_t rc = ::write(STDERR_FILENO, line.data(), line.size());
  (void)rc;
}

}  // namespace tg::core
