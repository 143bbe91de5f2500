#include "core/log.h"

#include <unistd.h>

#include <atomic>
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

void appendJsonEscaped(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (unsigned char c : s) {
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
        if (c < 0x20) {
          out += "\\u00";
          out += kHex[c >> 4];
          out += kHex[c & 15];
        } else {
          out += static_cast<char>(c);
        }
    }
  }
}

void appendIsoTime(std::string& out, std::chrono::system_clock::time_point t) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[40];
  int n = std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                        tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                        static_cast<int>(ms % 1000));
  out.append(buf, static_cast<size_t>(n));
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
