// Fuzz target: core::parseDuration and core::parseSize on arbitrary text. Besides crashes and
// UBSan reports (the double -> integer conversions), it checks the documented contract:
// results are never negative or beyond the limits, and surrounding OWS does not matter.

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <string>
#include <string_view>

#include "core/units.h"

namespace {

void fail(const char* what, std::string_view input) {
  std::fprintf(stderr, "fuzz_units: %s for input '%.*s'\n", what, static_cast<int>(input.size()),
               input.data());
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  std::string padded = " \t" + std::string(in) + "\t ";

  auto d = tg::core::parseDuration(in);
  if (d && (d->count() < 0 || d->count() > 1'000'000'000'000'000LL)) {
    fail("duration out of range", in);
  }
  if (tg::core::parseDuration(padded) != d) {
    fail("duration depends on surrounding whitespace", in);
  }

  auto s = tg::core::parseSize(in);
  if (s && *s > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) + 1) {
    fail("size beyond int64", in);
  }
  if (tg::core::parseSize(padded) != s) {
    fail("size depends on surrounding whitespace", in);
  }
  return 0;
}
