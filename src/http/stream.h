#pragma once
// Stream: the ByteStream of a socket (http/byte_stream.h), TCP plain or TLS, used for client
// and upstream connections alike so that the proxy code is written once. Not thread-safe: a
// Stream belongs to the coroutine of its connection, on one io_context thread.
//
// All operations report errors through `ec` and never throw. cancel() may be called from a
// timer handler on the same thread: pending operations then complete with operation_aborted.
// The template write() takes any buffer sequence, for callers that hold the concrete type
// (the Redis client, the admin server).

#include <array>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <memory>
#include <string>

#include "http/byte_stream.h"
#include "http/net.h"

namespace tg::http {

class Stream final : public ByteStream {
 public:
  explicit Stream(tcp::socket sock) : plain_(std::move(sock)) {}
  Stream(tcp::socket sock, net::ssl::context& ctx)
      : plain_(sock.get_executor()),
        tls_(std::make_unique<net::ssl::stream<tcp::socket>>(std::move(sock), ctx)) {}
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  bool isTls() const override { return tls_ != nullptr; }
  tcp::socket& socket() { return tls_ ? tls_->next_layer() : plain_; }
  net::ssl::stream<tcp::socket>* tls() { return tls_.get(); }

  // Reads stay asynchronous: a try-first read plus async_wait measured more system calls
  // (epoll_ctl re-arming, 0.4 per request) than asio's own speculative read.
  Task<size_t> readSome(net::mutable_buffer buf, error_code& ec) override {
    if (tls_) {
      co_return co_await tls_->async_read_some(buf, use(ec));
    }
    co_return co_await plain_.async_read_some(buf, use(ec));
  }

  // Plain TCP first tries one non-blocking writev: a socket almost always takes a response
  // whole, and then the coroutine goes on at once instead of resuming through the event loop
  // (an async operation's completion is always posted, even when it finished at once). Only
  // what the socket did not take is written asynchronously.
  Task<size_t> write(net::const_buffer a, net::const_buffer b, error_code& ec) override {
    if (tls_) {
      const std::array<net::const_buffer, 2> bufs{a, b};
      co_return co_await net::async_write(*tls_, bufs, use(ec));
    }
    const size_t sent = tryWrite(a, b, ec);
    if (ec || sent == a.size() + b.size()) {
      co_return sent;
    }
    const std::array<net::const_buffer, 2> rest =
        sent < a.size() ? std::array<net::const_buffer, 2>{a + sent, b}
                        : std::array<net::const_buffer, 2>{b + (sent - a.size()), {}};
    co_return sent + co_await net::async_write(plain_, rest, use(ec));
  }
  Task<size_t> write(net::const_buffer a, error_code& ec) {
    return write(a, net::const_buffer(), ec);
  }
  template <typename Buffers>
  Task<size_t> write(const Buffers& bufs, error_code& ec) {
    if (tls_) {
      co_return co_await net::async_write(*tls_, bufs, use(ec));
    }
    co_return co_await net::async_write(plain_, bufs, use(ec));
  }

  // TLS handshakes; no-ops on plain streams. `serverName` sets SNI and the name verified.
  Task<void> handshakeServer(error_code& ec);
  Task<void> handshakeClient(const std::string& serverName, bool verify, error_code& ec);

  // Cancels pending operations (they complete with operation_aborted).
  void cancel() override {
    error_code ignored;
    socket().cancel(ignored);
  }
  // Closes the socket at once (no TLS close_notify).
  void close() override {
    error_code ignored;
    socket().shutdown(tcp::socket::shutdown_both, ignored);
    socket().close(ignored);
  }
  void shutdownSend() override {
    error_code ignored;
    socket().shutdown(tcp::socket::shutdown_send, ignored);
  }
  bool isOpen() const override { return tls_ ? tls_->next_layer().is_open() : plain_.is_open(); }

 private:
  bool makeNonBlocking(error_code& ec) {
    if (!nonBlocking_) {
      plain_.non_blocking(true, ec);
      nonBlocking_ = !ec;
    }
    return nonBlocking_;
  }
  // One non-blocking writev of what fits now; would_block is no error (0 or a prefix sent).
  size_t tryWrite(net::const_buffer a, net::const_buffer b, error_code& ec) {
    if (!makeNonBlocking(ec)) {
      return 0;
    }
    const std::array<net::const_buffer, 2> bufs{a, b};
    const size_t n = plain_.write_some(bufs, ec);
    if (ec == net::error::would_block || ec == net::error::try_again) {
      ec.clear();
    }
    return n;
  }

  tcp::socket plain_;
  bool nonBlocking_ = false;
  std::unique_ptr<net::ssl::stream<tcp::socket>> tls_;
};

}  // namespace tg::http
