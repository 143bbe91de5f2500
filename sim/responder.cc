#include "responder.h"

#include <openssl/evp.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/status.hpp>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "dialects.h"
#include "gzip_stream.h"
#include "json_text.h"
#include "request.h"
#include "routes.h"

namespace tg::sim {
namespace {

using Headers = std::vector<std::pair<std::string, std::string>>;

// What the answer's framing depends on, taken from the request.
struct AnswerMeta {
  std::string request_id;
  bool keep_alive = true;
  bool http11 = true;      // chunked transfer is available
  bool head_only = false;  // HEAD: headers without the body
};

std::string_view reasonPhrase(int status) {
  if (status == 529) {
    return "Overloaded";  // Anthropic's; not in the HTTP registry
  }
  std::string_view reason = http::obsolete_reason(static_cast<http::status>(status));
  return reason == "<unknown-status>" ? std::string_view("Unknown") : reason;
}

// The status line and headers. `length` absent: a stream, chunked when HTTP/1.1.
std::string responseHead(int status, std::string_view content_type, const AnswerMeta& meta,
                         const Headers& extra, std::optional<size_t> length, bool gzip) {
  std::string head = "HTTP/1.1 " + std::to_string(status) + " ";
  head.append(reasonPhrase(status)).append("\r\ncontent-type: ").append(content_type);
  if (length) {
    head += "\r\ncontent-length: " + std::to_string(*length);
  } else if (meta.http11) {
    head += "\r\ntransfer-encoding: chunked";
  }
  if (gzip) {
    head += "\r\ncontent-encoding: gzip";
  }
  for (const auto& [name, value] : extra) {
    head += "\r\n" + name + ": " + value;
  }
  head += "\r\nx-sim-request-id: " + meta.request_id + "\r\nserver: tokengate-sim";
  if (!meta.keep_alive) {
    head += "\r\nconnection: close";
  } else if (!meta.http11) {
    head += "\r\nconnection: keep-alive";
  }
  head += "\r\n\r\n";
  return head;
}

net::awaitable<void> sleepMs(int64_t ms) {
  if (ms <= 0) {
    co_return;
  }
  net::steady_timer timer(co_await net::this_coro::executor);
  timer.expires_after(std::chrono::milliseconds(ms));
  co_await timer.async_wait(net::as_tuple(net::use_awaitable));
}

// Note for GCC 12: temporaries with destructors inside a co_await expression (notably in a
// ?: operand) can be destroyed twice, so arguments of awaited calls are named locals here.

// A complete answer in one write; `cut`: only half of the body, then an abrupt close.
net::awaitable<AfterReply> sendReply(Transport& transport, const Reply& reply,
                                     const AnswerMeta& meta, bool gzip, bool cut) {
  std::string body = gzip ? gzipAll(reply.body) : reply.body;
  std::string out =
      responseHead(reply.status, reply.content_type, meta, reply.headers, body.size(), gzip);
  if (!meta.head_only) {
    out.append(body, 0, cut ? body.size() / 2 : body.size());
  }
  beast::error_code ec = co_await transport.write(out);
  if (ec || cut) {
    transport.abort();
    co_return AfterReply::Aborted;
  }
  co_return meta.keep_alive ? AfterReply::KeepAlive : AfterReply::Close;
}

// Writes stream events one per write: chunk-framed (HTTP/1.1) and optionally gzip-compressed.
class EventWriter {
 public:
  EventWriter(Transport& transport, bool chunked, bool gzip)
      : transport_(transport), chunked_(chunked) {
    if (gzip) {
      gzip_.emplace();
    }
  }

  // One event. false: the write failed.
  net::awaitable<bool> send(std::string_view event) {
    std::string compressed;
    if (gzip_) {
      compressed = gzip_->add(event);
      event = compressed;
    }
    std::string out = chunked_ ? frame(event) : std::string(event);
    beast::error_code ec = co_await transport_.write(out);
    co_return !ec;
  }

  // The gzip trailer, if any, and the terminating chunk.
  net::awaitable<bool> finish() {
    std::string out;
    if (gzip_) {
      std::string trailer = gzip_->finish();
      out = chunked_ ? frame(trailer) : trailer;
    }
    if (chunked_) {
      out += "0\r\n\r\n";
    }
    if (out.empty()) {
      co_return true;
    }
    beast::error_code ec = co_await transport_.write(out);
    co_return !ec;
  }

 private:
  static std::string frame(std::string_view payload) {
    char size[24];
    std::snprintf(size, sizeof size, "%zx\r\n", payload.size());
    std::string out(size);
    out.append(payload).append("\r\n");
    return out;
  }

  Transport& transport_;
  bool chunked_;
  std::optional<GzipStream> gzip_;
};

net::awaitable<AfterReply> sendStream(Transport& transport, const StreamScript& script, int tokens,
                                      const Knobs& knobs, AnswerMeta meta, SimStats& stats) {
  // Without chunked framing (HTTP/1.0) the end of the stream is the end of the connection.
  meta.keep_alive = meta.keep_alive && meta.http11;
  Headers extra = {{"cache-control", "no-cache"}};
  std::string head = responseHead(200, script.content_type, meta, extra, std::nullopt, knobs.gzip);
  if (beast::error_code ec = co_await transport.write(head); ec) {
    transport.abort();
    co_return AfterReply::Aborted;
  }
  EventWriter writer(transport, meta.http11, knobs.gzip);
  bool ok = true;
  for (size_t i = 0; ok && i < script.head.size(); ++i) {
    ok = co_await writer.send(script.head[i]);
  }
  int cut = knobs.cut_after ? std::min(*knobs.cut_after, tokens) : -1;
  for (int i = 0; ok && i < tokens && i != cut; ++i) {
    co_await sleepMs(i == 0 ? knobs.ttft_ms : knobs.delay_ms);
    std::string event = script.token(i);
    ok = co_await writer.send(event);
  }
  if (ok && cut < 0) {
    if (tokens == 0) {
      co_await sleepMs(knobs.ttft_ms);
    }
    for (size_t i = 0; ok && i < script.tail.size(); ++i) {
      ok = co_await writer.send(script.tail[i]);
    }
    if (ok) {
      ok = co_await writer.finish();
    }
  }
  if (!ok || cut >= 0) {
    if (!ok) {
      ++stats.streamsAborted;
    }
    transport.abort();
    co_return AfterReply::Aborted;
  }
  ++stats.streamsCompleted;
  co_return meta.keep_alive ? AfterReply::KeepAlive : AfterReply::Close;
}

std::string sha256Hex(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_Digest(data.data(), data.size(), digest, &size, EVP_sha256(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  for (unsigned int i = 0; i < size; ++i) {
    hex.push_back(kHex[digest[i] >> 4]);
    hex.push_back(kHex[digest[i] & 0xf]);
  }
  return hex;
}

// /sim/echo: what arrived, so tests can see exactly what a proxy forwarded.
Reply echoReply(const Request& request) {
  Headers headers;  // lowercased name -> values joined with ", ", in order of first appearance
  for (const auto& field : request) {
    std::string name(field.name_string());
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    auto it = std::find_if(headers.begin(), headers.end(),
                           [&](const auto& entry) { return entry.first == name; });
    if (it == headers.end()) {
      headers.emplace_back(std::move(name), std::string(field.value()));
    } else {
      it->second.append(", ").append(field.value());
    }
  }
  Reply reply;
  std::string& body = reply.body;
  body = R"({"method":)" + jsonString(request.method_string());
  body += R"(,"path":)" + jsonString(request.target()) + R"(,"headers":{)";
  for (size_t i = 0; i < headers.size(); ++i) {
    if (i > 0) {
      body += ",";
    }
    appendJsonString(body, headers[i].first);
    body += ":";
    appendJsonString(body, headers[i].second);
  }
  body += R"(},"body_bytes":)" + std::to_string(request.body().size());
  body += R"(,"body_sha256":")" + sha256Hex(request.body()) + "\"}";
  return reply;
}

Reply statsReply(const SimStats& stats) {
  Reply reply;
  reply.body = R"({"connections":)" + std::to_string(stats.connections.load()) + R"(,"requests":)" +
               std::to_string(stats.requests.load()) + R"(,"streams_aborted":)" +
               std::to_string(stats.streamsAborted.load()) + R"(,"streams_completed":)" +
               std::to_string(stats.streamsCompleted.load()) + R"(,"in_flight":)" +
               std::to_string(stats.inFlight.load()) + R"(,"max_in_flight":)" +
               std::to_string(stats.maxInFlight.load()) + R"(,"last_max_tokens":)" +
               std::to_string(stats.lastMaxTokens.load()) + "}";
  return reply;
}

// Counts an LLM request in SimStats::inFlight while it is answered.
class InFlight {
 public:
  explicit InFlight(SimStats& s) : s_(s) {
    const uint64_t now = ++s_.inFlight;
    uint64_t seen = s_.maxInFlight.load();
    while (now > seen && !s_.maxInFlight.compare_exchange_weak(seen, now)) {
    }
  }
  ~InFlight() { --s_.inFlight; }
  InFlight(const InFlight&) = delete;
  InFlight& operator=(const InFlight&) = delete;

 private:
  SimStats& s_;
};

// The LLM endpoints: knobs, inspection, then a reply, an error or a stream.
net::awaitable<AfterReply> respondLlm(Transport& transport, const Request& request,
                                      const Route& route, uint64_t seq, const AnswerMeta& meta,
                                      const Knobs& defaults, SimStats& stats) {
  Dialect dialect = dialectOf(route.api);
  bool gemini_array = route.api == Api::GeminiStream && !route.gemini_sse;
  std::string error;
  Knobs knobs = defaults;
  RequestInfo info;
  if (route.api != Api::OpenAiModels) {
    error = inspectRequest(route.api, request.body(), info);
  }
  if (dialect == Dialect::Gemini) {
    info.model = route.gemini_model;
    info.stream = route.api == Api::GeminiStream;
  }
  ModelSpec model = splitModel(info.model);
  if (error.empty()) {
    error = applyModelKnobs(knobs, model.knobs);
  }
  for (const auto& knob : kKnobHeaders) {
    auto field = request.find(knob.header);
    if (error.empty() && field != request.end()) {
      error = applyKnob(knobs, knob.knob, field->value());
      if (!error.empty()) {
        error = std::string(knob.header) + ": " + error;
      }
    }
  }
  if (!error.empty()) {
    Reply reply = buildError(dialect, 400, error, gemini_array);
    co_return co_await sendReply(transport, reply, meta, knobs.gzip, false);
  }
  if (knobs.status != 200) {
    std::string message =
        "simulated error: status " + std::to_string(knobs.status) + " (tokengate-sim)";
    Reply reply = buildError(dialect, knobs.status, message, gemini_array);
    co_return co_await sendReply(transport, reply, meta, knobs.gzip, false);
  }

  Generation gen;
  gen.api = route.api;
  gen.model = model.name.empty() ? "sim-model" : std::string(model.name);
  gen.seq = seq;
  gen.prompt_tokens = info.prompt_tokens;
  stats.lastMaxTokens.store(info.max_tokens);
  gen.tokens = knobs.tokens;
  gen.omit_usage = knobs.omit_usage;
  gen.include_usage = info.include_usage;
  gen.gemini_sse = route.gemini_sse;
  gen.embedding_seeds = std::move(info.embedding_seeds);
  gen.embeddings_base64 = info.embeddings_base64;

  bool generates = route.api != Api::OpenAiEmbeddings && route.api != Api::OpenAiModels;
  if (generates && info.stream) {
    StreamScript script = buildStream(gen);
    co_return co_await sendStream(transport, script, gen.tokens, knobs, meta, stats);
  }
  if (route.api != Api::OpenAiModels) {
    int64_t tokens_ms = generates ? int64_t{knobs.tokens} * knobs.delay_ms : 0;
    co_await sleepMs(knobs.ttft_ms + tokens_ms);
  }
  Reply reply = buildReply(gen);
  co_return co_await sendReply(transport, reply, meta, knobs.gzip, knobs.cut_after.has_value());
}

}  // namespace

net::awaitable<AfterReply> respond(Transport& transport, const Request& request,
                                   SimContext& context) {
  uint64_t seq = ++context.stats.requests;
  AnswerMeta meta;
  auto request_id = request["x-request-id"];
  meta.request_id = request_id.empty() ? idString("simreq-", seq) : std::string(request_id);
  meta.keep_alive = request.keep_alive();
  meta.http11 = request.version() >= 11;
  meta.head_only = request.method() == http::verb::head;

  auto route = matchRoute(request.method_string(), request.target());
  if (!route) {
    std::string message = "Unknown request URL: " + std::string(request.method_string()) + " " +
                          std::string(request.target()) + " (tokengate-sim)";
    Reply reply = buildError(Dialect::OpenAi, 404, message);
    co_return co_await sendReply(transport, reply, meta, false, false);
  }
  Reply reply;
  switch (route->api) {
    case Api::Echo:
      reply = echoReply(request);
      break;
    case Api::Stats:
      reply = statsReply(context.stats);
      break;
    case Api::Health:
      reply.content_type = "text/plain";
      reply.body = "ok";
      break;
    default: {
      InFlight counted(context.stats);
      co_return co_await respondLlm(transport, request, *route, seq, meta, context.defaults,
                                      context.stats);
    }
  }
  co_return co_await sendReply(transport, reply, meta, false, false);
}

net::awaitable<void> respondUnreadable(Transport& transport, int status, SimContext& context) {
  uint64_t seq = ++context.stats.requests;
  AnswerMeta meta;
  meta.request_id = idString("simreq-", seq);
  meta.keep_alive = false;
  std::string message = status == 413   ? "request body exceeds the 64 MiB limit (tokengate-sim)"
                        : status == 431 ? "request header exceeds the 256 KiB limit (tokengate-sim)"
                                        : "malformed HTTP request (tokengate-sim)";
  Reply reply = buildError(Dialect::OpenAi, status, message);
  co_await sendReply(transport, reply, meta, false, false);
}

}  // namespace tg::sim
