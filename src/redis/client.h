#pragma once
// redis::Client: an asynchronous Redis client for ONE worker thread (one io_context), for
// standalone Redis and Redis Cluster. It is the transport under RedisStore and knows nothing
// about rate limits.
//
// Contract:
//   * Every call is made on the client's executor thread, and every callback runs there, never
//     inline inside the call (so a caller may hold state across the call safely).
//   * Commands are pipelined: one TCP (or TLS) connection per Redis node, commands written as
//     they come (several per write when they queue up), replies matched in order (hiredis's
//     RESP reader, redisReader*, is the parser).
//   * Each command completes exactly once: with the reply (a Redis error reply is a reply,
//     Reply::Type::Error), or with a transport Status: Timeout (no reply within
//     commandTimeout; the connection is then closed and reopened, since later replies can no
//     longer be matched: the commands behind it on that connection complete with Timeout
//     too), Unavailable (not connected: connecting, backing off after failures, or closed; or
//     the connection was lost with the command in flight) or Protocol (unparsable bytes; the
//     connection is reset, the commands in flight complete with Protocol). After Timeout,
//     Protocol or an Unavailable from a lost connection the command may or may not have run;
//     an Unavailable from a client that was not Up means it was never sent. A failing Redis
//     costs a caller at most connectTimeout/commandTimeout; while the client is Down, commands
//     fail at once with Unavailable (no queueing behind a dead server) and a background probe
//     reconnects with exponential backoff (reconnectMin doubling up to reconnectMax; the first
//     reconnect after losing an Up connection is immediate).
//   * On (re)connect: AUTH (password, or username + password for ACLs), SELECT database (not in
//     cluster mode), PING (proves a Redis answers), all in one write; then, when they succeeded
//     and options.functions, FUNCTION LOAD REPLACE of the function library (below; its own
//     write: Redis drops unauthenticated connections that send large arguments); then the
//     connection is Up. Diagnostics (core/log.h): one warning per outage and node with the first
//     reason, plus one per distinct refusal by a server that answers (Redis's own text for a wrong
//     password or database, "protocol error" for a server that is not Redis); the client stays
//     Down, probing, and logs at info level when the node is reachable again.
//   * Standalone: seeds[0] is the server (further seeds are ignored).
//   * Cluster mode: the slot map comes from CLUSTER SLOTS of any reachable seed; a command is
//     sent to the master owning the slot of its routing key (CRC16 of the hash tag, see
//     slotOf); MOVED updates the map (and schedules a full refresh) and retries at the new
//     address; ASK retries once at the given node preceded by ASKING. At most 5 redirects per
//     command, then it fails with Status::Protocol. A redirect to a node not connected yet
//     waits for that node's first connection attempt. The full slot map is refreshed (one
//     CLUSTER SLOTS at a time, at most every 200 ms) after MOVED, when a master's connection
//     is lost, when a command is routed to a master that is not up (its replica may have been
//     promoted), and every 30 s; nodes that no longer serve slots are disconnected. An empty
//     routing key goes to any master that is up.
//   * EVALSHA: eval() runs a Script by its SHA1; on NOSCRIPT it loads the script on that node
//     (SCRIPT LOAD) and retries once, transparently (both written at once: no extra round
//     trip). The client keeps a copy of each distinct script text it has seen, by SHA1.
//   * Redis Functions (Redis 7+; options.functions, on by default): every connection loads the
//     store's function library (scripts.h storeFunctionLibrary(): one function per store
//     script, its name and the library's carrying a hash of the texts, so gateways of different
//     versions never run each other's code under one name) in its handshake, and eval() of a
//     Script that the library holds sends FCALL <function> instead of EVALSHA on that
//     connection. A FUNCTION LOAD that the server refuses (an error reply: Redis < 7, an ACL
//     without +function, a read-only replica) does not fail the connection: that connection
//     uses EVALSHA as above, with one info line per node and reason. "ERR Function not found"
//     (FUNCTION FLUSH, a restart without persistence, a failover to a node without the
//     library) is handled like NOSCRIPT: the library is loaded again on that node
//     (FUNCTION LOAD REPLACE, written just before the retried FCALL) and the command retried
//     once, transparently. Scripts not in the library always use EVALSHA.

#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace tg::redis {

// An owned RESP reply.
struct Reply {
  enum class Type : uint8_t { Nil, Status, Error, Integer, String, Array, Double };
  Type type = Type::Nil;
  int64_t integer = 0;  // Integer
  std::string str;      // Status, Error, String, Double (as text)
  std::vector<Reply> elements;  // Array
  bool isError() const { return type == Type::Error; }
};

enum class Status : uint8_t { Ok, Timeout, Unavailable, Protocol };
std::string_view statusName(Status s);  // "ok", "timeout", "unavailable", "protocol"

struct Endpoint {
  std::string host;  // IP address or name
  uint16_t port = 6379;
};

struct Options {
  std::vector<Endpoint> seeds;  // standalone: the server; cluster: any nodes of the cluster
  bool cluster = false;
  std::string username;  // ACL user; empty = AUTH <password> only
  std::string password;  // empty = no AUTH
  uint32_t database = 0;  // SELECT (standalone only)
  bool tls = false;
  std::string caFile;      // empty = system CAs
  bool tlsVerify = true;
  std::string serverName;  // SNI / verified name; empty = the host
  std::chrono::milliseconds connectTimeout{1000};
  std::chrono::milliseconds commandTimeout{1000};
  std::chrono::milliseconds reconnectMin{100};
  std::chrono::milliseconds reconnectMax{5000};
  // Run the store's scripts as Redis Functions (FCALL) where the server allows it; false:
  // always EVALSHA.
  bool functions = true;
};

// A Lua script and its SHA1 (hex, lower case), computed once.
struct Script {
  explicit Script(std::string text);
  std::string text;
  std::string sha1;
};

// A Redis Functions library (FUNCTION LOAD code) and, for each function it registers, the
// SHA1 of the Script whose text that function runs: eval() of that Script calls the function.
struct FunctionLibrary {
  struct Function {
    std::string name;        // for FCALL
    std::string scriptSha1;  // Script::sha1 of the text it runs
  };
  std::string name;  // the library's (#!lua name=...)
  std::string code;
  std::vector<Function> functions;
};

// CRC16 (XMODEM) of the key's hash tag ({...}, Redis rules) mod 16384.
uint16_t slotOf(std::string_view key);

using Callback = std::function<void(Status, Reply&&)>;

enum class Health : uint8_t { Up, Down };

class Client {
 public:
  Client(boost::asio::any_io_executor ex, Options options);
  ~Client();  // pending callbacks complete with Unavailable (posted), connections close
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Starts connecting (and, in cluster mode, loading the slot map). Commands sent before the
  // first connection is up fail with Unavailable.
  void start();

  // Sends one command. `routingKey`: the key that picks the cluster node (ignored standalone;
  // empty = any node).
  void command(std::vector<std::string> args, std::string_view routingKey, Callback done);

  // EVALSHA script.sha1 numkeys keys... args... with NOSCRIPT handling, or FCALL of the
  // library function that runs the script (see Redis Functions above). Routed by keys[0].
  void eval(const Script& script, std::vector<std::string> keys, std::vector<std::string> args,
            Callback done);

  // Up when at least one connection is usable (standalone: the server's; cluster: the slot map
  // is known and its masters are reachable).
  Health health() const;

  // Closes every connection; pending commands complete with Unavailable.
  void stop();

  // Stops (as stop()) once every command sent so far has completed: at once when none is
  // pending. For a graceful shutdown that must not drop what it already sent.
  void stopWhenIdle();

 private:
  struct Impl;
  // Counts a command as outstanding until its callback has run (stopWhenIdle).
  Callback counted(Callback done);
  std::shared_ptr<Impl> impl_;
};

}  // namespace tg::redis
