#pragma once
// MemoryStream: an in-memory io::ByteStream for component tests. pair() makes two connected
// ends on one io_context: what one end writes, the other reads, in order, with no socket.
// A read waits (suspends) until bytes arrive, the peer shuts its sending side (eof) or the
// stream is cancelled (operation_aborted). failWritesAfter(n) makes writes fail with
// broken_pipe once n more bytes were written (a client that goes away mid-stream), and
// written() counts what was accepted. Destroying an end closes it, as a socket does.
//
// holdWrites(): the bytes of a (matching) write reach the peer at once, but the write does not
// complete until releaseWrites(). A socket's write completes through the event loop, so the
// writer's coroutine may resume only after the peer has already read and acted on the bytes;
// a held write makes that interleaving deterministic (writeHeld() tells when one is held).
//
// HttpPeer: the test's side of a connection speaking HTTP/1.1 over one end (a client reading
// responses, or a fake upstream reading requests). Its parsing is deliberately independent of
// the gateway's own parsers, and strict: a framing error fails the test.

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "io/byte_stream.h"

namespace tg::proxy::test {

class MemoryStream final : public io::ByteStream {
 public:
  using Ptr = std::unique_ptr<MemoryStream>;
  static std::pair<Ptr, Ptr> pair(http::net::any_io_executor ex) {
    auto ab = std::make_shared<Channel>(ex);
    auto ba = std::make_shared<Channel>(ex);
    return {Ptr(new MemoryStream(ex, ba, ab)), Ptr(new MemoryStream(ex, ab, ba))};
  }
  ~MemoryStream() override { close(); }
  MemoryStream(const MemoryStream&) = delete;
  MemoryStream& operator=(const MemoryStream&) = delete;

  using io::ByteStream::write;

  http::Task<size_t> readSome(http::net::mutable_buffer buf, http::error_code& ec) override {
    ec.clear();
    for (;;) {
      if (!open_) {
        ec = http::net::error::bad_descriptor;
        co_return 0;
      }
      if (!in_->bytes.empty()) {
        const size_t n = std::min(buf.size(), in_->bytes.size());
        std::memcpy(buf.data(), in_->bytes.data(), n);
        in_->bytes.erase(0, n);
        co_return n;
      }
      if (in_->eof) {
        ec = http::net::error::eof;
        co_return 0;
      }
      reading_ = true;
      in_->wake.expires_at(std::chrono::steady_clock::time_point::max());
      http::error_code ignored;
      co_await in_->wake.async_wait(http::use(ignored));
      reading_ = false;
      if (abort_) {
        abort_ = false;
        ec = http::net::error::operation_aborted;
        co_return 0;
      }
    }
  }

  http::Task<size_t> write(http::net::const_buffer a, http::net::const_buffer b,
                           http::error_code& ec) override {
    ec.clear();
    if (!open_ || sendShut_ || out_->readerGone) {
      ec = http::net::error::broken_pipe;
      co_return 0;
    }
    const size_t before = out_->bytes.size();
    size_t total = 0;
    for (http::net::const_buffer part : {a, b}) {
      size_t n = std::min(part.size(), writeBudget_);
      out_->bytes.append(static_cast<const char*>(part.data()), n);
      writeBudget_ -= n;
      total += n;
      if (n < part.size()) {
        ec = http::net::error::broken_pipe;
        break;
      }
    }
    written_ += total;
    out_->wake.cancel();
    if (!ec && holding_ &&
        (!holdWhich_ || holdWhich_(std::string_view(out_->bytes).substr(before)))) {
      held_ = true;
      while (holding_ && !writeAbort_) {
        gate_.expires_at(std::chrono::steady_clock::time_point::max());
        http::error_code ignored;
        co_await gate_.async_wait(http::use(ignored));
      }
      held_ = false;
      if (writeAbort_) {
        writeAbort_ = false;
        ec = http::net::error::operation_aborted;
      }
    }
    co_return total;
  }

  void cancel() override {
    if (reading_) {
      abort_ = true;
      in_->wake.cancel();
    }
    if (held_) {
      writeAbort_ = true;
      gate_.cancel();
    }
  }
  void close() override {
    if (!open_) {
      return;
    }
    open_ = false;
    out_->eof = true;
    out_->wake.cancel();
    in_->readerGone = true;
    cancel();
  }
  void shutdownSend() override {
    sendShut_ = true;
    out_->eof = true;
    out_->wake.cancel();
  }
  bool isOpen() const override { return open_; }
  bool isTls() const override { return false; }

  void failWritesAfter(size_t n) { writeBudget_ = n; }
  size_t written() const { return written_; }
  // True once the peer closed or shut down its sending side and everything was read.
  bool peerFinished() const { return in_->eof && in_->bytes.empty(); }
  // True once the peer closed its end (its reads are over: our writes fail).
  bool peerClosed() const { return out_->readerGone; }

  // Holds the completion of every later write whose bytes satisfy `which` (every write when
  // null) until releaseWrites(); see the header comment.
  void holdWrites(std::function<bool(std::string_view)> which = nullptr) {
    holding_ = true;
    holdWhich_ = std::move(which);
  }
  void releaseWrites() {
    holding_ = false;
    holdWhich_ = nullptr;
    gate_.cancel();
  }
  bool writeHeld() const { return held_; }

 private:
  struct Channel {
    explicit Channel(http::net::any_io_executor ex) : wake(ex) {}
    std::string bytes;
    bool eof = false;         // the writer shut down
    bool readerGone = false;  // the reader closed: writes fail
    http::net::steady_timer wake;
  };
  MemoryStream(http::net::any_io_executor ex, std::shared_ptr<Channel> in,
               std::shared_ptr<Channel> out)
      : in_(std::move(in)), out_(std::move(out)), gate_(ex) {}

  std::shared_ptr<Channel> in_;
  std::shared_ptr<Channel> out_;
  http::net::steady_timer gate_;  // held writes wait on it
  bool open_ = true;
  bool sendShut_ = false;
  bool reading_ = false;
  bool abort_ = false;
  size_t writeBudget_ = SIZE_MAX;
  size_t written_ = 0;
  bool holding_ = false;
  std::function<bool(std::string_view)> holdWhich_;
  bool held_ = false;
  bool writeAbort_ = false;
};

// ---- the test's side of HTTP/1.1 -----------------------------------------------------------

struct WireHeader {
  std::string name;
  std::string value;
};

// A request or response as it was seen on the wire.
struct WireMessage {
  std::string startLine;  // "POST /v1/chat/completions HTTP/1.1" / "HTTP/1.1 200 OK"
  std::vector<WireHeader> headers;
  std::string body;  // de-chunked

  // The first value of a header (case-insensitive name), "" when absent.
  std::string header(std::string_view name) const {
    for (const auto& h : headers) {
      if (sameName(h.name, name)) {
        return h.value;
      }
    }
    return {};
  }
  bool has(std::string_view name) const {
    for (const auto& h : headers) {
      if (sameName(h.name, name)) {
        return true;
      }
    }
    return false;
  }
  static bool sameName(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
             return std::tolower(static_cast<unsigned char>(x)) ==
                    std::tolower(static_cast<unsigned char>(y));
           });
  }
};

struct WireRequest : WireMessage {
  std::string method;
  std::string target;
};

struct WireResponse : WireMessage {
  int status = 0;  // 0: no response head arrived
  bool chunked = false;
  bool complete = false;  // the body's framing ended (final chunk, Content-Length reached, ...)
  bool eof = false;       // the gateway closed the connection while (or before) reading it

  // Body decoding state (HttpPeer).
  enum class Phase { Size, Data, DataEnd, Trailer } phase = Phase::Size;
  uint64_t left = 0;  // bytes left in the chunk or the Content-Length body
  std::optional<uint64_t> contentLength;
};

class HttpPeer {
 public:
  explicit HttpPeer(MemoryStream& stream) : s_(stream) {}
  MemoryStream& stream() { return s_; }

  http::Task<bool> send(std::string bytes) {
    http::error_code ec;
    co_await s_.write(http::net::buffer(bytes), ec);
    co_return !ec;
  }

  // A request (head and Content-Length body); nullopt when the connection ended before one.
  http::Task<std::optional<WireRequest>> readRequest() {
    WireRequest r;
    const bool head = co_await readHead(r);
    if (!head) {
      co_return std::nullopt;
    }
    const size_t sp1 = r.startLine.find(' ');
    const size_t sp2 = r.startLine.find(' ', sp1 + 1);
    r.method = r.startLine.substr(0, sp1);
    r.target = r.startLine.substr(sp1 + 1, sp2 - sp1 - 1);
    EXPECT_FALSE(r.has("transfer-encoding")) << "the gateway sends bodies with Content-Length";
    const size_t len = r.has("content-length") ? std::stoul(r.header("content-length")) : 0;
    while (buf_.size() < len) {
      const bool more = co_await fill();
      if (!more) {
        ADD_FAILURE() << "request body cut: " << buf_.size() << " of " << len;
        co_return std::nullopt;
      }
    }
    r.body = buf_.substr(0, len);
    buf_.erase(0, len);
    co_return r;
  }

  // The head of the next response; r.status stays 0 (and r.eof is set) when the connection
  // ended first.
  http::Task<void> readResponseHead(WireResponse& r, bool headRequest = false) {
    const bool head = co_await readHead(r);
    if (!head) {
      r.eof = true;
      co_return;
    }
    EXPECT_EQ(r.startLine.rfind("HTTP/1.1 ", 0), 0u) << r.startLine;
    r.status = std::stoi(r.startLine.substr(9, 3));
    const std::string te = r.header("transfer-encoding");
    r.chunked = te == "chunked";
    if (r.has("content-length")) {
      r.contentLength = std::stoull(r.header("content-length"));
    }
    EXPECT_FALSE(r.chunked && r.contentLength) << "both Content-Length and chunked";
    if (headRequest || r.status == 204 || r.status == 304 || r.status < 200) {
      r.complete = true;
    } else if (r.contentLength) {
      r.left = *r.contentLength;
      r.complete = r.left == 0;
    }
  }

  // Reads body bytes until the de-chunked body contains `needle` (empty: until the body is
  // complete), the body ends, or the connection does. False when the needle was not found.
  http::Task<bool> readBodyUntil(WireResponse& r, std::string_view needle = {}) {
    for (;;) {
      decode(r);
      if (!needle.empty() && r.body.find(needle) != std::string::npos) {
        co_return true;
      }
      if (r.complete || r.eof) {
        co_return needle.empty() ? r.complete : false;
      }
      const bool more = co_await fill();
      if (!more) {
        r.eof = true;
        if (!r.chunked && !r.contentLength) {
          r.complete = true;  // close-delimited: the end of the connection ends the body
        }
      }
    }
  }

  // A whole response: head, then body until complete or the connection ends.
  http::Task<WireResponse> readResponse(bool headRequest = false) {
    WireResponse r;
    co_await readResponseHead(r, headRequest);
    if (r.status != 0) {
      co_await readBodyUntil(r);
    }
    co_return r;
  }

  // True when the peer ends the connection without sending another byte.
  http::Task<bool> readEof() {
    if (!buf_.empty()) {
      co_return false;
    }
    const bool more = co_await fill();
    co_return !more;
  }

  const std::string& pending() const { return buf_; }

 private:
  // One read into buf_; false at eof or on an error.
  http::Task<bool> fill() {
    char tmp[4096];
    http::error_code ec;
    size_t n = co_await s_.readSome(http::net::buffer(tmp), ec);
    if (ec) {
      co_return false;
    }
    buf_.append(tmp, n);
    co_return true;
  }

  http::Task<bool> readHead(WireMessage& m) {
    size_t end = buf_.find("\r\n\r\n");
    while (end == std::string::npos) {
      const bool more = co_await fill();
      if (!more) {
        EXPECT_TRUE(buf_.empty()) << "a head was cut: " << buf_;
        co_return false;
      }
      end = buf_.find("\r\n\r\n");
    }
    std::string_view head = std::string_view(buf_).substr(0, end + 2);
    size_t eol = head.find("\r\n");
    m.startLine = std::string(head.substr(0, eol));
    head.remove_prefix(eol + 2);
    while (!head.empty()) {
      eol = head.find("\r\n");
      std::string_view line = head.substr(0, eol);
      head.remove_prefix(eol + 2);
      const size_t colon = line.find(':');
      EXPECT_NE(colon, std::string_view::npos) << line;
      std::string_view value = line.substr(colon + 1);
      while (!value.empty() && value.front() == ' ') {
        value.remove_prefix(1);
      }
      m.headers.push_back({std::string(line.substr(0, colon)), std::string(value)});
    }
    buf_.erase(0, end + 4);
    co_return true;
  }

  // Moves what buf_ holds of r's body into r.body.
  void decode(WireResponse& r) {
    if (r.complete) {
      return;
    }
    if (!r.chunked) {
      if (r.contentLength) {
        const size_t n = static_cast<size_t>(std::min<uint64_t>(r.left, buf_.size()));
        r.body.append(buf_, 0, n);
        buf_.erase(0, n);
        r.left -= n;
        r.complete = r.left == 0;
      } else {
        r.body += buf_;
        buf_.clear();
      }
      return;
    }
    for (;;) {
      switch (r.phase) {
        case WireResponse::Phase::Size: {
          const size_t eol = buf_.find("\r\n");
          if (eol == std::string::npos) {
            return;
          }
          r.left = std::stoull(buf_.substr(0, eol), nullptr, 16);
          buf_.erase(0, eol + 2);
          r.phase = r.left == 0 ? WireResponse::Phase::Trailer : WireResponse::Phase::Data;
          break;
        }
        case WireResponse::Phase::Data: {
          const size_t n = static_cast<size_t>(std::min<uint64_t>(r.left, buf_.size()));
          if (n == 0) {
            return;
          }
          r.body.append(buf_, 0, n);
          buf_.erase(0, n);
          r.left -= n;
          if (r.left == 0) {
            r.phase = WireResponse::Phase::DataEnd;
          }
          break;
        }
        case WireResponse::Phase::DataEnd:
          if (buf_.size() < 2) {
            return;
          }
          EXPECT_EQ(buf_.substr(0, 2), "\r\n") << "chunk not followed by CRLF";
          buf_.erase(0, 2);
          r.phase = WireResponse::Phase::Size;
          break;
        case WireResponse::Phase::Trailer: {
          const size_t eol = buf_.find("\r\n");
          if (eol == std::string::npos) {
            return;
          }
          buf_.erase(0, eol + 2);
          if (eol == 0) {
            r.complete = true;
            return;
          }
          break;  // a trailer field: skipped
        }
      }
    }
  }

  MemoryStream& s_;
  std::string buf_;
};

}  // namespace tg::proxy::test
