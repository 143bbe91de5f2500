#pragma once
// Time zones for rate-limit schedules: a TimeZone maps a UTC instant to the local UTC offset in
// force at that instant, for an IANA zone ("Europe/Berlin", daylight saving included) or a
// fixed offset ("+08:00").
//
// Why hand-written: libstdc++ 12 (GCC 12, Debian 12) has no std::chrono::locate_zone /
// zoned_time, and none of the C++ libraries this project may use (the Debian 12 packages of the
// design's dependency list: Boost 1.81, OpenSSL, simdjson, yaml-cpp, hiredis, PCRE2, RE2) reads
// the tz database: Boost.DateTime's local_time takes POSIX strings or its own CSV file, not
// zoneinfo, and has no history of rule changes. glibc's localtime_r works only through the
// process-global TZ variable, which a gateway serving policies in several zones cannot switch per
// request. Debian's libhowardhinnant-date (date/tz.h, 3.0.1) was measured and not adopted: it
// ignores the TZif footer rule (197 of 598 zones wrong from 2038 with Debian's files, wrong
// today with "slim" files) and $TZDIR (docs/design.md, "Time zones"; bench/limits/timezone_*).
// So this file reads the system's compiled tz database (/usr/share/zoneinfo, Debian
// package tzdata) itself. The TZif format (RFC 8536, updated by RFC 9636) is small: we read the
// 64-bit (version 2+) data block: transition times + local time types, and for instants after the
// last transition the POSIX TZ string in the footer ("CET-1CEST,M3.5.0,M10.5.0/3"; the Jn, n and
// Mm.w.d rule forms and the version-3 hour range -167..167 for rule times are supported).
//
// I/O happens only in loadTimeZone (config load time). A TimeZone is immutable and shared
// (std::shared_ptr<const TimeZone>) across threads; offsetSecondsAt is pure and allocation-free
// (a binary search over the transitions, or a few calendar computations for the footer rule).
//
// The zoneinfo directory is $TZDIR when set and non-empty (as glibc), else /usr/share/zoneinfo.
// Leap-second ("right/") zone files are rejected: their transition times count leap seconds,
// which a system_clock time point does not.

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace tg::limiter {

// A POSIX TZ string as found in a TZif footer: std offset, optional DST with its rule.
// Offsets here are seconds EAST of UTC (the POSIX text has the opposite sign).
struct PosixTzRule {
  struct Date {
    enum class Kind : uint8_t {
      Julian1,       // Jn: day n of 1..365, February 29 never counted
      Julian0,       // n: day n of 0..365, February 29 counted in leap years
      MonthWeekDay,  // Mm.w.d: day d (0 = Sunday) of week w (1..4, 5 = last) of month m
    };
    Kind kind = Kind::MonthWeekDay;
    int month = 0;    // MonthWeekDay: 1..12
    int week = 0;     // MonthWeekDay: 1..5
    int day = 0;      // MonthWeekDay: weekday 0..6; Julian1: 1..365; Julian0: 0..365
    int time = 7200;  // seconds after local midnight (in the time in force before the change)
  };
  int stdOffset = 0;
  bool hasDst = false;
  int dstOffset = 0;
  Date start;  // DST begins (local standard time)
  Date end;    // DST ends (local daylight time)

  int offsetAt(int64_t unixSeconds) const;
};

// Parses "CET-1CEST,M3.5.0,M10.5.0/3", "EST5EDT,M3.2.0,M11.1.0", "<+08>-8", "UTC0" ...; DST
// without a rule takes the US rule M3.2.0,M11.1.0 (as glibc). nullopt on anything malformed.
std::optional<PosixTzRule> parsePosixTz(std::string_view text);

class TimeZone {
 public:
  // A fixed offset (seconds east of UTC); `name` is only for messages.
  static std::shared_ptr<const TimeZone> fixed(int offsetSeconds, std::string name = {});
  // Parses the bytes of a TZif file (version 2 or later).
  static core::Result<std::shared_ptr<const TimeZone>> fromTzif(std::string name,
                                                                std::string_view bytes);

  // Local UTC offset, in seconds east of UTC, at this instant.
  int offsetSecondsAt(int64_t unixSeconds) const;
  int offsetSecondsAt(std::chrono::system_clock::time_point t) const {
    return offsetSecondsAt(static_cast<int64_t>(
        std::chrono::floor<std::chrono::seconds>(t).time_since_epoch().count()));
  }

  const std::string& name() const { return name_; }
  bool isFixed() const { return transitions_.empty() && !footer_; }

 private:
  TimeZone() = default;
  std::string name_;
  std::vector<int64_t> transitions_;     // strictly ascending UTC seconds
  std::vector<uint8_t> transitionType_;  // index into offsets_, one per transition
  std::vector<int32_t> offsets_;         // per local time type, seconds east of UTC; not empty
  std::optional<PosixTzRule> footer_;    // for instants at or after the last transition
};

// Whether `name` may name a zone file: '/'-separated non-empty segments of [A-Za-z0-9_+-],
// no leading '/', no "..", at most 255 characters.
bool validTimeZoneName(std::string_view name);

// $TZDIR when set and non-empty, else "/usr/share/zoneinfo".
std::string timeZoneDirectory();

// Loads IANA zone `name` from `directory` (empty: timeZoneDirectory()). Errors name the zone
// and say why: invalid name, unknown zone, not a TZif file, malformed data.
core::Result<std::shared_ptr<const TimeZone>> loadTimeZone(std::string_view name,
                                                           std::string_view directory = {});

}  // namespace tg::limiter
