#pragma once

// Transport: one accepted connection, plain TCP or TLS, seen by the session as "read an HTTP
// request, write bytes, close".
//
// Every operation runs on the connection's own io_context thread, carries its own deadline
// (handshake 10 s, request header idle 120 s, request body 120 s, each write 60 s) and reports
// failure as an error_code; nothing here throws. write() is one socket write of the given bytes
// as far as the kernel allows (TLS: one TLS record per write up to 16 KiB), which lets the
// simulator send every stream event separately. A Transport is used by one coroutine at a time
// and is not thread-safe.

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <memory>
#include <string_view>

namespace tg::sim {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

using RequestParser = http::request_parser<http::string_body>;

class Transport {
 public:
  virtual ~Transport() = default;

  // TLS: the server handshake. Plain TCP: completes at once with no error.
  virtual net::awaitable<beast::error_code> handshake() = 0;
  // Reads the next request's header into `parser`, with bytes left over in `buffer` from the
  // previous request (pipelining) consumed first.
  virtual net::awaitable<beast::error_code> readHeader(beast::flat_buffer& buffer,
                                                       RequestParser& parser) = 0;
  // Reads the rest of the request (the body) into `parser`.
  virtual net::awaitable<beast::error_code> readBody(beast::flat_buffer& buffer,
                                                     RequestParser& parser) = 0;
  // Writes all of `bytes`.
  virtual net::awaitable<beast::error_code> write(std::string_view bytes) = 0;
  // Orderly close: TLS close_notify (waiting at most 2 s for the peer's), then TCP FIN.
  // Does nothing after abort().
  virtual net::awaitable<void> shutdown() = 0;
  // Abrupt close: the TCP socket is closed at once, without TLS close_notify. Used to simulate
  // an upstream dying mid-response.
  virtual void abort() = 0;
};

std::unique_ptr<Transport> makePlainTransport(net::ip::tcp::socket socket);
// `tls` must outlive the transport.
std::unique_ptr<Transport> makeTlsTransport(net::ip::tcp::socket socket, net::ssl::context& tls);

}  // namespace tg::sim
