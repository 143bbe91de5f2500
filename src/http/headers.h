#pragma once
// HTTP field handling shared by the client and upstream sides: a flat list of fields that
// views bytes owned elsewhere, and the RFC 9110 rules for which fields a proxy must not
// forward. Pure functions; no I/O.

#include <string>
#include <string_view>
#include <vector>

namespace tg::http {

struct HeaderField {
  std::string_view name;
  std::string_view value;
};

using HeaderList = std::vector<HeaderField>;

// First value of `name` (case-insensitive), or "" when absent.
std::string_view findHeader(const HeaderList& headers, std::string_view name);
bool hasHeader(const HeaderList& headers, std::string_view name);

// RFC 9110 §7.6.1: fields that describe one connection and are never forwarded
// (Connection, Keep-Alive, Proxy-Connection, TE, Trailer, Transfer-Encoding, Upgrade,
// Proxy-Authenticate, Proxy-Authorization).
bool isHopByHop(std::string_view name);

// Hop-by-hop fields plus every field named in a Connection header of `headers`.
class HopByHop {
 public:
  explicit HopByHop(const HeaderList& headers);
  bool contains(std::string_view name) const;

 private:
  std::vector<std::string_view> connectionTokens_;
};

// Appends "Name: value\r\n".
inline void appendField(std::string& out, std::string_view name, std::string_view value) {
  out.append(name);
  out.append(": ");
  out.append(value);
  out.append("\r\n");
}

// Appends the hex chunk-size line of an HTTP/1.1 chunk ("1a2b\r\n").
void appendChunkHeader(std::string& out, size_t size);

// The reason phrase of a status code (RFC 9110 names), "Error" for one not listed.
const char* reasonPhrase(int status);

// A complete HTTP/1.1 response a server answers itself: status line, Content-Type,
// Content-Length, `extraHeaders` (complete "Name: value\r\n" lines), "Connection: close" when
// `close`, the blank line and the body. Used by the gateway's own answers and the admin API.
std::string buildResponse(int status, std::string_view contentType, std::string_view body,
                          bool close, std::string_view extraHeaders = {});

}  // namespace tg::http
