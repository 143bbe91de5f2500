#include "io/stream.h"

#include <openssl/ssl.h>
#include <sys/socket.h>

#include <cerrno>

#include <boost/asio/ssl/host_name_verification.hpp>

namespace tg::io {

bool Stream::peerClosed() {
  char c = 0;
  const ssize_t n = ::recv(socket().native_handle(), &c, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n > 0) {
    return false;
  }
  return n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

Task<void> Stream::handshakeServer(error_code& ec) {
  if (tls_) {
    co_await tls_->async_handshake(net::ssl::stream_base::server, use(ec));
  }
}

Task<void> Stream::handshakeClient(const std::string& serverName, bool verify, error_code& ec) {
  if (!tls_) {
    co_return;
  }
  // SNI is only sent for names, never for IP literals (RFC 6066 §3).
  bool isIp = false;
  {
    error_code parseEc;
    net::ip::make_address(serverName, parseEc);
    isIp = !parseEc;
  }
  if (!isIp && !SSL_set_tlsext_host_name(tls_->native_handle(), serverName.c_str())) {
    ec = error_code(static_cast<int>(::ERR_get_error()), net::error::get_ssl_category());
    co_return;
  }
  if (verify) {
    tls_->set_verify_mode(net::ssl::verify_peer);
    tls_->set_verify_callback(net::ssl::host_name_verification(serverName));
  } else {
    tls_->set_verify_mode(net::ssl::verify_none);
  }
  co_await tls_->async_handshake(net::ssl::stream_base::client, use(ec));
}

}  // namespace tg::io
