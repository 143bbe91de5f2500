#pragma once
// Session: one accepted client socket, served by one coroutine on its worker's thread from
// accept to close. It owns the socket's stream and the connection's state (ClientConn) and
// runs the pipeline (proxy/pipeline.h) once per request, strictly in order (pipelined
// requests wait in the read buffer), until the client closes, an error closes the connection,
// or the worker drains. TLS is handshaken first, under the header timeout.

#include <memory>

#include "io/stream.h"
#include "proxy/client_conn.h"
#include "proxy/exchange.h"

namespace tg::proxy {

class Worker;

class Session {
 public:
  Session(Worker& worker, http::tcp::socket sock, http::net::ssl::context* tls);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  http::Task<void> run();
  // Graceful shutdown: an idle connection closes now, a busy one after its response.
  void onDrain();

 private:
  Worker& worker_;
  std::unique_ptr<io::Stream> stream_;
  std::unique_ptr<ClientConn> conn_;
  Exchange exchange_;  // reused request after request
};

}  // namespace tg::proxy
