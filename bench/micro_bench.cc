// Micro-benchmarks of the per-request CPU work that is not syscalls: parsing an upstream
// response (JSON and a 20-event SSE stream), building the forwarded request head and the
// client response head, matching a route. Run: build/bench/tokengate_micro_bench
#include <benchmark/benchmark.h>

#include <string>

#include "config/config.h"
#include "http/request_reader.h"
#include "http/response_reader.h"
#include "proxy/forward.h"
#include "proxy/router.h"

namespace {

using namespace tg;

std::string jsonResponse() {
  std::string body(800, 'x');
  return "HTTP/1.1 200 OK\r\nServer: nginx\r\nDate: Fri, 27 Nov 2026 16:00:00 GMT\r\n"
         "Content-Type: application/json\r\nContent-Length: 800\r\nConnection: keep-alive\r\n\r\n" +
         body;
}

std::string sseResponse() {
  std::string r =
      "HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Type: text/event-stream\r\n"
      "Transfer-Encoding: chunked\r\nConnection: keep-alive\r\nCache-Control: no-cache\r\n\r\n";
  std::string ev =
      "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,"
      "\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\" word\"},"
      "\"finish_reason\":null}]}\n\n";
  for (int i = 0; i < 20; ++i) {
    char hex[16];
    std::snprintf(hex, sizeof hex, "%zx\r\n", ev.size());
    r += hex + ev + "\r\n";
  }
  return r + "0\r\n\r\n";
}

void BM_ParseJsonResponse(benchmark::State& state) {
  std::string wire = jsonResponse();
  http::ResponseHead head;
  std::string body;
  for (auto _ : state) {
    http::ResponseParser p(head, false, 65536);
    body.clear();
    boost::system::error_code ec;
    benchmark::DoNotOptimize(p.put(wire, &body, ec));
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * wire.size()));
}
BENCHMARK(BM_ParseJsonResponse);

void BM_ParseSseResponse(benchmark::State& state) {
  std::string wire = sseResponse();
  http::ResponseHead head;
  std::string body;
  for (auto _ : state) {
    http::ResponseParser p(head, false, 65536);
    body.clear();
    boost::system::error_code ec;
    benchmark::DoNotOptimize(p.put(wire, &body, ec));
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * wire.size()));
}
BENCHMARK(BM_ParseSseResponse);

void BM_BuildUpstreamRequest(benchmark::State& state) {
  http::Request req;
  req.arena = "POST/v1/chat/completionsHostlocalhost:8080Content-Typeapplication/json";
  req.method = "POST";
  req.target = "/v1/chat/completions";
  req.headers = {{"Host", "localhost:8080"},           {"User-Agent", "OpenAI/Python 1.50.0"},
                 {"Authorization", "Bearer sk-bench"}, {"Content-Type", "application/json"},
                 {"Accept", "application/json"},       {"Content-Length", "1900"}};
  req.body.assign(1900, 'x');
  req.contentLength = 1900;
  config::UpstreamConfig up;
  (void)config::parseUpstreamUrl("http://127.0.0.1:18080", up);
  up.setHeaders.push_back({"Authorization", "Bearer sk-upstream"});
  proxy::ForwardInfo info{"127.0.0.1", false, "0123456789abcdef0123456789abcdef", 0};
  std::string out;
  for (auto _ : state) {
    out.clear();
    proxy::buildUpstreamRequest(out, req, up, "/v1/chat/completions", info);
    benchmark::DoNotOptimize(out.data());
  }
}
BENCHMARK(BM_BuildUpstreamRequest);

void BM_BuildClientResponseHead(benchmark::State& state) {
  std::string wire = jsonResponse();
  http::ResponseHead head;
  std::string body;
  http::ResponseParser p(head, false, 65536);
  boost::system::error_code ec;
  p.put(wire, &body, ec);
  std::string out;
  for (auto _ : state) {
    out.clear();
    proxy::buildClientResponseHead(out, head, proxy::Framing::Length,
                                   "0123456789abcdef0123456789abcdef", true, 11);
    benchmark::DoNotOptimize(out.data());
  }
}
BENCHMARK(BM_BuildClientResponseHead);

void BM_MatchRoute(benchmark::State& state) {
  config::Config cfg;
  for (const char* p : {"/v1/messages", "/v1beta/", "/anthropic/", "/v1/"}) {
    config::RouteConfig r;
    r.pathPrefix = p;
    cfg.routes.push_back(r);
  }
  for (auto _ : state) {
    benchmark::DoNotOptimize(proxy::matchRoute(cfg, "localhost:8080", "/v1/chat/completions"));
  }
}
BENCHMARK(BM_MatchRoute);

}  // namespace

BENCHMARK_MAIN();
