#pragma once
// HTTP field handling shared by the client and upstream sides: a flat list of fields that
// views bytes owned elsewhere, and the RFC 9110 rules for which fields a proxy must not
// forward. Pure functions; no I/O.

#include <cstdint>
#include <optional>
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
// The same, telling an absent field (nullopt) from an empty one.
std::optional<std::string_view> headerValue(const HeaderList& headers, std::string_view name);
bool hasHeader(const HeaderList& headers, std::string_view name);

// The fields a proxy treats specially, recognised by classifyField() in one switch on the
// name's length: the forwarding loops classify every field of every request and response, so
// this replaces a dozen case-insensitive comparisons per field with one or two.
enum class Field : uint8_t {
  Other,
  HopByHop,  // isHopByHop() below
  Host,
  ContentLength,
  ContentEncoding,
  AcceptEncoding,
  Expect,
  XRequestId,
  XForwardedFor,
  XForwardedProto,
  XForwardedHost,
  XRealIp,
  Forwarded,
  XMseConsumer,
  XTokengate,  // any x-tokengate-* field
  XRatelimit,  // any x-ratelimit-* field
};
Field classifyField(std::string_view name);

// RFC 9110 §7.6.1: fields that describe one connection and are never forwarded
// (Connection, Keep-Alive, Proxy-Connection, TE, Trailer, Transfer-Encoding, Upgrade,
// Proxy-Authenticate, Proxy-Authorization).
bool isHopByHop(std::string_view name);

// Hop-by-hop fields plus every field named in a Connection header of `headers`.
// Allocation-free: it keeps a view of `headers`, which must outlive it, and scans their
// Connection values again only when one names a field other than a hop-by-hop one ("close",
// "keep-alive" and the like, what clients send, cost nothing).
class HopByHop {
 public:
  explicit HopByHop(const HeaderList& headers);
  bool contains(std::string_view name) const;
  // Only the fields named by Connection (for a name already classified as not HopByHop).
  bool namedByConnection(std::string_view name) const;

 private:
  const HeaderList& headers_;
  bool namesOthers_ = false;  // a Connection token that is neither hop-by-hop nor "close"
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
