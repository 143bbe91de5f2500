#include "gzip_stream.h"

#include <cstdio>
#include <cstdlib>

namespace tg::sim {
namespace {

// windowBits 15 + 16 selects the gzip wrapper instead of zlib's.
constexpr int kGzipWindowBits = 15 + 16;

}  // namespace

GzipStream::GzipStream() {
  if (deflateInit2(&zs_, Z_DEFAULT_COMPRESSION, Z_DEFLATED, kGzipWindowBits, 8,
                   Z_DEFAULT_STRATEGY) != Z_OK) {
    // Only on allocation failure; the simulator treats that as fatal.
    std::fputs("tokengate-sim: deflateInit2 failed\n", stderr);
    std::abort();
  }
}

GzipStream::~GzipStream() { deflateEnd(&zs_); }

std::string GzipStream::add(std::string_view data) { return run(data, Z_SYNC_FLUSH); }

std::string GzipStream::finish() { return run({}, Z_FINISH); }

std::string GzipStream::run(std::string_view data, int flush) {
  std::string out;
  zs_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs_.avail_in = static_cast<uInt>(data.size());
  // deflate() is called until it leaves output space unused: then all input is consumed and
  // the flush is complete.
  do {
    size_t used = out.size();
    size_t room = deflateBound(&zs_, zs_.avail_in) + 64;
    out.resize(used + room);
    zs_.next_out = reinterpret_cast<Bytef*>(out.data() + used);
    zs_.avail_out = static_cast<uInt>(room);
    deflate(&zs_, flush);
    out.resize(out.size() - zs_.avail_out);
  } while (zs_.avail_out == 0);
  return out;
}

std::string gzipAll(std::string_view data) {
  GzipStream stream;
  std::string out = stream.add(data);
  out += stream.finish();
  return out;
}

}  // namespace tg::sim
