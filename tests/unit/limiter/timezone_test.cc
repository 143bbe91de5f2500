// limiter/timezone.h: the TZif reader against the system tz database (/usr/share/zoneinfo,
// Debian tzdata): DST transitions of Europe/Berlin and America/New_York, zones without DST, a
// 30-minute DST (Australia/Lord_Howe), the POSIX footer rule past 2037, and a sample of
// instants compared with glibc's localtime_r (TZ switched with setenv + tzset: tests only).
// Bad names (traversal), unknown zones and malformed files are rejected with clear errors.

#include "limiter/timezone.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <sstream>

namespace tg::limiter {
namespace {

using namespace std::chrono;

constexpr const char* kZoneinfo = "/usr/share/zoneinfo";

int64_t utc(int y, unsigned m, unsigned d, int hh = 0, int mm = 0, int ss = 0) {
  return (sys_days(year(y) / month(m) / day(d)) + hours(hh) + minutes(mm) + seconds(ss))
      .time_since_epoch()
      .count();
}

bool haveZone(const std::string& name) {
  return std::filesystem::is_regular_file(std::string(kZoneinfo) + "/" + name);
}

std::shared_ptr<const TimeZone> zone(const std::string& name) {
  auto z = loadTimeZone(name, kZoneinfo);
  EXPECT_TRUE(z.ok()) << name << ": " << (z.ok() ? "" : z.error());
  return z.ok() ? *z : nullptr;
}

std::string readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// glibc's offset for `tz` (a zone name or a POSIX TZ string) at t. Switches the process's TZ;
// the guard below restores it.
long glibcOffset(const std::string& tz, int64_t t) {
  setenv("TZ", tz.c_str(), 1);
  tzset();
  time_t tt = static_cast<time_t>(t);
  struct tm tm {};
  localtime_r(&tt, &tm);
  return tm.tm_gmtoff;
}

class TimeZoneTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (const char* tz = std::getenv("TZ")) savedTz_ = tz;
    if (const char* d = std::getenv("TZDIR")) savedTzdir_ = d;
    // glibc reads zones from TZDIR too: compare against the same directory.
    setenv("TZDIR", kZoneinfo, 1);
  }
  void TearDown() override {
    restore("TZ", savedTz_);
    restore("TZDIR", savedTzdir_);
    tzset();
  }
  static void restore(const char* var, const std::optional<std::string>& v) {
    if (v) {
      setenv(var, v->c_str(), 1);
    } else {
      unsetenv(var);
    }
  }
  std::optional<std::string> savedTz_, savedTzdir_;
};

TEST_F(TimeZoneTest, BerlinSwitchesAtTheEuropeanDstTransitions) {
  auto z = zone("Europe/Berlin");
  ASSERT_TRUE(z);
  EXPECT_EQ(z->name(), "Europe/Berlin");
  EXPECT_FALSE(z->isFixed());
  // 2026-03-29 01:00 UTC: 02:00 CET -> 03:00 CEST.
  EXPECT_EQ(z->offsetSecondsAt(utc(2026, 3, 29, 0, 59, 59)), 3600);
  EXPECT_EQ(z->offsetSecondsAt(utc(2026, 3, 29, 1, 0, 0)), 7200);
  // 2026-10-25 01:00 UTC: 03:00 CEST -> 02:00 CET.
  EXPECT_EQ(z->offsetSecondsAt(utc(2026, 10, 25, 0, 59, 59)), 7200);
  EXPECT_EQ(z->offsetSecondsAt(utc(2026, 10, 25, 1, 0, 0)), 3600);
  // The time_point overload floors to seconds.
  auto tp = system_clock::time_point(seconds(utc(2026, 3, 29, 0, 59, 59)) + milliseconds(999));
  EXPECT_EQ(z->offsetSecondsAt(tp), 3600);
  EXPECT_EQ(z->offsetSecondsAt(tp + milliseconds(1)), 7200);
}

TEST_F(TimeZoneTest, NewYorkSwitchesAtTheUsDstTransitions) {
  auto z = zone("America/New_York");
  ASSERT_TRUE(z);
  // 2026-03-08 02:00 EST = 07:00 UTC -> EDT; 2026-11-01 02:00 EDT = 06:00 UTC -> EST.
  EXPECT_EQ(z->offsetSecondsAt(utc(2026, 3, 8, 6, 59, 59)), -5 * 3600);
  EXPECT_EQ(z->offsetSecondsAt(utc(2026, 3, 8, 7, 0, 0)), -4 * 3600);
  EXPECT_EQ(z->offsetSecondsAt(utc(2026, 11, 1, 5, 59, 59)), -4 * 3600);
  EXPECT_EQ(z->offsetSecondsAt(utc(2026, 11, 1, 6, 0, 0)), -5 * 3600);
}

TEST_F(TimeZoneTest, ShanghaiHasNoDst) {
  auto z = zone("Asia/Shanghai");
  ASSERT_TRUE(z);
  for (int y : {2000, 2026, 2045}) {
    EXPECT_EQ(z->offsetSecondsAt(utc(y, 1, 15, 12)), 8 * 3600) << y;
    EXPECT_EQ(z->offsetSecondsAt(utc(y, 7, 15, 12)), 8 * 3600) << y;
  }
}

TEST_F(TimeZoneTest, LordHoweHasHalfHourDst) {
  if (!haveZone("Australia/Lord_Howe")) {
    GTEST_SKIP() << "no Australia/Lord_Howe in " << kZoneinfo;
  }
  auto z = zone("Australia/Lord_Howe");
  ASSERT_TRUE(z);
  EXPECT_EQ(z->offsetSecondsAt(utc(2026, 7, 1)), 10 * 3600 + 1800);  // +10:30 (winter)
  EXPECT_EQ(z->offsetSecondsAt(utc(2026, 1, 1)), 11 * 3600);         // +11:00 (summer)
  // 2026-10-04 02:00 local (+10:30) = 2026-10-03 15:30 UTC -> +11:00.
  EXPECT_EQ(z->offsetSecondsAt(utc(2026, 10, 3, 15, 29, 59)), 10 * 3600 + 1800);
  EXPECT_EQ(z->offsetSecondsAt(utc(2026, 10, 3, 15, 30, 0)), 11 * 3600);
  EXPECT_EQ(z->offsetSecondsAt(utc(2050, 1, 1)), 11 * 3600);  // footer rule
  EXPECT_EQ(z->offsetSecondsAt(utc(2050, 7, 1)), 10 * 3600 + 1800);
}

TEST_F(TimeZoneTest, AfterTheLastTransitionTheFooterRuleApplies) {
  auto z = zone("Europe/Berlin");
  ASSERT_TRUE(z);
  // Berlin's footer is CET-1CEST,M3.5.0,M10.5.0/3: summer time from the last Sunday of March
  // 01:00 UTC to the last Sunday of October 01:00 UTC. In 2040: March 25 and October 28.
  EXPECT_EQ(z->offsetSecondsAt(utc(2040, 7, 15, 12)), 7200);
  EXPECT_EQ(z->offsetSecondsAt(utc(2040, 1, 15, 12)), 3600);
  EXPECT_EQ(z->offsetSecondsAt(utc(2040, 3, 25, 0, 59, 59)), 3600);
  EXPECT_EQ(z->offsetSecondsAt(utc(2040, 3, 25, 1, 0, 0)), 7200);
  EXPECT_EQ(z->offsetSecondsAt(utc(2040, 10, 28, 0, 59, 59)), 7200);
  EXPECT_EQ(z->offsetSecondsAt(utc(2040, 10, 28, 1, 0, 0)), 3600);
  auto ny = zone("America/New_York");
  ASSERT_TRUE(ny);
  // 2099: second Sunday of March is March 8, first Sunday of November is November 1.
  EXPECT_EQ(ny->offsetSecondsAt(utc(2099, 3, 8, 6, 59, 59)), -5 * 3600);
  EXPECT_EQ(ny->offsetSecondsAt(utc(2099, 3, 8, 7, 0, 0)), -4 * 3600);
  EXPECT_EQ(ny->offsetSecondsAt(utc(2099, 11, 1, 5, 59, 59)), -4 * 3600);
  EXPECT_EQ(ny->offsetSecondsAt(utc(2099, 11, 1, 6, 0, 0)), -5 * 3600);
}

TEST_F(TimeZoneTest, AgreesWithGlibcOnASampleOfInstants) {
  const char* zones[] = {"Europe/Berlin",    "America/New_York", "Asia/Shanghai",
                         "Australia/Sydney", "Asia/Kolkata",     "America/Sao_Paulo",
                         "Europe/London",    "Pacific/Auckland", "Africa/Casablanca",
                         "Asia/Tehran",      "America/Santiago", "Australia/Lord_Howe",
                         "Europe/Dublin",    "Asia/Jerusalem",   "UTC",
                         "Etc/GMT+5",        "America/Godthab",  "Pacific/Chatham"};
  int compared = 0;
  for (const char* name : zones) {
    if (!haveZone(name)) continue;
    auto z = zone(name);
    ASSERT_TRUE(z) << name;
    // 1980..2080 every ~5.3 days, so every hour of the day and every weekday is hit; plus
    // the seconds around each of glibc's changes found on the way.
    int64_t step = 5 * 86'400 + 7 * 3600 + 13 * 60 + 7;
    long prev = glibcOffset(name, utc(1980, 1, 1));
    for (int64_t t = utc(1980, 1, 1); t < utc(2080, 1, 1); t += step) {
      long g = glibcOffset(name, t);
      ASSERT_EQ(z->offsetSecondsAt(t), g) << name << " at " << t;
      if (g != prev) {
        // Bisect the change between t - step and t, then check both sides of it.
        int64_t lo = t - step, hi = t;
        while (hi - lo > 1) {
          int64_t mid = lo + (hi - lo) / 2;
          (glibcOffset(name, mid) == g ? hi : lo) = mid;
        }
        ASSERT_EQ(z->offsetSecondsAt(lo), glibcOffset(name, lo)) << name << " at " << lo;
        ASSERT_EQ(z->offsetSecondsAt(hi), glibcOffset(name, hi)) << name << " at " << hi;
        prev = g;
      }
      ++compared;
    }
  }
  EXPECT_GT(compared, 10'000);
}

TEST_F(TimeZoneTest, PosixRulesAgreeWithGlibc) {
  // Footer strings as zic writes them, plus the Jn / n forms and the version-3 extended hours.
  const char* rules[] = {
      "CET-1CEST,M3.5.0,M10.5.0/3",
      "EST5EDT,M3.2.0,M11.1.0",
      "<+08>-8",
      "<-03>3",
      "AEST-10AEDT,M10.1.0,M4.1.0/3",
      "<+1030>-10:30<+11>-11,M10.1.0,M4.1.0",
      "IST-2IDT,M3.4.4/26,M10.5.0",
      "<-02>2<-01>,M3.5.0/-1,M10.5.0/0",
      "NZST-12NZDT,M9.5.0,M4.1.0/3",
      "EST5EDT,J60/2,J300/2",
      "EST5EDT,59/2,299/2",
      "XXX-5:30YYY-6:45:15,M5.5.6/23:59:59,M9.1.1/-5",
  };
  for (const char* r : rules) {
    auto rule = parsePosixTz(r);
    ASSERT_TRUE(rule) << r;
    for (int64_t t = utc(2023, 1, 1); t < utc(2033, 1, 1); t += 86'400 / 2 + 3600 + 11) {
      ASSERT_EQ(rule->offsetAt(t), glibcOffset(r, t)) << r << " at " << t;
    }
  }
  auto ny = parsePosixTz("EST5EDT,M3.2.0,M11.1.0");
  ASSERT_TRUE(ny);
  EXPECT_EQ(ny->stdOffset, -5 * 3600);
  EXPECT_TRUE(ny->hasDst);
  EXPECT_EQ(ny->dstOffset, -4 * 3600);
  EXPECT_EQ(ny->start.month, 3);
  EXPECT_EQ(ny->start.week, 2);
  EXPECT_EQ(ny->end.time, 7200);
  auto fixed = parsePosixTz("<+08>-8");
  ASSERT_TRUE(fixed);
  EXPECT_FALSE(fixed->hasDst);
  EXPECT_EQ(fixed->stdOffset, 8 * 3600);
  // DST without a rule: the US rule (as glibc).
  auto noRule = parsePosixTz("EST5EDT");
  ASSERT_TRUE(noRule);
  EXPECT_EQ(noRule->offsetAt(utc(2026, 7, 1)), -4 * 3600);
  EXPECT_EQ(noRule->offsetAt(utc(2026, 1, 1)), -5 * 3600);
  // All-year DST (the start at the end's instant wins).
  auto always = parsePosixTz("EST5EDT,0/0,J365/25");
  ASSERT_TRUE(always);
  for (int64_t t :
       {utc(2026, 1, 1, 0), utc(2026, 1, 1, 5), utc(2026, 7, 1), utc(2026, 12, 31, 23)}) {
    EXPECT_EQ(always->offsetAt(t), -4 * 3600) << t;
  }
}

TEST_F(TimeZoneTest, MalformedPosixRulesAreRejected) {
  for (const char* bad :
       {"", "CET", "CE-1", "CET-1CEST,M3.5.0", "CET-1CEST,M13.5.0,M10.5.0",
        "CET-1CEST,M3.6.0,M10.5.0", "CET-1CEST,M3.5.7,M10.5.0", "CET-1CEST,M3.5.0,M10.5.0/168",
        "CET-25", "CET-1CEST,J0,J365", "CET-1CEST,366,1", "<+0>-8", "<+08-8",
        "CET-1CEST,M3.5.0,M10.5.0x", "CET-1:60", "CET-1CEST,M3.5.0/2:60,M10.5.0"}) {
    EXPECT_FALSE(parsePosixTz(bad)) << bad;
  }
}

TEST_F(TimeZoneTest, FixedOffsetsUseTheSameType) {
  auto z = TimeZone::fixed(5 * 3600 + 1800, "+05:30");
  EXPECT_TRUE(z->isFixed());
  EXPECT_EQ(z->name(), "+05:30");
  EXPECT_EQ(z->offsetSecondsAt(utc(2026, 1, 1)), 19'800);
  EXPECT_EQ(z->offsetSecondsAt(utc(2026, 7, 1)), 19'800);
  EXPECT_EQ(z->offsetSecondsAt(utc(1900, 7, 1)), 19'800);
}

TEST_F(TimeZoneTest, UtcAndEtcZonesAreFixed) {
  // The IANA names of fixed offsets; Etc/GMT+5 is five hours WEST of UTC (POSIX sign).
  auto utcZone = zone("UTC");
  ASSERT_TRUE(utcZone);
  auto gmtPlus5 = zone("Etc/GMT+5");
  ASSERT_TRUE(gmtPlus5);
  for (int64_t t : {utc(1975, 1, 1), utc(2026, 3, 8, 7), utc(2026, 7, 1), utc(2026, 11, 1, 6),
                    utc(2090, 7, 1)}) {
    EXPECT_EQ(utcZone->offsetSecondsAt(t), 0) << t;
    EXPECT_EQ(gmtPlus5->offsetSecondsAt(t), -5 * 3600) << t;
  }
}

TEST_F(TimeZoneTest, UnknownZonesAreErrors) {
  auto z = loadTimeZone("Europe/Atlantis", kZoneinfo);
  ASSERT_FALSE(z.ok());
  EXPECT_NE(z.error().find("unknown time zone 'Europe/Atlantis'"), std::string::npos) << z.error();
  // A directory of the database is not a zone.
  auto dir = loadTimeZone("Europe", kZoneinfo);
  ASSERT_FALSE(dir.ok());
  EXPECT_NE(dir.error().find("unknown time zone 'Europe'"), std::string::npos) << dir.error();
  // A file of the database that is not TZif (tzdata ships "leapseconds", a text file).
  if (haveZone("leapseconds")) {
    auto text = loadTimeZone("leapseconds", kZoneinfo);
    ASSERT_FALSE(text.ok());
    EXPECT_NE(text.error().find("not a TZif file"), std::string::npos) << text.error();
  }
}

TEST_F(TimeZoneTest, TraversalAndOddNamesAreRejected) {
  for (const char* name :
       {"../../../etc/passwd", "/etc/localtime", "Europe/../../etc/passwd", "..", "Europe//Berlin",
        "Europe/Berlin/", "Europe/Berlin.tmp", "", "Europe\\Berlin", "Europe/Ber lin", "./UTC"}) {
    EXPECT_FALSE(validTimeZoneName(name)) << name;
    auto z = loadTimeZone(name, kZoneinfo);
    ASSERT_FALSE(z.ok()) << name;
    EXPECT_NE(z.error().find("invalid time zone name"), std::string::npos) << z.error();
  }
  for (const char* name : {"Europe/Berlin", "Etc/GMT+5", "Etc/GMT-14", "America/Port-au-Prince",
                           "America/Argentina/Buenos_Aires", "UTC"}) {
    EXPECT_TRUE(validTimeZoneName(name)) << name;
  }
  EXPECT_FALSE(validTimeZoneName(std::string(256, 'a')));
}

TEST_F(TimeZoneTest, MalformedFilesAreRejected) {
  std::string berlin = readFile(std::string(kZoneinfo) + "/Europe/Berlin");
  ASSERT_GT(berlin.size(), 100u);
  ASSERT_TRUE(TimeZone::fromTzif("Europe/Berlin", berlin).ok());
  auto errorOf = [](const std::string& bytes) {
    auto z = TimeZone::fromTzif("X/Y", bytes);
    return z.ok() ? std::string("(accepted)") : z.error();
  };
  auto has = [](const std::string& err, const char* text) {
    EXPECT_NE(err.find(text), std::string::npos) << err;
    EXPECT_NE(err.find("'X/Y'"), std::string::npos) << err;
  };
  has(errorOf(""), "not a TZif file");
  has(errorOf("hello world, this is not a zone file at all, not at all........."),
      "not a TZif file");
  // Every truncation fails (never reads past the end).
  for (size_t n = 0; n + 1 < berlin.size(); n += 7) {
    EXPECT_FALSE(TimeZone::fromTzif("X/Y", berlin.substr(0, n)).ok()) << n;
  }
  // Version 1 only.
  std::string v1 = berlin;
  v1[4] = '\0';
  has(errorOf(v1), "version 1");
  // A transition pointing at a missing local time type: the 64-bit block's first type index.
  // Second header at 44 + v1 block; counts at +20.
  auto be32 = [](const std::string& s, size_t p) {
    return (uint32_t(uint8_t(s[p])) << 24) | (uint32_t(uint8_t(s[p + 1])) << 16) |
           (uint32_t(uint8_t(s[p + 2])) << 8) | uint32_t(uint8_t(s[p + 3]));
  };
  uint32_t timecnt = be32(berlin, 32), typecnt = be32(berlin, 36), charcnt = be32(berlin, 40);
  uint32_t isut = be32(berlin, 20), isstd = be32(berlin, 24), leap = be32(berlin, 28);
  size_t h2 = 44 + timecnt * 5 + typecnt * 6 + charcnt + leap * 8 + isstd + isut;
  ASSERT_EQ(berlin.substr(h2, 4), "TZif");
  uint32_t timecnt2 = be32(berlin, h2 + 32);
  ASSERT_GT(timecnt2, 2u);
  std::string badType = berlin;
  badType[h2 + 44 + 8 * timecnt2] = char(200);
  has(errorOf(badType), "unknown local time type");
  // Transition times out of order.
  std::string unordered = berlin;
  std::swap_ranges(unordered.begin() + long(h2 + 44), unordered.begin() + long(h2 + 44 + 8),
                   unordered.begin() + long(h2 + 44 + 8));
  has(errorOf(unordered), "not ascending");
  // A broken footer.
  std::string footer = berlin;
  auto pos = footer.rfind("CET-1CEST");
  ASSERT_NE(pos, std::string::npos);
  footer[pos + 10] = 'Q';  // "CET-1CEST,Q3.5.0,..."
  has(errorOf(footer), "malformed TZif footer");
  std::string noFooter = berlin.substr(0, pos - 1);
  EXPECT_FALSE(TimeZone::fromTzif("X/Y", noFooter).ok());
}

TEST_F(TimeZoneTest, TzdirSelectsTheDatabase) {
  // A private database with one (copied) zone and one broken file.
  auto dir = std::filesystem::temp_directory_path() /
             ("tg_tzdir_" + std::to_string(static_cast<long>(::getpid())));
  std::filesystem::create_directories(dir / "Test");
  std::filesystem::copy_file(std::string(kZoneinfo) + "/Asia/Shanghai", dir / "Test" / "Zone",
                             std::filesystem::copy_options::overwrite_existing);
  { std::ofstream(dir / "Test" / "Broken", std::ios::binary) << "TZif2 truncated"; }
  setenv("TZDIR", dir.c_str(), 1);
  EXPECT_EQ(timeZoneDirectory(), dir.string());
  auto z = loadTimeZone("Test/Zone");
  ASSERT_TRUE(z.ok()) << z.error();
  EXPECT_EQ((*z)->offsetSecondsAt(utc(2026, 7, 1)), 8 * 3600);
  auto broken = loadTimeZone("Test/Broken");
  ASSERT_FALSE(broken.ok());
  EXPECT_NE(broken.error().find("time zone 'Test/Broken'"), std::string::npos) << broken.error();
  auto missing = loadTimeZone("Europe/Berlin");  // not in the private database
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().find(dir.string()), std::string::npos) << missing.error();
  unsetenv("TZDIR");
  EXPECT_EQ(timeZoneDirectory(), "/usr/share/zoneinfo");
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace tg::limiter
