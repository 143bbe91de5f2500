// Fuzz target: http::ResponseParser, the parser of bytes an upstream sends. The first input
// byte is a control byte; the rest is the response, parsed twice: whole, and in two reads
// split at a point chosen by the control byte (the session re-presents unconsumed bytes with
// the next read, and so does this target). Checked, beyond crashes and sanitizer reports:
//   * put() never reports consuming more than it was given;
//   * once the head is parsed, head.reason and every field view point into head.arena (a
//     view outside it is a dangling pointer);
//   * when both parses succeed, they agree on status and the de-chunked body.
//
// Control byte: bit 7 = the request was HEAD; bit 6 = split at byte (bits 0-5) of the
// response, else at (bits 0-5)/63 of its length.

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "http/response_reader.h"

namespace {

[[noreturn]] void fail(const char* what, std::string_view wire, size_t cut) {
  std::fprintf(stderr, "fuzz_response_parser: %s (split at %zu of %zu bytes)\n", what, cut,
               wire.size());
  std::abort();
}

bool inside(const tg::http::ResponseHead& h, std::string_view v) {
  if (v.empty()) {
    return true;
  }
  auto p = reinterpret_cast<uintptr_t>(v.data());
  auto b = reinterpret_cast<uintptr_t>(h.arena.data());
  return p >= b && p + v.size() <= b + h.arena.size();
}

struct Outcome {
  bool error = false;
  bool headerDone = false;
  bool done = false;
  int status = 0;
  std::string body;
  size_t fieldBytes = 0;  // sum of field sizes: reads every byte the views point at
};

void checkHead(const tg::http::ResponseHead& h, Outcome& o, std::string_view wire, size_t cut) {
  if (!inside(h, h.reason)) {
    fail(
        "head.reason points outside head.arena "
        "(known bug: see tests/unit/response_parser_split_test.cc)",
        wire, cut);
  }
  o.fieldBytes = h.reason.size();
  for (const auto& f : h.headers) {
    if (!inside(h, f.name) || !inside(h, f.value)) {
      fail("a header field view points outside head.arena", wire, cut);
    }
    o.fieldBytes += std::string(f.name).size() + std::string(f.value).size();
  }
}

Outcome parse(std::string_view wire, size_t cut, bool headRequest) {
  Outcome o;
  tg::http::ResponseHead head;
  tg::http::ResponseParser parser(head, headRequest, 8 * 1024);
  std::string pending;
  for (std::string_view piece : {wire.substr(0, cut), wire.substr(cut)}) {
    // Like the session, call put() only when new bytes arrived: Beast may assert when the
    // same incomplete bytes are presented again.
    if (piece.empty() || o.error || parser.done()) {
      continue;
    }
    pending.append(piece);
    boost::system::error_code ec;
    size_t used = parser.put(pending, &o.body, ec);
    if (used > pending.size()) {
      fail("put() consumed more than it was given", wire, cut);
    }
    pending.erase(0, used);
    if (ec && !tg::http::isNeedMore(ec)) {
      o.error = true;
    }
    if (parser.headerDone() && !o.headerDone) {
      o.headerDone = true;
      o.status = head.status;
      checkHead(head, o, wire, cut);
    }
  }
  // The upstream closes. putEof() needs a byte of the current message (Beast asserts).
  if (!o.error && !parser.done() && (parser.headerDone() || !pending.empty())) {
    boost::system::error_code ec;
    parser.putEof(ec);
    o.error = static_cast<bool>(ec);
  }
  o.done = parser.done();
  (void)parser.reusable();
  (void)parser.closeDelimited();
  return o;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) {
    return 0;
  }
  const uint8_t control = data[0];
  std::string_view wire(reinterpret_cast<const char*>(data + 1), size - 1);
  const bool headRequest = (control & 0x80) != 0;
  const size_t low = control & 0x3f;
  size_t cut = (control & 0x40) != 0 ? low : wire.size() * low / 63;
  if (cut > wire.size()) {
    cut = wire.size();
  }

  Outcome whole = parse(wire, wire.size(), headRequest);
  Outcome split = parse(wire, cut, headRequest);
  if (!whole.error && !split.error) {
    if (whole.headerDone && split.headerDone && whole.status != split.status) {
      fail("the status depends on the split", wire, cut);
    }
    if (whole.done && split.done && whole.body != split.body) {
      fail("the body depends on the split", wire, cut);
    }
  }
  return 0;
}
