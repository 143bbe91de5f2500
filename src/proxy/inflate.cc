#include "proxy/inflate.h"

#include <zlib.h>

#include "core/strings.h"

namespace tg::proxy {

struct Inflater::State {
  z_stream z{};
  bool ended = false;
  ~State() { inflateEnd(&z); }
};

std::unique_ptr<Inflater> Inflater::create(std::string_view encoding, size_t maxOutput) {
  int windowBits;
  if (core::iequals(encoding, "gzip") || core::iequals(encoding, "x-gzip")) {
    windowBits = 16 + MAX_WBITS;
  } else if (core::iequals(encoding, "deflate")) {
    windowBits = 32 + MAX_WBITS;  // zlib or gzip header, detected
  } else {
    return nullptr;
  }
  std::unique_ptr<Inflater> inf(new Inflater());
  inf->s_ = std::make_unique<State>();
  if (inflateInit2(&inf->s_->z, windowBits) != Z_OK) {
    return nullptr;
  }
  inf->maxOutput_ = maxOutput;
  return inf;
}

Inflater::~Inflater() = default;

bool Inflater::feed(std::string_view in, std::string& out) {
  if (failed_ || s_->ended) {
    return !failed_;
  }
  z_stream& z = s_->z;
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  char buf[16384];
  while (z.avail_in > 0) {
    z.next_out = reinterpret_cast<Bytef*>(buf);
    z.avail_out = sizeof buf;
    int rc = inflate(&z, Z_SYNC_FLUSH);
    size_t n = sizeof buf - z.avail_out;
    produced_ += n;
    if (produced_ > maxOutput_) {
      failed_ = true;
      return false;
    }
    out.append(buf, n);
    if (rc == Z_STREAM_END) {
      s_->ended = true;
      break;
    }
    if (rc == Z_BUF_ERROR && n == 0) {
      break;  // needs more input
    }
    if (rc != Z_OK && rc != Z_BUF_ERROR) {
      failed_ = true;
      return false;
    }
  }
  return true;
}

}  // namespace tg::proxy
