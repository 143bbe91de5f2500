#pragma once
// Connection: the client's link to ONE Redis node (one TCP or TLS connection at a time), with
// its own reconnect loop. Single-threaded: used on the client's executor thread only.
//
// Life cycle (one coroutine, run()):
//   Connecting -> resolve, connect, TLS, then AUTH / SELECT / PING written at once and their
//                 replies read, then (with a library) FUNCTION LOAD REPLACE written and its
//                 reply read, all within connectTimeout; an error reply to FUNCTION LOAD only
//                 means that this session runs scripts with EVALSHA (functionsLoaded() false,
//                 one info line);
//   Up         -> commands are written as they come (one write in flight, later commands
//                 batched behind it) and replies matched in order (FIFO `pending_`);
//   lost       -> every request in flight fails (Timeout when a command timed out, Protocol on
//                 unparsable bytes, Unavailable otherwise), then one immediate reconnect;
//   Backoff    -> after a failed attempt: wait reconnectMin, doubling up to reconnectMax;
//   Closed     -> stop(): nothing pending, no reconnect.
// While not Up, send() fails at once with Unavailable, except when the caller allows waiting
// for a connection that is being opened (redirects to a node just learned of): those requests
// wait for that attempt only.
//
// Command timeouts cost one steady_timer per connection: it is armed for the oldest command's
// deadline (deadlines grow with the FIFO) and, when it fires early, re-armed for the new
// oldest. A timed-out command resets the connection, since the replies that follow can no
// longer be matched.
//
// Completions go to the owner (ConnectionOwner::onReply, called synchronously from the read
// loop or from send()/stop()) which routes, retries or posts the user callback. Detached (no
// owner), the connection posts user callbacks itself.

#include <chrono>
#include <deque>
#include <memory>
#include <string>

#include "io/asio.h"
#include "redis/client.h"

namespace boost::asio::ssl {
class context;
}

namespace tg::redis {

namespace net = boost::asio;

// A script that eval() runs, kept by the client for as long as it lives: its text (SCRIPT
// LOAD), SHA1 (EVALSHA) and the library function that runs it (FCALL; empty: none).
struct EvalScript {
  std::string text;
  std::string sha1;
  std::string function;
};

// A command on its way, owned by whoever handles it now (a connection's queue, the client).
struct Request {
  // The encoded command (RESP array). For an eval (`script` set): only what follows the
  // script's name (numkeys, keys, args: `evalArgs` elements); the connection writes the head,
  // FCALL <function> or EVALSHA <sha1>, as it runs scripts.
  std::string wire;
  Callback done;
  uint16_t slot = 0;
  bool routed = false;    // cluster: `slot` is meaningful (the command has a routing key)
  uint8_t redirects = 0;  // MOVED / ASK followed so far
  const EvalScript* script = nullptr;
  size_t evalArgs = 0;
  bool sentAsFunction = false;    // the last write of it was an FCALL
  bool scriptReloaded = false;    // SCRIPT LOAD retry done (NOSCRIPT)
  bool functionReloaded = false;  // FUNCTION LOAD retry done (Function not found)
};
using RequestPtr = std::unique_ptr<Request>;

// Completes `req` by posting its callback to `ex` (never inline).
void complete(const net::any_io_executor& ex, RequestPtr req, Status status, Reply&& reply);

class Connection;

class ConnectionOwner {
 public:
  virtual void onReply(Connection& from, RequestPtr req, Status status, Reply&& reply) = 0;
  // The connection went Up, or stopped being Up, or an attempt failed.
  virtual void onStateChange(Connection& c) = 0;

 protected:
  ~ConnectionOwner() = default;
};

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  enum class State : uint8_t { Connecting, Up, Backoff, Closed };
  // What send() writes just before the command, its reply discarded. ScriptLoad: loads the
  // request's script the way this connection will run it (FUNCTION LOAD REPLACE of the library
  // before an FCALL, SCRIPT LOAD before an EVALSHA).
  enum class Prefix : uint8_t { None, Asking, ScriptLoad };
  using Clock = std::chrono::steady_clock;

  Connection(net::any_io_executor ex, Endpoint endpoint, std::shared_ptr<const Options> options,
             std::shared_ptr<net::ssl::context> tls, bool select, ConnectionOwner* owner,
             const FunctionLibrary* library = nullptr);  // null: EVALSHA only
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  void start();
  // Closes now; every pending or waiting request completes with Unavailable; no reconnect.
  void stop();
  // Stops once the requests in flight are answered (a node that left the slot map).
  void retire();
  void detach() { owner_ = nullptr; }

  // Writes `req` (Up), holds it until the current attempt ends (Connecting and `mayWait`),
  // or fails it with Unavailable.
  void send(RequestPtr req, Prefix prefix = Prefix::None, bool mayWait = false);

  State state() const { return state_; }
  bool up() const { return state_ == State::Up; }
  const Endpoint& endpoint() const { return endpoint_; }
  const std::string& key() const { return key_; }
  // Why the last attempt or connection failed ("" after a success).
  const std::string& lastError() const { return lastError_; }
  // The library is loaded on the current session: evals of its scripts go as FCALL.
  bool functionsLoaded() const { return functions_; }

 private:
  struct Session;
  struct Pending {
    RequestPtr req;  // null: the reply of a prefix (ASKING, SCRIPT LOAD) to discard
    Clock::time_point deadline;
    bool functionLoad = false;  // a FUNCTION LOAD prefix: an error turns functions off
  };

  net::awaitable<void> run();
  net::awaitable<std::shared_ptr<Session>> connect(std::string& error);
  net::awaitable<Status> readLoop(std::shared_ptr<Session> s, std::string& why);
  void write(Session& s);
  void armDeadline(Clock::time_point at);
  void onDeadline();
  void finish(RequestPtr req, Status status, Reply&& reply);
  void failAll(Status status);
  void noteFailure(const std::string& why, bool byServer);
  void noteFunctions(const std::string& refused);  // "" = loaded
  void setState(State s);

  net::any_io_executor ex_;
  Endpoint endpoint_;
  std::string key_;
  std::shared_ptr<const Options> options_;
  std::shared_ptr<net::ssl::context> tls_;
  bool select_;
  ConnectionOwner* owner_;
  const FunctionLibrary* library_;

  State state_ = State::Connecting;
  bool started_ = false;
  bool retiring_ = false;
  std::shared_ptr<Session> session_;     // the Up session
  std::shared_ptr<Session> connecting_;  // the session being opened
  Clock::time_point connectDeadline_ = Clock::time_point::max();
  std::deque<Pending> pending_;
  std::deque<RequestPtr> waiting_;

  net::steady_timer deadline_;
  Clock::time_point deadlineAt_ = Clock::time_point::max();
  bool deadlineArmed_ = false;
  uint64_t deadlineGen_ = 0;
  net::steady_timer backoff_;

  std::string lastError_;
  bool failureByServer_ = false;  // the last connect() failed on an answer, not transport
  bool inOutage_ = false;         // a failure was logged and the node has not been Up since
  Clock::time_point outageStart_{};
  std::string loggedError_;       // the last reason logged in this outage
  bool functions_ = false;        // the library is loaded on session_
  std::string functionsRefused_;  // the last FUNCTION LOAD refusal logged ("" = none)
};

}  // namespace tg::redis
