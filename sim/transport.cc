#include "transport.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <chrono>
#include <type_traits>

namespace tg::sim {
namespace {

using namespace std::chrono_literals;

constexpr auto kHandshakeTimeout = 10s;
constexpr auto kHeaderTimeout = 120s;
constexpr auto kBodyTimeout = 120s;
constexpr auto kWriteTimeout = 60s;
constexpr auto kTlsShutdownTimeout = 2s;

constexpr auto kUseTuple = net::as_tuple(net::use_awaitable);

using TlsStream = beast::ssl_stream<beast::tcp_stream>;

// The one implementation, for Stream = beast::tcp_stream or TlsStream.
template <class Stream>
class StreamTransport final : public Transport {
 public:
  static constexpr bool kTls = std::is_same_v<Stream, TlsStream>;

  template <class... Args>
  explicit StreamTransport(Args&&... args) : stream_(std::forward<Args>(args)...) {}

  net::awaitable<beast::error_code> handshake() override {
    if constexpr (kTls) {
      tcp().expires_after(kHandshakeTimeout);
      auto [ec] = co_await stream_.async_handshake(net::ssl::stream_base::server, kUseTuple);
      co_return ec;
    } else {
      co_return beast::error_code();
    }
  }

  net::awaitable<beast::error_code> readHeader(beast::flat_buffer& buffer,
                                               RequestParser& parser) override {
    tcp().expires_after(kHeaderTimeout);
    auto [ec, n] = co_await http::async_read_header(stream_, buffer, parser, kUseTuple);
    co_return ec;
  }

  net::awaitable<beast::error_code> readBody(beast::flat_buffer& buffer,
                                             RequestParser& parser) override {
    tcp().expires_after(kBodyTimeout);
    auto [ec, n] = co_await http::async_read(stream_, buffer, parser, kUseTuple);
    co_return ec;
  }

  net::awaitable<beast::error_code> write(std::string_view bytes) override {
    tcp().expires_after(kWriteTimeout);
    auto [ec, n] = co_await net::async_write(stream_, net::buffer(bytes), kUseTuple);
    co_return ec;
  }

  net::awaitable<void> shutdown() override {
    if (!tcp().socket().is_open()) {
      co_return;
    }
    if constexpr (kTls) {
      tcp().expires_after(kTlsShutdownTimeout);
      co_await stream_.async_shutdown(kUseTuple);
    }
    beast::error_code ignored;
    tcp().socket().shutdown(net::ip::tcp::socket::shutdown_both, ignored);
    tcp().socket().close(ignored);
  }

  void abort() override {
    beast::error_code ignored;
    tcp().socket().close(ignored);
  }

 private:
  beast::tcp_stream& tcp() { return beast::get_lowest_layer(stream_); }

  Stream stream_;
};

}  // namespace

std::unique_ptr<Transport> makePlainTransport(net::ip::tcp::socket socket) {
  return std::make_unique<StreamTransport<beast::tcp_stream>>(std::move(socket));
}

std::unique_ptr<Transport> makeTlsTransport(net::ip::tcp::socket socket, net::ssl::context& tls) {
  return std::make_unique<StreamTransport<TlsStream>>(std::move(socket), tls);
}

}  // namespace tg::sim
