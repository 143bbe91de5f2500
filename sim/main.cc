// tokengate-sim: a simulated LLM upstream (OpenAI, Anthropic, Gemini) for tokengate's tests and
// benchmarks. See README.md in this folder for the endpoints, knobs and token rules.

#include <pthread.h>
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <string_view>

#include "knobs.h"
#include "server.h"

namespace {

constexpr std::string_view kUsage = R"(usage: tokengate-sim --listen HOST:PORT [options]

Simulated LLM upstream: OpenAI (chat, completions, responses, embeddings, models),
Anthropic messages and Gemini generateContent / streamGenerateContent.

  --listen HOST:PORT   address to listen on (PORT 0: pick a free port; the line printed on
                       start shows the real one)
  --threads N          worker threads, one io_context + SO_REUSEPORT listener each (default 1)
  --tls-cert FILE      serve HTTPS with this PEM certificate chain (needs --tls-key)
  --tls-key FILE       PEM private key for --tls-cert

Instance-wide knob defaults (a request overrides them with its model's '@' suffix, e.g.
"gpt-4o@tokens=5,delay_ms=10", and x-sim-* headers, which win):
  --tokens N           output tokens per answer (default 16)          x-sim-tokens
  --delay-ms N         delay between output tokens (default 0)        x-sim-delay-ms
  --ttft-ms N          delay before the first output token (default 0) x-sim-ttft-ms
  --omit-usage         no usage object anywhere                       x-sim-omit-usage
  --status N           answer with this status and an error body      x-sim-status
  --cut-after N        close abruptly after N streamed tokens         x-sim-cut-after
                       (non-streaming: after half of the body)
  --gzip               gzip response bodies                           x-sim-gzip
  --help               show this text
)";

[[noreturn]] void fail(const std::string& message) {
  std::fprintf(stderr, "tokengate-sim: %s\n%.*s", message.c_str(), static_cast<int>(kUsage.size()),
               kUsage.data());
  std::exit(2);
}

// Splits "HOST:PORT" ("[v6]:PORT" for IPv6; an empty HOST means 0.0.0.0).
void parseListen(std::string_view text, tg::sim::ServerOptions& options) {
  auto colon = text.rfind(':');
  if (colon == std::string_view::npos) {
    fail("--listen needs HOST:PORT");
  }
  std::string_view host = text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  std::string port(text.substr(colon + 1));
  char* end = nullptr;
  long value = std::strtol(port.c_str(), &end, 10);
  if (port.empty() || *end != '\0' || value < 0 || value > 65535) {
    fail("invalid port in --listen: " + port);
  }
  options.host = host.empty() ? "0.0.0.0" : std::string(host);
  options.port = static_cast<uint16_t>(value);
}

tg::sim::ServerOptions parseArgs(int argc, char** argv) {
  tg::sim::ServerOptions options;
  bool have_listen = false;
  std::string cert;
  std::string key;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    std::string value;
    bool has_inline_value = false;
    if (auto eq = arg.find('='); arg.starts_with("--") && eq != std::string_view::npos) {
      value = std::string(arg.substr(eq + 1));
      arg = arg.substr(0, eq);
      has_inline_value = true;
    }
    // Takes the option's value: "--flag=value" or the next argument.
    auto next = [&]() -> std::string {
      if (has_inline_value) {
        return value;
      }
      if (i + 1 >= argc) {
        fail(std::string(arg) + " needs a value");
      }
      return argv[++i];
    };
    auto knob = [&](std::string_view name, const std::string& text) {
      std::string error = tg::sim::applyKnob(options.defaults, name, text);
      if (!error.empty()) {
        fail(std::string(arg) + ": " + error);
      }
    };
    if (arg == "--help" || arg == "-h") {
      std::fwrite(kUsage.data(), 1, kUsage.size(), stdout);
      std::exit(0);
    } else if (arg == "--listen") {
      parseListen(next(), options);
      have_listen = true;
    } else if (arg == "--threads") {
      std::string text = next();
      options.threads = std::atoi(text.c_str());
      if (options.threads < 1 || options.threads > 1024) {
        fail("invalid --threads: " + text);
      }
    } else if (arg == "--tls-cert") {
      cert = next();
    } else if (arg == "--tls-key") {
      key = next();
    } else if (arg == "--tokens") {
      knob("tokens", next());
    } else if (arg == "--delay-ms") {
      knob("delay_ms", next());
    } else if (arg == "--ttft-ms") {
      knob("ttft_ms", next());
    } else if (arg == "--status") {
      knob("status", next());
    } else if (arg == "--cut-after") {
      knob("cut_after", next());
    } else if (arg == "--omit-usage") {
      knob("omit_usage", has_inline_value ? value : "1");
    } else if (arg == "--gzip") {
      knob("gzip", has_inline_value ? value : "1");
    } else {
      fail("unknown option: " + std::string(argv[i]));
    }
  }
  if (!have_listen) {
    fail("--listen HOST:PORT is required");
  }
  if (cert.empty() != key.empty()) {
    fail("--tls-cert and --tls-key go together");
  }
  if (!cert.empty()) {
    options.tls = tg::sim::TlsFiles{cert, key};
  }
  return options;
}

}  // namespace

int main(int argc, char** argv) {
  tg::sim::ServerOptions options = parseArgs(argc, argv);

  // SIGINT/SIGTERM are blocked in every thread (the workers inherit the mask) and taken by
  // sigwait() below, so shutdown runs on the main thread, outside any signal handler.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  try {
    tg::sim::Server server(std::move(options));
    server.start();
    std::fprintf(stderr, "tokengate-sim listening on %s\n", server.address().c_str());
    int received = 0;
    sigwait(&signals, &received);
    server.stop();
  } catch (const std::exception& e) {
    // Boost appends " [category:value at file:line ...]"; the part before is the useful one.
    std::string message = e.what();
    message = message.substr(0, message.find(" ["));
    std::fprintf(stderr, "tokengate-sim: %s\n", message.c_str());
    return 1;
  }
  return 0;
}
