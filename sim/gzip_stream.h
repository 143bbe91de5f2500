#pragma once

// GzipStream: incremental gzip (RFC 1952) compression with zlib.
//
// For a stream of events, call add() once per event: it compresses the event and ends with a
// Z_SYNC_FLUSH, so the returned bytes let a client decompress the event completely before the
// next one is produced. finish() returns the deflate end block and the gzip trailer. Not
// thread-safe; one instance per response.

#include <zlib.h>

#include <string>
#include <string_view>

namespace tg::sim {

class GzipStream {
 public:
  GzipStream();
  ~GzipStream();
  GzipStream(const GzipStream&) = delete;
  GzipStream& operator=(const GzipStream&) = delete;

  // Compressed bytes for `data`, flushed to a byte boundary (Z_SYNC_FLUSH).
  std::string add(std::string_view data);
  // The remaining compressed bytes and the gzip trailer. Call once, last.
  std::string finish();

 private:
  std::string run(std::string_view data, int flush);

  z_stream zs_{};
};

// `data` as one complete gzip member.
std::string gzipAll(std::string_view data);

}  // namespace tg::sim
