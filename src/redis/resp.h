#pragma once
// RESP on the wire: commands are encoded here (always as arrays of bulk strings, the form
// every Redis accepts), replies are parsed by hiredis's reader (redisReader*, <hiredis/read.h>),
// which builds our owned Reply tree directly through its object callbacks: no intermediate
// redisReply and no copy. Pure: no I/O, so the unit tests feed it bytes in any split.
//
// hiredis 0.14 speaks RESP2 (+ - : $ *), which is all a client that never sends HELLO 3 gets.
// Nesting deeper than 7 levels, an unknown type byte or a bad length is a protocol error, after
// which the reader is unusable (the connection must be reset).

#include <string>
#include <string_view>
#include <vector>

#include "redis/client.h"

struct redisReader;

namespace tg::redis {

// The pieces of a command: `*<n>\r\n`, then n times `$<len>\r\n<arg>\r\n`.
void appendArrayHeader(std::string& out, size_t n);
void appendBulk(std::string& out, std::string_view arg);

// Appends `*<n>\r\n` then `$<len>\r\n<arg>\r\n` per argument.
void appendCommand(std::string& out, const std::vector<std::string>& args);
void appendCommand(std::string& out, std::initializer_list<std::string_view> args);

class RespReader {
 public:
  RespReader();
  ~RespReader();
  RespReader(const RespReader&) = delete;
  RespReader& operator=(const RespReader&) = delete;

  // Appends received bytes (copied). False after a protocol error.
  bool feed(const char* data, size_t len);

  enum class Result { Reply, NeedMore, Error };
  // The next complete reply, if one is buffered. Error: the bytes are not RESP (see error()).
  Result next(Reply& out);
  // hiredis's description of the protocol error, e.g. `Protocol error, got "H" as reply type byte`.
  std::string_view error() const;

 private:
  redisReader* r_;
};

}  // namespace tg::redis
