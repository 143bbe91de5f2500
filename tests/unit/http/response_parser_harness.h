#pragma once
// Test harness for http::ResponseParser: feeds a response in pieces the way the proxy session
// does (put() the unconsumed bytes plus the new piece, drop what was consumed) and records
// everything observable as owning strings, so results of different splits can be compared.
//
// The head is captured right after the put() that completed it, which is when the session
// builds the client's response head from it. Views that do not point into head.arena are
// recorded as "<dangling>" without being read.

#include <cstdint>
#include <functional>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "http/response_reader.h"

namespace tg::http::testing {

struct ParseOutcome {
  bool headCaptured = false;
  int status = 0;
  std::string reason;
  unsigned version = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::optional<uint64_t> contentLength;
  bool chunked = false;
  bool keepAlive = false;
  bool closeDelimited = false;
  std::string body;
  bool done = false;
  bool reusable = false;
  std::string error;     // "" or the first non-need_more error (put or putEof)
  std::string leftover;  // bytes fed but not consumed
  bool danglingView = false;

  bool operator==(const ParseOutcome&) const = default;
};

inline std::ostream& operator<<(std::ostream& os, const ParseOutcome& o) {
  os << "{status=" << o.status << " reason='" << o.reason << "' v=" << o.version << " headers=[";
  for (const auto& [n, v] : o.headers) {
    os << n << ": " << v << "; ";
  }
  os << "] cl=" << (o.contentLength ? std::to_string(*o.contentLength) : "none")
     << " chunked=" << o.chunked << " keepAlive=" << o.keepAlive
     << " closeDelimited=" << o.closeDelimited << " body='" << o.body << "' done=" << o.done
     << " reusable=" << o.reusable << " error='" << o.error << "' leftover='" << o.leftover
     << "' dangling=" << o.danglingView << "}";
  return os;
}

inline bool insideArena(const ResponseHead& h, std::string_view v) {
  if (v.empty()) {
    return true;
  }
  auto p = reinterpret_cast<uintptr_t>(v.data());
  auto b = reinterpret_cast<uintptr_t>(h.arena.data());
  return p >= b && p + v.size() <= b + h.arena.size();
}

inline std::string safeCopy(const ResponseHead& h, std::string_view v, bool& dangling) {
  if (!insideArena(h, v)) {
    dangling = true;
    return "<dangling>";
  }
  return std::string(v);
}

inline void captureHead(const ResponseParser& p, const ResponseHead& h, ParseOutcome& o) {
  o.headCaptured = true;
  o.status = h.status;
  o.reason = safeCopy(h, h.reason, o.danglingView);
  o.version = h.version;
  o.headers.clear();
  for (const auto& f : h.headers) {
    o.headers.emplace_back(safeCopy(h, f.name, o.danglingView),
                           safeCopy(h, f.value, o.danglingView));
  }
  o.contentLength = h.contentLength;
  o.chunked = h.chunked;
  o.keepAlive = h.keepAlive;
  o.closeDelimited = p.closeDelimited();
}

// Feeds `wire` cut at `cuts` (sorted offsets, 0 < cut < size). When `eof` is set and the
// parser is not done after the last byte, putEof() is called as on an upstream close.
inline ParseOutcome parsePieces(std::string_view wire, const std::vector<size_t>& cuts,
                                bool headRequest, bool eof, uint32_t maxHead = 64 * 1024) {
  ParseOutcome o;
  ResponseHead head;
  ResponseParser parser(head, headRequest, maxHead);
  std::string pending;
  size_t from = 0;
  auto feed = [&](std::string_view piece) {
    pending.append(piece);
    if (!o.error.empty() || parser.done()) {
      return;
    }
    boost::system::error_code ec;
    size_t used = parser.put(pending, &o.body, ec);
    if (used > pending.size()) {
      o.error = "put consumed more than it was given";
      return;
    }
    pending.erase(0, used);
    if (ec && !isNeedMore(ec)) {
      o.error = ec.message();
    }
    if (parser.headerDone() && !o.headCaptured) {
      captureHead(parser, head, o);
    }
  };
  for (size_t cut : cuts) {
    feed(wire.substr(from, cut - from));
    from = cut;
  }
  feed(wire.substr(from));
  // putEof() needs at least one byte given to the current message (Beast asserts otherwise).
  if (eof && o.error.empty() && !parser.done() && (parser.headerDone() || !pending.empty())) {
    boost::system::error_code ec;
    parser.putEof(ec);
    if (ec) {
      o.error = "eof: " + ec.message();
    }
  }
  o.done = parser.done();
  o.reusable = parser.reusable();
  o.leftover = pending;
  return o;
}

inline ParseOutcome parseWhole(std::string_view wire, bool headRequest = false, bool eof = false,
                               uint32_t maxHead = 64 * 1024) {
  return parsePieces(wire, {}, headRequest, eof, maxHead);
}

inline ParseOutcome parseByteByByte(std::string_view wire, bool headRequest = false,
                                    bool eof = false) {
  std::vector<size_t> cuts;
  for (size_t i = 1; i < wire.size(); ++i) {
    cuts.push_back(i);
  }
  return parsePieces(wire, cuts, headRequest, eof);
}

}  // namespace tg::http::testing
