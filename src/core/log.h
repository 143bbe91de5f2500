#pragma once
// Diagnostic logging: one JSON object per line on stderr, e.g.
//   {"time":"2026-11-27T16:41:14.123Z","level":"info","msg":"listening","address":"..."}
// Thread-safe: each line is written with a single write(2). Not for the access log, which is
// per-worker and buffered (proxy/access_log.h). The level is process-wide, set once at start.

#include <chrono>
#include <exception>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace tg::core {

enum class LogLevel { Debug, Info, Warn, Error };

void setLogLevel(LogLevel level);
bool logEnabled(LogLevel level);

using LogField = std::pair<std::string_view, std::string_view>;
void log(LogLevel level, std::string_view msg, std::initializer_list<LogField> fields = {});

inline void logInfo(std::string_view msg, std::initializer_list<LogField> f = {}) {
  log(LogLevel::Info, msg, f);
}
inline void logWarn(std::string_view msg, std::initializer_list<LogField> f = {}) {
  log(LogLevel::Warn, msg, f);
}
inline void logError(std::string_view msg, std::initializer_list<LogField> f = {}) {
  log(LogLevel::Error, msg, f);
}

// The completion handler of a spawned task: logs the exception that ended it, if any, as an
// error `msg` with its what() (or "unknown exception" for one not derived from
// std::exception), plus one optional context field. Never throws: a task ending by an
// exception must not take the process down.
void logStrayException(std::exception_ptr e, std::string_view msg, LogField context = {});

// Appends `s` to `out` as the inside of a JSON string (quotes not included).
void appendJsonEscaped(std::string& out, std::string_view s);
// Appends an RFC 3339 UTC timestamp with milliseconds, e.g. 2026-11-27T16:41:14.123Z.
void appendIsoTime(std::string& out, std::chrono::system_clock::time_point t);

}  // namespace tg::core
