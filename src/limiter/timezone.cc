#include "limiter/timezone.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>

namespace tg::limiter {
namespace {

using std::chrono::days;
using std::chrono::sys_days;

constexpr int64_t kDay = 86'400;
constexpr size_t kMaxFileBytes = 1 << 20;  // real zone files are a few KiB
constexpr uint32_t kMaxTransitions = 1 << 16;
constexpr int32_t kMinOffset = -89999;  // UT offset range of RFC 8536 section 3.2
constexpr int32_t kMaxOffset = 93599;

int64_t floorDiv(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

// ---- POSIX TZ strings ----------------------------------------------------------------------

class TzParser {
 public:
  explicit TzParser(std::string_view s) : s_(s) {}

  bool atEnd() const { return i_ == s_.size(); }
  char peek() const { return atEnd() ? '\0' : s_[i_]; }
  bool eat(char c) {
    if (peek() != c) return false;
    ++i_;
    return true;
  }

  // std / dst designation: 3+ letters, or <...> of letters, digits, '+', '-'.
  bool name() {
    size_t start = i_;
    if (eat('<')) {
      while (!atEnd() && (isAlnum(peek()) || peek() == '+' || peek() == '-')) ++i_;
      size_t len = i_ - start - 1;
      return eat('>') && len >= 3;
    }
    while (!atEnd() && isAlpha(peek())) ++i_;
    return i_ - start >= 3;
  }

  // [+-]hh[:mm[:ss]] with hh in 0..maxHours; seconds, sign applied.
  bool hms(int maxHours, int& out) {
    int sign = 1;
    if (eat('-')) {
      sign = -1;
    } else {
      eat('+');
    }
    int h = 0, m = 0, sec = 0;
    if (!number(3, h) || h > maxHours) return false;
    if (eat(':')) {
      if (!number(2, m) || m > 59) return false;
      if (eat(':') && (!number(2, sec) || sec > 59)) return false;
    }
    out = sign * (h * 3600 + m * 60 + sec);
    return true;
  }

  bool startsOffset() const {
    char c = peek();
    return c == '+' || c == '-' || (c >= '0' && c <= '9');
  }

  bool date(PosixTzRule::Date& d) {
    if (eat('M')) {
      d.kind = PosixTzRule::Date::Kind::MonthWeekDay;
      if (!number(2, d.month) || d.month < 1 || d.month > 12 || !eat('.') || !number(1, d.week) ||
          d.week < 1 || d.week > 5 || !eat('.') || !number(1, d.day) || d.day > 6) {
        return false;
      }
    } else if (eat('J')) {
      d.kind = PosixTzRule::Date::Kind::Julian1;
      if (!number(3, d.day) || d.day < 1 || d.day > 365) return false;
    } else {
      d.kind = PosixTzRule::Date::Kind::Julian0;
      if (!number(3, d.day) || d.day > 365) return false;
    }
    d.time = 7200;
    // RFC 8536 (version 3) widens the time to -167..167 hours.
    return !eat('/') || hms(167, d.time);
  }

 private:
  static bool isAlpha(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }
  static bool isAlnum(char c) { return isAlpha(c) || (c >= '0' && c <= '9'); }
  bool number(int maxDigits, int& out) {
    size_t start = i_;
    out = 0;
    while (!atEnd() && peek() >= '0' && peek() <= '9' && static_cast<int>(i_ - start) < maxDigits) {
      out = out * 10 + (peek() - '0');
      ++i_;
    }
    return i_ > start && !(peek() >= '0' && peek() <= '9');
  }

  std::string_view s_;
  size_t i_ = 0;
};

bool isLeap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

// Local midnight (as days since the epoch) of the rule date in year y.
int64_t ruleDay(const PosixTzRule::Date& d, int y) {
  using namespace std::chrono;
  sys_days jan1{year(y) / January / 1};
  switch (d.kind) {
    case PosixTzRule::Date::Kind::Julian1:
      return (jan1 + days(d.day - 1 + (isLeap(y) && d.day >= 60 ? 1 : 0)))
          .time_since_epoch()
          .count();
    case PosixTzRule::Date::Kind::Julian0:
      return (jan1 + days(d.day)).time_since_epoch().count();
    case PosixTzRule::Date::Kind::MonthWeekDay:
      break;
  }
  sys_days first{year(y) / month(static_cast<unsigned>(d.month)) / 1};
  int wd1 = static_cast<int>(weekday(first).c_encoding());
  int dom = 1 + (d.day - wd1 + 7) % 7 + 7 * (d.week - 1);
  auto lastDay = year_month_day_last(year(y) / month(static_cast<unsigned>(d.month)) / last).day();
  int monthDays = static_cast<int>(static_cast<unsigned>(lastDay));
  while (dom > monthDays) dom -= 7;
  return (first + days(dom - 1)).time_since_epoch().count();
}

// ---- TZif ----------------------------------------------------------------------------------

struct Counts {
  uint32_t isut = 0, isstd = 0, leap = 0, time = 0, type = 0, chars = 0;
};

uint32_t be32(const unsigned char* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}
int64_t be64(const unsigned char* p) {
  return static_cast<int64_t>((uint64_t{be32(p)} << 32) | uint64_t{be32(p + 4)});
}

// Reads a 44-byte header at `pos`; the version byte into `version`.
bool header(std::string_view b, size_t pos, char& version, Counts& c) {
  if (b.size() < pos + 44 || b.substr(pos, 4) != "TZif") return false;
  version = b[pos + 4];
  auto* p = reinterpret_cast<const unsigned char*>(b.data() + pos + 20);
  c.isut = be32(p);
  c.isstd = be32(p + 4);
  c.leap = be32(p + 8);
  c.time = be32(p + 12);
  c.type = be32(p + 16);
  c.chars = be32(p + 20);
  return true;
}

// Size of a data block with `timeSize`-byte times; 0 when the counts are absurd.
uint64_t blockSize(const Counts& c, uint64_t timeSize) {
  return uint64_t{c.time} * timeSize + c.time + uint64_t{c.type} * 6 + c.chars +
         uint64_t{c.leap} * (timeSize + 4) + c.isstd + c.isut;
}

core::Error bad(const std::string& name, const std::string& why) {
  return core::Error{"time zone '" + name + "': " + why};
}

}  // namespace

int PosixTzRule::offsetAt(int64_t t) const {
  if (!hasDst) {
    return stdOffset;
  }
  using namespace std::chrono;
  int y = static_cast<int>(year_month_day(sys_days(days(floorDiv(t + stdOffset, kDay)))).year());
  // The latest change at or before t among the changes of the neighbouring years (a rule time
  // may reach 167 hours past its date, so the previous year's changes are looked at too).
  int64_t best = INT64_MIN;
  int result = stdOffset;
  for (int yy = y - 1; yy <= y + 1; ++yy) {
    int64_t on = ruleDay(start, yy) * kDay + start.time - stdOffset;
    int64_t off = ruleDay(end, yy) * kDay + end.time - dstOffset;
    // On a tie the DST start wins (a zone in DST all year: "EST5EDT,0/0,J365/25").
    if (off <= t && off > best) {
      best = off;
      result = stdOffset;
    }
    if (on <= t && on >= best) {
      best = on;
      result = dstOffset;
    }
  }
  return result;
}

std::optional<PosixTzRule> parsePosixTz(std::string_view text) {
  TzParser p(text);
  PosixTzRule r;
  int posix = 0;
  if (!p.name() || !p.hms(24, posix)) {
    return std::nullopt;
  }
  r.stdOffset = -posix;
  if (p.atEnd()) {
    return r;
  }
  if (!p.name()) {
    return std::nullopt;
  }
  r.hasDst = true;
  r.dstOffset = r.stdOffset + 3600;
  if (p.startsOffset()) {
    if (!p.hms(24, posix)) return std::nullopt;
    r.dstOffset = -posix;
  }
  if (p.atEnd()) {
    // No rule: the US rule, as glibc (POSIX leaves it to the implementation).
    r.start = {PosixTzRule::Date::Kind::MonthWeekDay, 3, 2, 0, 7200};
    r.end = {PosixTzRule::Date::Kind::MonthWeekDay, 11, 1, 0, 7200};
    return r;
  }
  if (!p.eat(',') || !p.date(r.start) || !p.eat(',') || !p.date(r.end) || !p.atEnd()) {
    return std::nullopt;
  }
  return r;
}

std::shared_ptr<const TimeZone> TimeZone::fixed(int offsetSeconds, std::string name) {
  std::shared_ptr<TimeZone> z(new TimeZone());
  z->name_ = std::move(name);
  z->offsets_.push_back(offsetSeconds);
  return z;
}

core::Result<std::shared_ptr<const TimeZone>> TimeZone::fromTzif(std::string name,
                                                                 std::string_view b) {
  char version = 0;
  Counts c;
  if (!header(b, 0, version, c)) {
    return bad(name, "not a TZif file (no \"TZif\" header)");
  }
  if (version == '\0') {
    return bad(name, "TZif version 1 file (no 64-bit data); version 2 or later is needed");
  }
  if (version < '2' || version > '9') {
    return bad(name, "unknown TZif version byte " + std::to_string(int{version}));
  }
  uint64_t v1 = blockSize(c, 4);
  if (b.size() < 44 + v1) {
    return bad(name, "truncated TZif file (version 1 data block)");
  }
  size_t pos = 44 + static_cast<size_t>(v1);
  char version2 = 0;
  if (!header(b, pos, version2, c) || version2 < '2') {
    return bad(name, "malformed TZif file (no second header for the 64-bit data)");
  }
  pos += 44;
  if (c.type == 0 || c.chars == 0 || (c.isut != 0 && c.isut != c.type) ||
      (c.isstd != 0 && c.isstd != c.type) || c.type > 256 || c.time > kMaxTransitions) {
    return bad(name, "malformed TZif file (inconsistent counts)");
  }
  if (c.leap != 0) {
    return bad(name,
               "zone files with leap seconds (\"right/\" zones) are not supported; use the "
               "zone without the right/ prefix");
  }
  uint64_t v2 = blockSize(c, 8);
  if (b.size() < pos + v2) {
    return bad(name, "truncated TZif file (64-bit data block)");
  }
  auto* p = reinterpret_cast<const unsigned char*>(b.data() + pos);
  std::shared_ptr<TimeZone> z(new TimeZone());
  z->name_ = std::move(name);
  z->transitions_.reserve(c.time);
  for (uint32_t i = 0; i < c.time; ++i) {
    int64_t t = be64(p + 8 * i);
    if (i > 0 && t <= z->transitions_.back()) {
      return bad(z->name_, "malformed TZif file (transition times not ascending)");
    }
    z->transitions_.push_back(t);
  }
  p += 8 * uint64_t{c.time};
  z->transitionType_.assign(p, p + c.time);
  for (uint8_t ty : z->transitionType_) {
    if (ty >= c.type) {
      return bad(z->name_, "malformed TZif file (transition names an unknown local time type)");
    }
  }
  p += c.time;
  for (uint32_t i = 0; i < c.type; ++i) {
    auto off = static_cast<int32_t>(be32(p + 6 * i));
    uint8_t isdst = p[6 * i + 4];
    uint8_t desig = p[6 * i + 5];
    if (off < kMinOffset || off > kMaxOffset || isdst > 1 || desig >= c.chars) {
      return bad(z->name_, "malformed TZif file (bad local time type)");
    }
    z->offsets_.push_back(off);
  }
  pos += static_cast<size_t>(v2);
  // Footer: "\n<POSIX TZ string>\n" (the string may be empty).
  if (pos >= b.size() || b[pos] != '\n') {
    return bad(z->name_, "malformed TZif file (no footer)");
  }
  auto nl = b.find('\n', pos + 1);
  if (nl == std::string_view::npos) {
    return bad(z->name_, "malformed TZif file (unterminated footer)");
  }
  std::string_view tz = b.substr(pos + 1, nl - pos - 1);
  if (!tz.empty()) {
    z->footer_ = parsePosixTz(tz);
    if (!z->footer_) {
      return bad(z->name_, "malformed TZif footer '" + std::string(tz) + "'");
    }
  }
  return std::shared_ptr<const TimeZone>(std::move(z));
}

int TimeZone::offsetSecondsAt(int64_t t) const {
  if (transitions_.empty()) {
    return footer_ ? footer_->offsetAt(t) : offsets_.front();
  }
  auto it = std::upper_bound(transitions_.begin(), transitions_.end(), t);
  if (it == transitions_.begin()) {
    return offsets_.front();  // before the first transition: local time type 0 (RFC 8536 3.2)
  }
  if (it == transitions_.end() && footer_) {
    return footer_->offsetAt(t);
  }
  return offsets_[transitionType_[static_cast<size_t>(it - transitions_.begin()) - 1]];
}

bool validTimeZoneName(std::string_view name) {
  if (name.empty() || name.size() > 255 || name.front() == '/') {
    return false;
  }
  size_t segStart = 0;
  for (size_t i = 0; i <= name.size(); ++i) {
    if (i == name.size() || name[i] == '/') {
      std::string_view seg = name.substr(segStart, i - segStart);
      if (seg.empty() || seg == "." || seg == "..") return false;
      segStart = i + 1;
      continue;
    }
    char ch = name[i];
    bool ok = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
              ch == '_' || ch == '+' || ch == '-';
    if (!ok) return false;
  }
  return true;
}

std::string timeZoneDirectory() {
  const char* d = std::getenv("TZDIR");  // config load time only, never on the request path
  return d && *d ? std::string(d) : std::string("/usr/share/zoneinfo");
}

core::Result<std::shared_ptr<const TimeZone>> loadTimeZone(std::string_view name,
                                                           std::string_view directory) {
  std::string n(name);
  if (!validTimeZoneName(name)) {
    return core::Error{"invalid time zone name '" + n +
                       "': expected an IANA name such as Europe/Berlin ('/'-separated parts "
                       "of letters, digits, '_', '+', '-'; no leading '/', no '..')"};
  }
  std::string dir = directory.empty() ? timeZoneDirectory() : std::string(directory);
  std::string path = dir + "/" + n;
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    int err = errno;
    if (err == ENOENT || err == ENOTDIR) {
      return core::Error{"unknown time zone '" + n + "' (no " + path +
                         "; expected an IANA name such as Europe/Berlin)"};
    }
    return core::Error{"time zone '" + n + "': cannot read " + path + ": " + std::strerror(err)};
  }
  if (!S_ISREG(st.st_mode)) {
    return core::Error{"unknown time zone '" + n + "' (" + path +
                       " is not a zone file; expected an IANA name such as Europe/Berlin)"};
  }
  if (static_cast<uint64_t>(st.st_size) > kMaxFileBytes) {
    return bad(n, path + " is too large for a TZif file");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return core::Error{"time zone '" + n + "': cannot open " + path};
  }
  std::string bytes;
  bytes.reserve(static_cast<size_t>(st.st_size));
  bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  if (in.bad() || bytes.size() > kMaxFileBytes) {
    return core::Error{"time zone '" + n + "': cannot read " + path};
  }
  return TimeZone::fromTzif(std::move(n), bytes);
}

}  // namespace tg::limiter
