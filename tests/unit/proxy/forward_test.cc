// proxy/forward.h: the request head sent upstream and the response head sent to the client.

#include "proxy/forward.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "core/strings.h"

namespace tg::proxy {
namespace {

using Fields = std::vector<std::pair<std::string, std::string>>;

// A head split into its first line and fields, to assert on without caring about order.
struct Head {
  std::string firstLine;
  Fields fields;
  bool terminated = false;  // ended with an empty line

  std::vector<std::string> all(std::string_view name) const {
    std::vector<std::string> out;
    for (const auto& [n, v] : fields) {
      if (core::iequals(n, name)) {
        out.push_back(v);
      }
    }
    return out;
  }
  size_t count(std::string_view name) const { return all(name).size(); }
  std::string one(std::string_view name) const {
    auto v = all(name);
    EXPECT_EQ(v.size(), 1u) << "field " << name;
    return v.empty() ? "<absent>" : v[0];
  }
};

Head parseHead(const std::string& s) {
  Head h;
  size_t pos = 0;
  bool first = true;
  while (pos < s.size()) {
    size_t eol = s.find("\r\n", pos);
    if (eol == std::string::npos) {
      ADD_FAILURE() << "unterminated line in: " << s;
      break;
    }
    std::string line = s.substr(pos, eol - pos);
    pos = eol + 2;
    if (first) {
      h.firstLine = line;
      first = false;
      continue;
    }
    if (line.empty()) {
      h.terminated = true;
      EXPECT_EQ(pos, s.size()) << "bytes after the head";
      break;
    }
    size_t colon = line.find(": ");
    if (colon == std::string::npos) {
      ADD_FAILURE() << "malformed field line: " << line;
      continue;
    }
    h.fields.emplace_back(line.substr(0, colon), line.substr(colon + 2));
  }
  return h;
}

config::UpstreamConfig upstream(const std::string& url) {
  config::UpstreamConfig u;
  u.name = "up";
  u.url = url;
  std::string err = config::parseUpstreamUrl(url, u);
  EXPECT_EQ(err, "");
  return u;
}

http::Request request(std::string_view method, http::HeaderList headers, std::string body = "") {
  http::Request r;
  r.method = method;
  r.target = "/v1/chat/completions";
  r.headers = std::move(headers);
  r.body = std::move(body);
  for (const auto& f : r.headers) {
    if (core::iequals(f.name, "content-length")) {
      r.contentLength = std::stoull(std::string(f.value));
    }
  }
  return r;
}

ForwardInfo info(unsigned trusted = 0) {
  ForwardInfo i;
  i.clientIp = "10.0.0.1";
  i.clientTls = false;
  i.requestId = "req-gw-1";
  i.trustedProxies = trusted;
  return i;
}

Head forward(const http::Request& req, const config::UpstreamConfig& up,
             const ForwardInfo& fi = info(), std::string_view target = "/v1/chat/completions") {
  std::string out;
  buildUpstreamRequest(out, req, up, target, fi);
  Head h = parseHead(out);
  EXPECT_TRUE(h.terminated) << out;
  return h;
}

// ---------------------------------------------------------------------------------------------
// buildUpstreamRequest

TEST(BuildUpstreamRequestTest, RequestLineUsesMethodTargetAndHttp11) {
  auto req = request("POST", {{"Host", "gw.local"}});
  req.version = 10;
  Head h = forward(req, upstream("http://up:8000"), info(), "/base/v1/x?y=1");
  EXPECT_EQ(h.firstLine, "POST /base/v1/x?y=1 HTTP/1.1");
}

TEST(BuildUpstreamRequestTest, HostIsReplacedByUpstreamAuthority) {
  auto req = request("GET", {{"host", "gateway.example.com:8080"}});
  EXPECT_EQ(forward(req, upstream("https://api.openai.com")).one("Host"), "api.openai.com");
  EXPECT_EQ(forward(req, upstream("http://10.0.0.7:8000/x")).one("Host"), "10.0.0.7:8000");
  EXPECT_EQ(forward(req, upstream("http://[::1]:9000")).one("Host"), "[::1]:9000");
  EXPECT_EQ(forward(req, upstream("https://[::1]")).one("Host"), "[::1]");
}

TEST(BuildUpstreamRequestTest, HostIsTheFirstField) {
  auto req = request("GET", {{"Accept", "*/*"}, {"Host", "gw"}});
  Head h = forward(req, upstream("http://up"));
  ASSERT_FALSE(h.fields.empty());
  EXPECT_EQ(h.fields[0].first, "Host");
}

TEST(BuildUpstreamRequestTest, OriginalHostIsForwardedAsXForwardedHost) {
  auto req = request("GET", {{"Host", "gateway.example.com:8080"}});
  EXPECT_EQ(forward(req, upstream("http://up")).one("X-Forwarded-Host"),
            "gateway.example.com:8080");
}

TEST(BuildUpstreamRequestTest, NoXForwardedHostWithoutClientHost) {
  auto req = request("GET", {{"X-Forwarded-Host", "spoofed"}});
  EXPECT_EQ(forward(req, upstream("http://up")).count("X-Forwarded-Host"), 0u);
}

TEST(BuildUpstreamRequestTest, HopByHopFieldsAreDropped) {
  auto req = request("POST",
                     {{"Host", "gw"},
                      {"Connection", "keep-alive"},
                      {"Keep-Alive", "timeout=5"},
                      {"Proxy-Connection", "keep-alive"},
                      {"TE", "trailers"},
                      {"Trailer", "X-Checksum"},
                      {"Transfer-Encoding", "chunked"},
                      {"Upgrade", "websocket"},
                      {"Proxy-Authorization", "Basic eA=="},
                      {"Proxy-Authenticate", "Basic"},
                      {"Content-Type", "application/json"}},
                     "{}");
  req.chunked = true;
  Head h = forward(req, upstream("http://up"));
  for (const char* n :
       {"Connection", "Keep-Alive", "Proxy-Connection", "TE", "Trailer", "Transfer-Encoding",
        "Upgrade", "Proxy-Authorization", "Proxy-Authenticate"}) {
    EXPECT_EQ(h.count(n), 0u) << n;
  }
  EXPECT_EQ(h.one("Content-Type"), "application/json");
}

TEST(BuildUpstreamRequestTest, FieldsNamedInConnectionAreDropped) {
  auto req = request("GET", {{"Host", "gw"},
                             {"Connection", "close, X-Client-Secret"},
                             {"x-client-secret", "hunter2"},
                             {"X-Kept", "yes"}});
  Head h = forward(req, upstream("http://up"));
  EXPECT_EQ(h.count("X-Client-Secret"), 0u);
  EXPECT_EQ(h.one("X-Kept"), "yes");
}

TEST(IsGatewayOnlyHeaderTest, CoversGatewayOwnedNames) {
  for (const char* n : {"x-mse-consumer", "X-MSE-Consumer", "x-tokengate-key",
                        "X-TokenGate-Anything", "x-request-id", "X-Forwarded-For",
                        "x-forwarded-proto", "X-Forwarded-Host", "X-Real-IP", "Forwarded"}) {
    EXPECT_TRUE(isGatewayOnlyHeader(n)) << n;
  }
  for (const char* n : {"x-tokengate", "x-mse", "x-request-ids", "x-forwarded", "Authorization",
                        "x-upstream-request-id"}) {
    EXPECT_FALSE(isGatewayOnlyHeader(n)) << n;
  }
}

TEST(BuildUpstreamRequestTest, GatewayOnlyFieldsFromClientAreRemovedAndReset) {
  auto req = request("POST",
                     {{"Host", "gw.example.com"},
                      {"x-mse-consumer", "admin"},
                      {"X-TokenGate-Budget", "unlimited"},
                      {"X-Request-Id", "client-chosen"},
                      {"X-Forwarded-For", "6.6.6.6"},
                      {"X-Forwarded-Proto", "https"},
                      {"X-Forwarded-Host", "spoofed.example.com"},
                      {"X-Real-IP", "6.6.6.6"},
                      {"Forwarded", "for=6.6.6.6"}},
                     "{}");
  Head h = forward(req, upstream("http://up"));
  EXPECT_EQ(h.count("x-mse-consumer"), 0u);
  EXPECT_EQ(h.count("X-TokenGate-Budget"), 0u);
  EXPECT_EQ(h.count("X-Real-IP"), 0u);
  EXPECT_EQ(h.count("Forwarded"), 0u);
  EXPECT_EQ(h.one("x-request-id"), "req-gw-1");
  EXPECT_EQ(h.one("X-Forwarded-For"), "10.0.0.1");
  EXPECT_EQ(h.one("X-Forwarded-Proto"), "http");
  EXPECT_EQ(h.one("X-Forwarded-Host"), "gw.example.com");
}

TEST(BuildUpstreamRequestTest, ForwardedProtoIsHttpsForTlsClients) {
  auto req = request("GET", {{"Host", "gw"}});
  ForwardInfo fi = info();
  fi.clientTls = true;
  EXPECT_EQ(forward(req, upstream("http://up"), fi).one("X-Forwarded-Proto"), "https");
}

TEST(BuildUpstreamRequestTest, UpstreamRemoveIsCaseInsensitive) {
  auto up = upstream("http://up");
  up.removeHeaders = {"X-Debug", "cookie"};
  auto req = request(
      "GET",
      {{"Host", "gw"}, {"x-debug", "1"}, {"X-DEBUG", "2"}, {"Cookie", "a=b"}, {"X-Other", "k"}});
  Head h = forward(req, up);
  EXPECT_EQ(h.count("X-Debug"), 0u);
  EXPECT_EQ(h.count("Cookie"), 0u);
  EXPECT_EQ(h.one("X-Other"), "k");
}

TEST(BuildUpstreamRequestTest, UpstreamSetReplacesClientValueCaseInsensitively) {
  auto up = upstream("http://up");
  up.setHeaders = {{"authorization", "Bearer sk-provider"}};
  auto req = request(
      "GET",
      {{"Host", "gw"}, {"Authorization", "Bearer client-key"}, {"AUTHORIZATION", "Bearer second"}});
  Head h = forward(req, up);
  EXPECT_EQ(h.all("Authorization"), (std::vector<std::string>{"Bearer sk-provider"}));
}

TEST(BuildUpstreamRequestTest, UpstreamSetAddsWhenClientSentNothing) {
  auto up = upstream("http://up");
  up.setHeaders = {{"Authorization", "Bearer sk-provider"}, {"OpenAI-Organization", "org"}};
  Head h = forward(request("GET", {{"Host", "gw"}}), up);
  EXPECT_EQ(h.one("Authorization"), "Bearer sk-provider");
  EXPECT_EQ(h.one("OpenAI-Organization"), "org");
}

TEST(BuildUpstreamRequestTest, UpstreamAddKeepsClientValue) {
  auto up = upstream("http://up");
  up.addHeaders = {{"x-tag", "gateway"}};
  auto req = request("GET", {{"Host", "gw"}, {"X-Tag", "client"}});
  Head h = forward(req, up);
  EXPECT_EQ(h.all("X-Tag"), (std::vector<std::string>{"client", "gateway"}));
}

TEST(BuildUpstreamRequestTest, RemoveThenSetThenAddInOrder) {
  auto up = upstream("http://up");
  up.removeHeaders = {"x-a"};
  up.setHeaders = {{"X-A", "set"}};
  up.addHeaders = {{"X-A", "added"}};
  Head h = forward(request("GET", {{"Host", "gw"}, {"x-a", "client"}}), up);
  EXPECT_EQ(h.all("x-a"), (std::vector<std::string>{"set", "added"}));
}

TEST(BuildUpstreamRequestTest, ContentLengthIsRecomputedFromBody) {
  auto req = request("POST", {{"Host", "gw"}, {"Content-Length", "999"}}, "hello");
  EXPECT_EQ(forward(req, upstream("http://up")).one("Content-Length"), "5");
}

TEST(BuildUpstreamRequestTest, DechunkedBodyGetsContentLength) {
  auto req = request("POST", {{"Host", "gw"}, {"Transfer-Encoding", "chunked"}}, "0123456789");
  req.chunked = true;
  Head h = forward(req, upstream("http://up"));
  EXPECT_EQ(h.one("Content-Length"), "10");
  EXPECT_EQ(h.count("Transfer-Encoding"), 0u);
}

TEST(BuildUpstreamRequestTest, EmptyChunkedBodyGetsContentLengthZero) {
  auto req = request("POST", {{"Host", "gw"}, {"Transfer-Encoding", "chunked"}});
  req.chunked = true;
  EXPECT_EQ(forward(req, upstream("http://up")).one("Content-Length"), "0");
}

TEST(BuildUpstreamRequestTest, ExplicitZeroContentLengthIsKept) {
  auto req = request("POST", {{"Host", "gw"}, {"Content-Length", "0"}});
  EXPECT_EQ(forward(req, upstream("http://up")).one("Content-Length"), "0");
}

TEST(BuildUpstreamRequestTest, BodylessRequestHasNoContentLength) {
  auto req = request("GET", {{"Host", "gw"}});
  EXPECT_EQ(forward(req, upstream("http://up")).count("Content-Length"), 0u);
}

TEST(BuildUpstreamRequestTest, ExpectIsDropped) {
  auto req =
      request("POST", {{"Host", "gw"}, {"Expect", "100-continue"}, {"Content-Length", "2"}}, "{}");
  req.expectContinue = true;
  EXPECT_EQ(forward(req, upstream("http://up")).count("Expect"), 0u);
}

TEST(BuildUpstreamRequestTest, EndToEndFieldsPassThroughUnchanged) {
  auto req = request("POST",
                     {{"Host", "gw"},
                      {"Content-Type", "application/json"},
                      {"Accept", "text/event-stream"},
                      {"User-Agent", "OpenAI/Python 1.0"},
                      {"Authorization", "Bearer client"}},
                     "{}");
  Head h = forward(req, upstream("http://up"));
  EXPECT_EQ(h.one("Content-Type"), "application/json");
  EXPECT_EQ(h.one("Accept"), "text/event-stream");
  EXPECT_EQ(h.one("User-Agent"), "OpenAI/Python 1.0");
  EXPECT_EQ(h.one("Authorization"), "Bearer client");
}

// Regression (was a bug in src/proxy/forward.cc buildUpstreamRequest, with src/config/loader.cc accepting it):
// `headers.set: {Host: ...}` is documented as "replace (or add) a header", and the loader
// accepts it, but the gateway writes its own Host first and then the set value, so the upstream
// receives two Host fields (RFC 9112 §3.2: a server MUST answer 400). Fixed: the set value replaces the gateway's Host.
TEST(BuildUpstreamRequestTest, UpstreamSetHostDoesNotDuplicateHost) {
  auto up = upstream("http://up");
  up.setHeaders = {{"Host", "virtual.example.com"}};
  Head h = forward(request("GET", {{"Host", "gw"}}), up);
  EXPECT_EQ(h.count("Host"), 1u) << "Host values: " << ::testing::PrintToString(h.all("Host"));
}

// ---------------------------------------------------------------------------------------------
// X-Forwarded-For

TEST(ForwardedForTest, UntrustedClientListIsReplacedByPeer) {
  auto req = request("GET", {{"X-Forwarded-For", "1.1.1.1, 2.2.2.2"}});
  EXPECT_EQ(forwardedFor(req, "10.0.0.1", 0), "10.0.0.1");
  EXPECT_EQ(forward(req, upstream("http://up"), info(0)).one("X-Forwarded-For"), "10.0.0.1");
}

TEST(ForwardedForTest, TrustedProxiesKeepTheLastEntries) {
  auto req = request(
      "GET", {{"X-Forwarded-For", "1.1.1.1, 2.2.2.2,3.3.3.3"}, {"x-forwarded-for", " 4.4.4.4 "}});
  EXPECT_EQ(forwardedFor(req, "10.0.0.1", 2), "3.3.3.3, 4.4.4.4, 10.0.0.1");
  EXPECT_EQ(forwardedFor(req, "10.0.0.1", 1), "4.4.4.4, 10.0.0.1");
  EXPECT_EQ(forwardedFor(req, "10.0.0.1", 10), "1.1.1.1, 2.2.2.2, 3.3.3.3, 4.4.4.4, 10.0.0.1");
  EXPECT_EQ(forward(req, upstream("http://up"), info(2)).one("X-Forwarded-For"),
            "3.3.3.3, 4.4.4.4, 10.0.0.1");
}

TEST(ForwardedForTest, TrustedProxiesWithoutClientListIsJustPeer) {
  auto req = request("GET", {});
  EXPECT_EQ(forwardedFor(req, "10.0.0.1", 2), "10.0.0.1");
  auto empty = request("GET", {{"X-Forwarded-For", " , "}});
  EXPECT_EQ(forwardedFor(empty, "::1", 2), "::1");
}

// ---------------------------------------------------------------------------------------------
// clientFraming

http::ResponseHead responseHead(int status, http::HeaderList headers = {}) {
  http::ResponseHead h;
  h.status = status;
  h.reason = status == 200 ? "OK" : "Status";
  h.headers = std::move(headers);
  for (const auto& f : h.headers) {
    if (core::iequals(f.name, "content-length")) {
      h.contentLength = std::stoull(std::string(f.value));
    }
    if (core::iequals(f.name, "transfer-encoding")) {
      h.chunked = true;
    }
  }
  return h;
}

TEST(ClientFramingTest, NoBodyForHead204304And1xx) {
  auto withLength = responseHead(200, {{"Content-Length", "42"}});
  EXPECT_EQ(clientFraming(withLength, true, 11), Framing::None);
  EXPECT_EQ(clientFraming(responseHead(204), false, 11), Framing::None);
  EXPECT_EQ(clientFraming(responseHead(304, {{"Content-Length", "42"}}), false, 11), Framing::None);
  EXPECT_EQ(clientFraming(responseHead(101), false, 11), Framing::None);
}

TEST(ClientFramingTest, ContentLengthIsKept) {
  auto h = responseHead(200, {{"Content-Length", "42"}});
  EXPECT_EQ(clientFraming(h, false, 11), Framing::Length);
  EXPECT_EQ(clientFraming(h, false, 10), Framing::Length);
  EXPECT_EQ(clientFraming(responseHead(200, {{"Content-Length", "0"}}), false, 11),
            Framing::Length);
}

TEST(ClientFramingTest, ChunkedOrCloseDelimitedBecomesChunkedForHttp11) {
  EXPECT_EQ(clientFraming(responseHead(200, {{"Transfer-Encoding", "chunked"}}), false, 11),
            Framing::Chunked);
  EXPECT_EQ(clientFraming(responseHead(200), false, 11), Framing::Chunked);  // until close
}

TEST(ClientFramingTest, UnknownLengthForHttp10ClientIsCloseDelimited) {
  EXPECT_EQ(clientFraming(responseHead(200, {{"Transfer-Encoding", "chunked"}}), false, 10),
            Framing::Close);
  EXPECT_EQ(clientFraming(responseHead(200), false, 10), Framing::Close);
}

// ---------------------------------------------------------------------------------------------
// buildClientResponseHead

Head clientHead(const http::ResponseHead& h, Framing f, bool keepAlive = true,
                unsigned clientVersion = 11) {
  std::string out;
  buildClientResponseHead(out, h, f, "req-gw-1", keepAlive, clientVersion);
  Head parsed = parseHead(out);
  EXPECT_TRUE(parsed.terminated) << out;
  return parsed;
}

TEST(BuildClientResponseHeadTest, StatusLineAndEndToEndFields) {
  auto h = responseHead(
      429, {{"Content-Type", "application/json"}, {"Retry-After", "3"}, {"Content-Length", "2"}});
  h.reason = "Too Many Requests";
  Head c = clientHead(h, Framing::Length);
  EXPECT_EQ(c.firstLine, "HTTP/1.1 429 Too Many Requests");
  EXPECT_EQ(c.one("Content-Type"), "application/json");
  EXPECT_EQ(c.one("Retry-After"), "3");
  EXPECT_EQ(c.one("Content-Length"), "2");
  EXPECT_EQ(c.count("Connection"), 0u);
}

TEST(BuildClientResponseHeadTest, UpstreamRequestIdMovesAside) {
  auto h = responseHead(200, {{"X-Request-Id", "req_provider_7"}, {"Content-Length", "0"}});
  Head c = clientHead(h, Framing::Length);
  EXPECT_EQ(c.one("x-upstream-request-id"), "req_provider_7");
  EXPECT_EQ(c.one("x-request-id"), "req-gw-1");
}

TEST(BuildClientResponseHeadTest, HopByHopAndConnectionNamedFieldsAreDropped) {
  auto h = responseHead(200, {{"Connection", "keep-alive, X-Internal"},
                              {"Keep-Alive", "timeout=5"},
                              {"X-Internal", "node-3"},
                              {"Transfer-Encoding", "chunked"},
                              {"Trailer", "X-Sum"},
                              {"Upgrade", "h2c"},
                              {"Content-Type", "text/event-stream"}});
  Head c = clientHead(h, Framing::Chunked);
  EXPECT_EQ(c.count("Keep-Alive"), 0u);
  EXPECT_EQ(c.count("X-Internal"), 0u);
  EXPECT_EQ(c.count("Trailer"), 0u);
  EXPECT_EQ(c.count("Upgrade"), 0u);
  EXPECT_EQ(c.count("Connection"), 0u);
  EXPECT_EQ(c.one("Transfer-Encoding"), "chunked");  // the gateway's own framing
  EXPECT_EQ(c.one("Content-Type"), "text/event-stream");
}

TEST(BuildClientResponseHeadTest, ChunkedFramingHasNoContentLength) {
  Head c = clientHead(responseHead(200), Framing::Chunked);
  EXPECT_EQ(c.one("Transfer-Encoding"), "chunked");
  EXPECT_EQ(c.count("Content-Length"), 0u);
}

TEST(BuildClientResponseHeadTest, CloseFramingAnnouncesClose) {
  Head c =
      clientHead(responseHead(200, {{"Transfer-Encoding", "chunked"}}), Framing::Close, true, 10);
  EXPECT_EQ(c.one("Connection"), "close");
  EXPECT_EQ(c.count("Transfer-Encoding"), 0u);
  EXPECT_EQ(c.count("Content-Length"), 0u);
}

TEST(BuildClientResponseHeadTest, ConnectionCloseWhenNotKeepAlive) {
  auto h = responseHead(200, {{"Content-Length", "5"}});
  EXPECT_EQ(clientHead(h, Framing::Length, false).one("Connection"), "close");
  EXPECT_EQ(clientHead(h, Framing::Length, false, 10).one("Connection"), "close");
}

TEST(BuildClientResponseHeadTest, Http10KeepAliveIsExplicit) {
  auto h = responseHead(200, {{"Content-Length", "5"}});
  EXPECT_EQ(clientHead(h, Framing::Length, true, 10).one("Connection"), "keep-alive");
}

TEST(BuildClientResponseHeadTest, HeadResponseKeepsContentLength) {
  auto h = responseHead(200, {{"Content-Length", "1234"}});
  EXPECT_EQ(clientHead(h, Framing::None).one("Content-Length"), "1234");
}

TEST(BuildClientResponseHeadTest, NoContentHasNoFramingFields) {
  Head c = clientHead(responseHead(204), Framing::None);
  EXPECT_EQ(c.firstLine, "HTTP/1.1 204 Status");
  EXPECT_EQ(c.count("Content-Length"), 0u);
  EXPECT_EQ(c.count("Transfer-Encoding"), 0u);
}

}  // namespace
}  // namespace tg::proxy
