#include "proxy/session.h"

#include "proxy/pipeline.h"
#include "proxy/worker.h"

namespace tg::proxy {

namespace {

std::string peerAddress(http::tcp::socket& s) {
  http::error_code ec;
  auto ep = s.remote_endpoint(ec);
  if (ec) {
    return "unknown";
  }
  auto addr = ep.address();
  if (addr.is_v6() && addr.to_v6().is_v4_mapped()) {
    return http::net::ip::make_address_v4(http::net::ip::v4_mapped, addr.to_v6()).to_string();
  }
  return addr.to_string();
}

std::unique_ptr<io::Stream> makeStream(http::tcp::socket sock, http::net::ssl::context* tls) {
  return tls ? std::make_unique<io::Stream>(std::move(sock), *tls)
             : std::make_unique<io::Stream>(std::move(sock));
}

}  // namespace

Session::Session(Worker& worker, http::tcp::socket sock, http::net::ssl::context* tls)
    : worker_(worker), stream_(makeStream(std::move(sock), tls)) {
  std::string ip = peerAddress(stream_->socket());
  conn_ = std::make_unique<ClientConn>(*stream_, worker.io().get_executor(), worker.config().limits,
                                       std::move(ip));
  worker_.attach(this);
}

Session::~Session() {
  conn_.reset();  // stops the deadline before the stream goes
  worker_.detach(this);
}

void Session::onDrain() {
  if (conn_->reader.idle()) {
    stream_->cancel();
  }
}

http::Task<void> Session::run() {
  http::error_code ec;
  stream_->socket().set_option(http::tcp::no_delay(true), ec);
  if (stream_->isTls()) {
    conn_->deadline.expiresAfter(conn_->limits.headerTimeout);
    co_await stream_->handshakeServer(ec);
    if (ec) {
      stream_->close();
      co_return;
    }
  }
  const Services& services = worker_.services();
  while (!worker_.draining() && stream_->isOpen()) {
    const bool keepAlive = co_await serveExchange(*conn_, exchange_, services);
    if (!keepAlive) {
      break;
    }
  }
  conn_->deadline.clear();
  stream_->close();
}

}  // namespace tg::proxy
