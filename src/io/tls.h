#pragma once
// TLS contexts, built once at start-up and shared read-only by every worker thread
// (OpenSSL's SSL_CTX is safe to use concurrently for creating connections).

#include <boost/asio/ssl/context.hpp>
#include <memory>
#include <string>

#include "core/result.h"

namespace tg::io {

// A server context for a TLS listener: TLS 1.2+, the given PEM chain and key.
core::Result<std::shared_ptr<boost::asio::ssl::context>> makeServerTlsContext(
    const std::string& certFile, const std::string& keyFile);

// A client context for an HTTPS upstream: TLS 1.2+, verification against `caFile` or, when
// empty, the system's trusted CAs.
core::Result<std::shared_ptr<boost::asio::ssl::context>> makeClientTlsContext(
    const std::string& caFile);

}  // namespace tg::io
