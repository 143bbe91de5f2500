#pragma once
// A real redis-server for a test: started on a free loopback port with the given extra
// arguments (no persistence, no protected mode), waited for (PING answers), and stopped (SIGTERM,
// then SIGKILL) when the object dies. kill()/restart() simulate an outage on the same port.
// Header-only so every test executable can use it.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

namespace tg::testing {

// A port nobody listens on right now (bind to 0, read it, close).
inline uint16_t freeLoopbackPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  uint16_t port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
    port = ntohs(a.sin_port);
  }
  ::close(fd);
  return port;
}

inline bool redisServerAvailable() { return std::system("command -v redis-server >/dev/null 2>&1") == 0; }

class RedisServer {
 public:
  explicit RedisServer(std::vector<std::string> extraArgs = {}, uint16_t port = 0)
      : port_(port ? port : freeLoopbackPort()), extra_(std::move(extraArgs)) {
    start();
  }
  ~RedisServer() { kill(); }
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  uint16_t port() const { return port_; }
  bool running() const { return pid_ > 0; }

  // Starts (again) on the same port; true once it answers PING (within 5 s).
  bool start() {
    if (pid_ > 0) {
      return true;
    }
    std::vector<std::string> args = {"redis-server", "--port", std::to_string(port_),
                                      "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                                      "--protected-mode", "no", "--loglevel", "warning"};
    for (const auto& a : extra_) {
      args.push_back(a);
    }
    pid_ = ::fork();
    if (pid_ == 0) {
      std::vector<char*> argv;
      for (auto& a : args) {
        argv.push_back(a.data());
      }
      argv.push_back(nullptr);
      ::execvp("redis-server", argv.data());
      ::_exit(127);
    }
    for (int i = 0; i < 500; ++i) {
      if (ping()) {
        return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }

  // Stops the server now (SIGKILL: an outage, not a shutdown).
  void kill() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
      pid_ = -1;
    }
  }

  // redis-cli against this server; returns its stdout (trailing newline removed).
  std::string cli(const std::string& args) const {
    std::string cmd = "redis-cli -h 127.0.0.1 -p " + std::to_string(port_) + " " + args;
    std::string out;
    if (FILE* f = ::popen(cmd.c_str(), "r")) {
      char buf[4096];
      size_t n;
      while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) {
        out.append(buf, n);
      }
      ::pclose(f);
    }
    while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) {
      out.pop_back();
    }
    return out;
  }

 private:
  bool ping() const {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port_);
    bool ok = false;
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
      const char ping[] = "PING\r\n";
      char buf[64] = {};
      // A server that requires AUTH answers -NOAUTH: it is up all the same.
      ok = ::write(fd, ping, sizeof ping - 1) == sizeof ping - 1 && ::read(fd, buf, sizeof buf) > 0;
    }
    ::close(fd);
    return ok;
  }

  uint16_t port_;
  std::vector<std::string> extra_;
  pid_t pid_ = -1;
};

}  // namespace tg::testing
