#pragma once
// MemoryStream: an in-memory http::ByteStream for component tests. pair() makes two connected
// ends on one io_context: what one end writes, the other reads, in order, with no socket.
// A read waits (suspends) until bytes arrive, the peer shuts its sending side (eof) or the
// stream is cancelled (operation_aborted). failWritesAfter(n) makes writes fail with
// broken_pipe once n more bytes were written (a client that goes away mid-stream), and
// written() counts what was accepted.

#include <algorithm>
#include <chrono>
#include <cstring>
#include <memory>
#include <string>
#include <utility>

#include "http/byte_stream.h"

namespace tg::proxy::test {

class MemoryStream final : public http::ByteStream {
 public:
  using Ptr = std::unique_ptr<MemoryStream>;
  static std::pair<Ptr, Ptr> pair(http::net::any_io_executor ex) {
    auto ab = std::make_shared<Channel>(ex);
    auto ba = std::make_shared<Channel>(ex);
    return {Ptr(new MemoryStream(ba, ab)), Ptr(new MemoryStream(ab, ba))};
  }

  using http::ByteStream::write;

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
    if (!open_ || out_->readerGone) {
      ec = http::net::error::broken_pipe;
      co_return 0;
    }
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
    co_return total;
  }

  void cancel() override {
    if (reading_) {
      abort_ = true;
      in_->wake.cancel();
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
    out_->eof = true;
    out_->wake.cancel();
  }
  bool isOpen() const override { return open_; }
  bool isTls() const override { return false; }

  void failWritesAfter(size_t n) { writeBudget_ = n; }
  size_t written() const { return written_; }
  // True once the peer closed or shut down its sending side and everything was read.
  bool peerFinished() const { return in_->eof && in_->bytes.empty(); }

 private:
  struct Channel {
    explicit Channel(http::net::any_io_executor ex) : wake(ex) {}
    std::string bytes;
    bool eof = false;         // the writer shut down
    bool readerGone = false;  // the reader closed: writes fail
    http::net::steady_timer wake;
  };
  MemoryStream(std::shared_ptr<Channel> in, std::shared_ptr<Channel> out)
      : in_(std::move(in)), out_(std::move(out)) {}

  std::shared_ptr<Channel> in_;
  std::shared_ptr<Channel> out_;
  bool open_ = true;
  bool reading_ = false;
  bool abort_ = false;
  size_t writeBudget_ = SIZE_MAX;
  size_t written_ = 0;
};

}  // namespace tg::proxy::test
