#pragma once
// ReadBuffer: a connection's receive buffer, reused for every request on the connection.
// Bytes [begin, end) have been received and not yet consumed; leftover bytes of a pipelined
// request stay for the next one. The buffer starts at 16 KiB (one read takes a whole typical
// LLM request) and grows only when a request head does not fit, up to the caller's limit.

#include <boost/asio/buffer.hpp>
#include <cstring>
#include <memory>
#include <string_view>

namespace tg::http {

class ReadBuffer {
 public:
  static constexpr size_t kInitial = 16 * 1024;

  explicit ReadBuffer(size_t initial = kInitial) : cap_(initial) {}

  std::string_view view() const { return {buf_.get() + begin_, end_ - begin_}; }
  size_t size() const { return end_ - begin_; }
  bool empty() const { return begin_ == end_; }
  void consume(size_t n) {
    begin_ += n;
    if (begin_ == end_) {
      begin_ = end_ = 0;
    }
  }
  // Space for at least `min` more bytes at the end (moves or grows the buffer).
  boost::asio::mutable_buffer prepare(size_t min = 4096) {
    if (!buf_) {
      buf_ = std::make_unique<char[]>(cap_);
    }
    if (cap_ - end_ < min && begin_ > 0) {
      std::memmove(buf_.get(), buf_.get() + begin_, end_ - begin_);
      end_ -= begin_;
      begin_ = 0;
    }
    if (cap_ - end_ < min) {
      size_t ncap = cap_ * 2;
      while (ncap - end_ < min) {
        ncap *= 2;
      }
      auto nb = std::make_unique<char[]>(ncap);
      std::memcpy(nb.get(), buf_.get() + begin_, end_ - begin_);
      end_ -= begin_;
      begin_ = 0;
      buf_ = std::move(nb);
      cap_ = ncap;
    }
    return {buf_.get() + end_, cap_ - end_};
  }
  void commit(size_t n) { end_ += n; }
  void clear() { begin_ = end_ = 0; }
  size_t capacity() const { return cap_; }

 private:
  std::unique_ptr<char[]> buf_;
  size_t cap_;
  size_t begin_ = 0;
  size_t end_ = 0;
};

}  // namespace tg::http
