#pragma once
// Gateway: the running process. create() does everything that can fail (TLS contexts,
// binding every listener on every worker) before any request is served, so an invalid setup
// never starts a half-working gateway. run() starts one thread per worker, each running its
// own io_context with its own accept loops (SO_REUSEPORT), and blocks until SIGINT/SIGTERM
// followed by a graceful drain: listeners close, idle connections close, in-flight requests
// and streams get `server.drain_timeout` to finish, then the process returns 0.

#include <memory>

#include "app/config_file.h"
#include "config/config.h"
#include "core/result.h"

namespace tg::app {

class Gateway {
 public:
  static core::Result<std::unique_ptr<Gateway>> create(GatewayConfig cfg);
  ~Gateway();
  // Serves until a signal and the drain that follows; returns the process exit code.
  int run();
  // True when the drain timed out and connections were abandoned mid-request: the process
  // should then exit without destroying the gateway (coroutine frames still reference it).
  bool forcedStop() const;

 private:
  struct State;
  explicit Gateway(std::unique_ptr<State> s);
  std::unique_ptr<State> s_;
};

// Worker threads to run when the config says 0: the CPUs this process may run on.
unsigned defaultWorkers();

}  // namespace tg::app
