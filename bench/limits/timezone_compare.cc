// limiter/timezone.h against date/tz.h (Debian libhowardhinnant-date, USE_OS_TZDB=1) on every
// zone of the OS database, 1970..2080 every ~5.3 days: how many zones disagree before 2038 and
// from 2038 on, with the first disagreement of a few. Built only when CMake finds the `date`
// package; the measurement behind docs/design.md, "Time zones". Run:
//   ninja -C build tokengate_timezone_compare && build/bench/tokengate_timezone_compare

#include <date/tz.h>

#include <chrono>
#include <cstdint>
#include <iostream>

#include "limiter/timezone.h"

int main() {
  using namespace std::chrono;
  using date::operator<<;
  auto at = [](int y) {
    return duration_cast<seconds>(date::sys_days(date::year(y) / 1 / 1).time_since_epoch())
        .count();
  };
  const auto& db = date::get_tzdb();
  const int64_t step = 5 * 86'400 + 7 * 3600 + 13 * 60 + 7;
  int compared = 0, rejected = 0, before = 0, after = 0, shown = 0;
  for (const auto& zone : db.zones) {
    auto ours = tg::limiter::loadTimeZone(zone.name(), "/usr/share/zoneinfo");
    if (!ours.ok()) {
      ++rejected;
      std::cout << "reader rejects " << zone.name() << ": " << ours.error() << "\n";
      continue;
    }
    ++compared;
    bool diffBefore = false, diffAfter = false;
    for (int64_t t = at(1970); t < at(2080); t += step) {
      int a = (*ours)->offsetSecondsAt(t);
      auto info = zone.get_info(date::sys_seconds(seconds(t)));
      if (a == info.offset.count()) continue;
      if (!diffBefore && !diffAfter && shown < 5) {
        ++shown;
        std::cout << zone.name() << " at " << date::sys_seconds(seconds(t)) << " UTC: reader "
                  << a << " s, date/tz.h " << info.offset.count() << " s (its sys_info since "
                  << info.begin << ", until " << info.end << ")\n";
      }
      (t < at(2038) ? diffBefore : diffAfter) = true;
    }
    before += diffBefore;
    after += diffAfter;
  }
  std::cout << "tzdb version " << db.version << ": " << db.zones.size() << " zones, "
            << compared << " compared (" << rejected << " rejected by the reader); disagree "
            << "before 2038: " << before << "; from 2038 to 2080: " << after << "\n";
  return 0;
}
