#include "io/tls.h"

#include <openssl/ssl.h>

namespace tg::io {

namespace ssl = boost::asio::ssl;

core::Result<std::shared_ptr<ssl::context>> makeServerTlsContext(const std::string& certFile,
                                                                 const std::string& keyFile) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
  boost::system::error_code ec;
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                       ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 |
                       ssl::context::single_dh_use,
                   ec);
  ctx->use_certificate_chain_file(certFile, ec);
  if (ec) {
    return core::Error{"cannot load certificate '" + certFile + "': " + ec.message()};
  }
  ctx->use_private_key_file(keyFile, ssl::context::pem, ec);
  if (ec) {
    return core::Error{"cannot load private key '" + keyFile + "': " + ec.message()};
  }
  if (SSL_CTX_check_private_key(ctx->native_handle()) != 1) {
    return core::Error{"private key '" + keyFile + "' does not match certificate '" + certFile +
                       "'"};
  }
  return ctx;
}

core::Result<std::shared_ptr<ssl::context>> makeClientTlsContext(const std::string& caFile) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
  boost::system::error_code ec;
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                       ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1,
                   ec);
  if (caFile.empty()) {
    ctx->set_default_verify_paths(ec);
    if (ec) {
      return core::Error{"cannot load the system CA certificates: " + ec.message()};
    }
  } else {
    ctx->load_verify_file(caFile, ec);
    if (ec) {
      return core::Error{"cannot load CA file '" + caFile + "': " + ec.message()};
    }
  }
  // Resume sessions with the upstream: saves a full handshake on every new pooled connection.
  SSL_CTX_set_session_cache_mode(ctx->native_handle(), SSL_SESS_CACHE_CLIENT);
  return ctx;
}

}  // namespace tg::io
