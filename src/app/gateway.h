#pragma once
// Gateway: the running process. create() does everything that can fail (TLS contexts,
// binding every listener on every worker) before any request is served, so an invalid setup
// never starts a half-working gateway. run() starts one thread per worker, each running its
// own io_context with its own accept loops (SO_REUSEPORT), and blocks until SIGINT/SIGTERM
// followed by a graceful drain: listeners close, idle connections close, in-flight requests
// and streams get `server.drain_timeout` to finish, then the process returns 0.

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "app/config_file.h"
#include "config/config.h"
#include "core/result.h"

namespace tg::app {

class Gateway {
 public:
  static core::Result<std::unique_ptr<Gateway>> create(GatewayConfig cfg);
  ~Gateway();
  // Where a reload reads the config from (`name` for error messages). Without one, a reload
  // (SIGHUP, POST /admin/reload) is refused.
  void setReloadSource(std::string name, std::function<GatewayLoadResult()> source);
  // Reloads now (from the thread that runs run(), or before it): validates the whole file and
  // applies it to new requests, or keeps the running config and returns the errors.
  bool reload(std::vector<std::string>* errors = nullptr);
  // Serves until a signal and the drain that follows; returns the process exit code.
  // SIGHUP reloads the config, SIGUSR1 reopens the log files.
  int run();
  // True when the drain timed out and connections were abandoned mid-request: the process
  // should then exit without destroying the gateway (coroutine frames still reference it).
  bool forcedStop() const;

 private:
  struct State;
  void reopenLogs();
  explicit Gateway(std::unique_ptr<State> s);
  std::unique_ptr<State> s_;
};

// Worker threads to run when the config says 0: the CPUs this process may run on.
unsigned defaultWorkers();

}  // namespace tg::app
