#pragma once
// ResponseParser: an incremental parser for an upstream's HTTP/1.1 response. The head is
// parsed into a ResponseHead; body bytes, de-chunked, are appended to a caller-owned string
// as they are parsed, so the relay can forward them at once (no waiting for more bytes).
// Pure: it is fed bytes and does no I/O, so it is tested with byte strings.

#include <boost/system/error_code.hpp>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "http/headers.h"

namespace tg::http {

struct ResponseHead {
  int status = 0;
  std::string_view reason;
  unsigned version = 11;
  HeaderList headers;  // views into arena
  std::optional<uint64_t> contentLength;
  bool chunked = false;
  bool keepAlive = true;
  std::string arena;

  std::string_view header(std::string_view name) const { return findHeader(headers, name); }
  void reset();
};

class ResponseParser {
 public:
  // `headRequest`: the request was HEAD, so the response has no body whatever it says.
  ResponseParser(ResponseHead& head, bool headRequest, uint32_t maxHeadBytes);
  ~ResponseParser();
  ResponseParser(const ResponseParser&) = delete;
  ResponseParser& operator=(const ResponseParser&) = delete;

  // Parses as much of `in` as possible; body bytes go to *bodyOut. Returns the bytes consumed.
  // ec is need_more (not an error) when more input is needed. Interim 1xx responses (other
  // than 101) are skipped: the parser then waits for the final response.
  size_t put(std::string_view in, std::string* bodyOut, boost::system::error_code& ec);
  // The upstream closed the connection: completes a close-delimited body, or reports a
  // truncated message in ec.
  void putEof(boost::system::error_code& ec);

  bool headerDone() const;
  bool done() const;
  // True when the connection may carry another request after this response.
  bool reusable() const;
  // True when the body ends only when the upstream closes the connection.
  bool closeDelimited() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
  ResponseHead& head_;
  bool headRequest_;
  uint32_t maxHeadBytes_;
};

bool isNeedMore(const boost::system::error_code& ec);

}  // namespace tg::http
