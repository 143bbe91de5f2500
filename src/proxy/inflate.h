#pragma once
// Inflater: decodes a gzip or deflate response body on the side, so that usage can be read
// from an upstream that compresses although the gateway asked for `identity`. The client
// still receives the original compressed bytes; only the usage tracker sees decoded ones.
// Output is capped per call (a zip bomb cannot make the gateway allocate without bound):
// decoding stops, and failed() turns true, once more than `maxOutput` bytes were produced.

#include <memory>
#include <string>
#include <string_view>

namespace tg::proxy {

class Inflater {
 public:
  // `encoding` is the Content-Encoding value: "gzip", "x-gzip" or "deflate".
  static std::unique_ptr<Inflater> create(std::string_view encoding, size_t maxOutput);
  ~Inflater();
  Inflater(const Inflater&) = delete;
  Inflater& operator=(const Inflater&) = delete;

  // Appends the decoded bytes of `in` to `out`. Returns false on a decoding error.
  bool feed(std::string_view in, std::string& out);
  bool failed() const { return failed_; }

 private:
  Inflater() = default;
  struct State;
  std::unique_ptr<State> s_;
  size_t maxOutput_ = 0;
  size_t produced_ = 0;
  bool failed_ = false;
};

}  // namespace tg::proxy
