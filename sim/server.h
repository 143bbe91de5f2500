#pragma once

// Server: the simulator's listeners and connection loop.
//
// Threads: `threads` workers, each with its own io_context and its own listening socket bound to
// the same address with SO_REUSEPORT, so the kernel spreads connections over them. A connection
// lives on the thread that accepted it, as one coroutine (runSession) that reads requests with
// keep-alive and pipelining (bytes after one request stay buffered for the next) and answers them
// with respond() from responder.h. Port 0 picks a free port once and binds every worker to it;
// address() reports the real one. A port another process already listens on is an error, even
// if that process used SO_REUSEPORT too.
//
// Lifetime: the constructor binds (it throws on failure: startup only). start() spawns the
// workers; stop() may be called from any thread, stops every io_context and joins the workers.
// In-flight connections are dropped. The destructor calls stop().

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "knobs.h"
#include "responder.h"

namespace tg::sim {

struct TlsFiles {
  std::string cert_file;  // PEM certificate chain
  std::string key_file;   // PEM private key
};

struct ServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 0;
  int threads = 1;
  std::optional<TlsFiles> tls;  // set: HTTPS instead of plain HTTP
  Knobs defaults;               // instance-wide knob defaults
};

class Server {
 public:
  explicit Server(ServerOptions options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // "HOST:PORT" as listened on, with the real port ("[v6]:PORT" for IPv6 addresses).
  std::string address() const;
  // Spawns the worker threads; returns at once.
  void start();
  // Stops and joins the workers. Idempotent.
  void stop();

 private:
  struct Worker {
    net::io_context io{1};
    net::ip::tcp::acceptor acceptor{io};
    std::thread thread;
  };

  ServerOptions options_;
  uint16_t port_ = 0;
  SimContext context_;
  std::unique_ptr<net::ssl::context> tls_;
  // Declared last: workers' sockets and coroutines refer to the members above.
  std::vector<std::unique_ptr<Worker>> workers_;
};

}  // namespace tg::sim
