#pragma once
// Reads HTTP/1.1 requests from a client Stream with hard limits: head size and field count,
// time to receive the head, body size (checked against Content-Length before any body byte
// is read, and while a chunked body grows) and time to receive the body. Parsing is Beast's
// basic_parser; the parsed request lives in a Request that is reused for every request of a
// connection, so steady-state requests allocate nothing.
//
// One RequestReader per connection, used from that connection's coroutine only.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "http/headers.h"
#include "http/net.h"
#include "http/read_buffer.h"
#include "io/byte_stream.h"
#include "io/deadline.h"

namespace tg::http {

struct Request {
  std::string_view method;
  std::string_view target;
  unsigned version = 11;  // 10 or 11
  HeaderList headers;     // views into arena
  std::string body;       // de-chunked
  std::optional<uint64_t> contentLength;
  bool chunked = false;
  bool keepAlive = true;
  bool expectContinue = false;
  uint64_t wireBytes = 0;  // head + body as received, framing included
  std::string arena;       // owns method, target and field bytes

  std::string_view header(std::string_view name) const { return findHeader(headers, name); }
  void reset();
};

struct RequestLimits {
  uint64_t maxHeaderBytes;
  unsigned maxHeaders;
  uint64_t maxBodyBytes;
  std::chrono::milliseconds headerTimeout;
  std::chrono::milliseconds bodyTimeout;
  std::chrono::milliseconds idleTimeout;
};

enum class ReadStatus {
  Ok,
  Closed,        // clean end before any byte of a request (or idle timeout, or drain)
  Timeout,       // head or body not received in time: answer 408 and close
  BadRequest,    // malformed: answer 400 and close
  HeadTooLarge,  // answer 431 and close
  BodyTooLarge,  // answer 413 and close
  IoError,       // connection broken: just close
};

struct ReadResult {
  ReadStatus status = ReadStatus::Ok;
  std::string detail;  // for BadRequest: what was wrong
};

class RequestReader {
 public:
  RequestReader(io::ByteStream& stream, ReadBuffer& buf, io::Deadline& deadline,
                const RequestLimits& limits);
  ~RequestReader();
  RequestReader(const RequestReader&) = delete;
  RequestReader& operator=(const RequestReader&) = delete;

  // Reads the next request head. While no byte has arrived the connection is "idle"
  // (idle() is true) and waits up to idleTimeout; from the first byte the whole head must
  // arrive within headerTimeout.
  Task<ReadResult> readHead(Request& req);
  // Reads the rest of the body. Sends "100 Continue" first when the client asked for it.
  Task<ReadResult> readBody(Request& req);

  bool idle() const { return idle_; }

 private:
  class Parser;
  io::ByteStream& stream_;
  ReadBuffer& buf_;
  io::Deadline& deadline_;
  const RequestLimits& limits_;
  std::unique_ptr<Parser> parser_;
  bool idle_ = false;
};

}  // namespace tg::http
