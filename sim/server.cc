#include "server.h"

#include <sys/socket.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/socket_base.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/field.hpp>
#include <cstdio>
#include <exception>

namespace tg::sim {
namespace {

using net::ip::tcp;
using ReusePort = net::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;

constexpr uint64_t kBodyLimit = 64ull * 1024 * 1024;
constexpr uint32_t kHeaderLimit = 256 * 1024;

// The one place that sees an exception escaping a coroutine (there should be none).
void logException(std::exception_ptr error) {
  if (!error) {
    return;
  }
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tokengate-sim: connection error: %s\n", e.what());
  }
}

bool expectsContinue(const RequestParser& parser) {
  return beast::iequals(parser.get()[http::field::expect], "100-continue");
}

// One connection: requests are read and answered in order until either side closes.
net::awaitable<void> runSession(std::unique_ptr<Transport> transport, SimContext& context) {
  if (co_await transport->handshake()) {
    transport->abort();
    co_return;
  }
  beast::flat_buffer buffer;
  for (;;) {
    RequestParser parser;
    parser.header_limit(kHeaderLimit);
    parser.body_limit(kBodyLimit);
    beast::error_code ec = co_await transport->readHeader(buffer, parser);
    if (!ec && !parser.is_done()) {
      if (expectsContinue(parser)) {
        ec = co_await transport->write("HTTP/1.1 100 Continue\r\n\r\n");
      }
      if (!ec) {
        ec = co_await transport->readBody(buffer, parser);
      }
    }
    if (ec == http::error::body_limit || ec == http::error::header_limit) {
      co_await respondUnreadable(*transport, ec == http::error::body_limit ? 413 : 431, context);
      break;
    }
    if (ec && ec.category() == http::make_error_code(http::error::bad_target).category() &&
        ec != http::error::end_of_stream && ec != http::error::partial_message) {
      co_await respondUnreadable(*transport, 400, context);
      break;
    }
    if (ec) {
      transport->abort();  // peer closed, timeout or I/O error
      co_return;
    }
    AfterReply after = co_await respond(*transport, parser.get(), context);
    if (after == AfterReply::Aborted) {
      co_return;
    }
    if (after == AfterReply::Close) {
      break;
    }
  }
  co_await transport->shutdown();
}

net::awaitable<void> acceptLoop(tcp::acceptor& acceptor, SimContext& context,
                                net::ssl::context* tls) {
  for (;;) {
    auto [ec, socket] = co_await acceptor.async_accept(net::as_tuple(net::use_awaitable));
    if (ec == net::error::operation_aborted || !acceptor.is_open()) {
      co_return;
    }
    if (ec) {
      continue;  // e.g. EMFILE or a connection reset before accept: keep listening
    }
    beast::error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);  // every event leaves at once
    ++context.stats.connections;
    auto transport = tls != nullptr ? makeTlsTransport(std::move(socket), *tls)
                                    : makePlainTransport(std::move(socket));
    net::co_spawn(acceptor.get_executor(), runSession(std::move(transport), context), logException);
  }
}

net::ip::address resolveHost(const std::string& host) {
  beast::error_code ec;
  auto address = net::ip::make_address(host, ec);
  if (!ec) {
    return address;
  }
  net::io_context io;
  tcp::resolver resolver(io);
  auto results = resolver.resolve(host, "");  // throws on failure: startup only
  return results.begin()->endpoint().address();
}

// Binds a throwaway socket without SO_REUSEPORT: it fails when another process already listens
// on the port (even with SO_REUSEPORT, which would otherwise silently share the port with it),
// and for port 0 it picks a free port for every worker to share.
uint16_t claimPort(const tcp::endpoint& endpoint) {
  net::io_context io;
  tcp::acceptor probe(io);
  probe.open(endpoint.protocol());
  probe.set_option(tcp::acceptor::reuse_address(true));
  probe.bind(endpoint);  // throws on failure: startup only
  return probe.local_endpoint().port();
}

}  // namespace

Server::Server(ServerOptions options) : options_(std::move(options)) {
  context_.defaults = options_.defaults;
  if (options_.tls) {
    tls_ = std::make_unique<net::ssl::context>(net::ssl::context::tls_server);
    tls_->set_options(net::ssl::context::default_workarounds | net::ssl::context::no_sslv2 |
                      net::ssl::context::no_sslv3);
    tls_->use_certificate_chain_file(options_.tls->cert_file);
    tls_->use_private_key_file(options_.tls->key_file, net::ssl::context::pem);
  }
  tcp::endpoint endpoint(resolveHost(options_.host), options_.port);
  endpoint.port(claimPort(endpoint));
  int threads = options_.threads < 1 ? 1 : options_.threads;
  for (int i = 0; i < threads; ++i) {
    auto worker = std::make_unique<Worker>();
    worker->acceptor.open(endpoint.protocol());
    worker->acceptor.set_option(tcp::acceptor::reuse_address(true));
    worker->acceptor.set_option(ReusePort(true));
    worker->acceptor.bind(endpoint);
    worker->acceptor.listen(net::socket_base::max_listen_connections);
    workers_.push_back(std::move(worker));
  }
  port_ = endpoint.port();
}

Server::~Server() { stop(); }

std::string Server::address() const {
  bool v6 = options_.host.find(':') != std::string::npos;
  std::string host = v6 ? "[" + options_.host + "]" : options_.host;
  return host + ":" + std::to_string(port_);
}

void Server::start() {
  for (auto& worker : workers_) {
    net::co_spawn(worker->io, acceptLoop(worker->acceptor, context_, tls_.get()), logException);
    worker->thread = std::thread([&io = worker->io] { io.run(); });
  }
}

void Server::stop() {
  for (auto& worker : workers_) {
    worker->io.stop();
  }
  for (auto& worker : workers_) {
    if (worker->thread.joinable()) {
      worker->thread.join();
    }
  }
}

}  // namespace tg::sim
