#pragma once
// Stream: one byte stream over TCP, plain or TLS, used for both client and upstream
// connections so that the proxy code is written once. Not thread-safe: a Stream belongs to
// the coroutine of its connection, on one io_context thread.
//
// All operations report errors through `ec` and never throw. cancel() may be called from a
// timer handler on the same thread: pending operations then complete with operation_aborted.

#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <memory>
#include <string>

#include "http/net.h"

namespace tg::http {

class Stream {
 public:
  explicit Stream(tcp::socket sock) : plain_(std::move(sock)) {}
  Stream(tcp::socket sock, net::ssl::context& ctx)
      : plain_(sock.get_executor()),
        tls_(std::make_unique<net::ssl::stream<tcp::socket>>(std::move(sock), ctx)) {}
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  bool isTls() const { return tls_ != nullptr; }
  tcp::socket& socket() { return tls_ ? tls_->next_layer() : plain_; }
  net::ssl::stream<tcp::socket>* tls() { return tls_.get(); }

  Task<size_t> readSome(net::mutable_buffer buf, error_code& ec) {
    if (tls_) {
      co_return co_await tls_->async_read_some(buf, use(ec));
    }
    co_return co_await plain_.async_read_some(buf, use(ec));
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
  void cancel() {
    error_code ignored;
    socket().cancel(ignored);
  }
  // Closes the socket at once (no TLS close_notify).
  void close() {
    error_code ignored;
    socket().shutdown(tcp::socket::shutdown_both, ignored);
    socket().close(ignored);
  }
  bool isOpen() { return socket().is_open(); }

 private:
  tcp::socket plain_;
  std::unique_ptr<net::ssl::stream<tcp::socket>> tls_;
};

}  // namespace tg::http
