#pragma once
// Stream: the ByteStream of a socket (io/byte_stream.h), TCP plain or TLS, used for client
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

#include "io/asio.h"
#include "io/byte_stream.h"

namespace tg::io {

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

  Task<size_t> readSome(net::mutable_buffer buf, error_code& ec) override {
    if (tls_) {
      co_return co_await tls_->async_read_some(buf, use(ec));
    }
    co_return co_await plain_.async_read_some(buf, use(ec));
  }

  Task<size_t> write(net::const_buffer a, net::const_buffer b, error_code& ec) override {
    const std::array<net::const_buffer, 2> bufs{a, b};
    if (tls_) {
      co_return co_await net::async_write(*tls_, bufs, use(ec));
    }
    co_return co_await net::async_write(plain_, bufs, use(ec));
  }
  Task<size_t> write(net::const_buffer a, error_code& ec) {
    if (tls_) {
      co_return co_await net::async_write(*tls_, a, use(ec));
    }
    co_return co_await net::async_write(plain_, a, use(ec));
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

  // At the socket (TLS too: the bytes a closing TLS peer sends first count as bytes).
  bool watchReadable(std::function<void(error_code)> onReadable) override {
    socket().async_wait(tcp::socket::wait_read,
                        [f = std::move(onReadable)](error_code ec) { f(ec); });
    return true;
  }
  bool peerClosed() override;

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
  tcp::socket plain_;
  std::unique_ptr<net::ssl::stream<tcp::socket>> tls_;
};

}  // namespace tg::io
