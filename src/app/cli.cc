#include "app/cli.h"

#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "app/config_file.h"
#include "app/gateway.h"
#include "config/loader.h"
#include "core/log.h"
#include "tokenizer/tokenizer.h"

#ifndef TOKENGATE_VERSION
#define TOKENGATE_VERSION "0.0.0"
#endif

namespace tg::app {

namespace {

constexpr const char* kUsage = R"(tokengate: an AI gateway that limits LLM tokens per caller

Usage:
  tokengate run --config FILE            serve with a configuration file
  tokengate run --listen HOST:PORT --upstream URL
                                         quick start: proxy everything to one upstream
  tokengate check --config FILE          validate a configuration; exit 1 on errors. A file
                                         without listeners: is checked as a fragment: each
                                         section present on its own (e.g. rate_limits:)
  tokengate tokens --model MODEL [FILE]  count the tokens of FILE (or stdin) as MODEL's
                                         tokenizer does (exact for OpenAI models, else an
                                         estimate); --data-dir DIR locates the rank files
  tokengate --version                    print the version
  tokengate --help                       print this help

Options for run:
  --workers N         event-loop threads (default: one per CPU the process may use)
  --access-log DEST   stdout (default), stderr, off, or a file path (quick start only)
  --log-level LEVEL   debug, info (default), warn, error

Configuration reference: README.md and examples/tokengate.yaml.
)";

struct Args {
  std::string command;
  std::string config;
  std::string listen;
  std::string upstream;
  std::string workers;
  std::string accessLog;
  std::string logLevel;
  std::string model;
  std::string dataDir;
  std::string file;
};

int usageError(const std::string& msg) {
  std::cerr << "tokengate: " << msg << "\nRun 'tokengate --help' for usage.\n";
  return 2;
}

// Builds the configuration of the quick start: one listener, one upstream, one route.
config::LoadResult quickStart(const Args& a) {
  config::LoadResult res;
  config::Config cfg;
  config::ListenerConfig l;
  l.address = a.listen;
  if (!config::parseHostPort(a.listen, l.host, l.port)) {
    res.errors.push_back({"--listen", 0, "must be host:port, got '" + a.listen + "'"});
  }
  cfg.listeners.push_back(l);
  config::UpstreamConfig u;
  u.name = "default";
  u.url = a.upstream;
  if (std::string err = config::parseUpstreamUrl(a.upstream, u); !err.empty()) {
    res.errors.push_back({"--upstream", 0, "'" + a.upstream + "' " + err});
  }
  cfg.upstreams.push_back(u);
  config::RouteConfig r;
  r.name = "default";
  r.pathPrefix = "/";
  r.upstream = "default";
  cfg.routes.push_back(r);
  if (!a.accessLog.empty()) {
    cfg.server.accessLog = a.accessLog;
  }
  if (res.errors.empty()) {
    res.errors = config::validate(cfg);
  }
  if (res.errors.empty()) {
    res.config = std::move(cfg);
  }
  return res;
}

// tokengate tokens: the token count of a file or stdin, for MODEL.
int countTokens(const Args& a) {
  if (a.model.empty()) {
    return usageError("tokens needs --model MODEL");
  }
  std::string text;
  if (a.file.empty() || a.file == "-") {
    std::ostringstream ss;
    ss << std::cin.rdbuf();
    text = ss.str();
  } else {
    std::ifstream in(a.file, std::ios::binary);
    if (!in) {
      std::cerr << "tokengate: cannot read '" << a.file << "'\n";
      return 1;
    }
    std::ostringstream ss;
    ss << in.rdbuf();
    text = ss.str();
  }
  auto tok = tokenizer::Tokenizers::load(a.dataDir);
  if (!tok) {
    std::cerr << "tokengate: " << tok.error() << "\n";
    return 1;
  }
  if ((*tok)->forModel(a.model) == nullptr) {
    std::cerr << "tokengate: no public tokenizer for '" << a.model
              << "': printing the estimate (UTF-8 bytes / 4)\n";
  }
  std::cout << (*tok)->count(a.model, text) << "\n";
  return 0;
}

int printErrors(const std::string& source, const std::vector<config::ConfigError>& errors) {
  for (const auto& e : errors) {
    std::cerr << config::formatError(source, e) << "\n";
  }
  std::cerr << source << ": " << errors.size() << " error" << (errors.size() == 1 ? "" : "s")
            << "\n";
  return 1;
}

std::string joined(const std::vector<std::string>& words) {
  std::string s;
  for (const auto& w : words) {
    s += (s.empty() ? "" : ", ") + w;
  }
  return s.empty() ? "none" : s;
}

// `check` on a file without `listeners:`: each section present is checked on its own.
int printFragment(const std::string& source, const FragmentCheck& f) {
  if (!f.errors.empty()) {
    std::cerr << source << ": a fragment (no listeners:), checked sections: " << joined(f.sections)
              << "\n";
    return printErrors(source, f.errors);
  }
  std::cout << source
            << ": ok: a fragment (no listeners:), checked sections: " << joined(f.sections) << " ("
            << f.policies << " rate-limit policies, " << f.consumers << " consumers)\n";
  return 0;
}

// `run` needs a whole configuration: say in one line what is missing.
int notAFullConfig(const std::string& source, const std::vector<std::string>& sections) {
  std::cerr << source << ": not a full configuration: it has no listeners: section (it holds: "
            << joined(sections) << "); `tokengate check --config " << source
            << "` validates it as a fragment\n";
  return 1;
}

}  // namespace

int runCli(int argc, char** argv) {
  Args a;
  std::vector<std::string> args(argv + 1, argv + argc);
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& s = args[i];
    auto value = [&](std::string& out) -> bool {
      if (i + 1 >= args.size()) {
        return false;
      }
      out = args[++i];
      return true;
    };
    if (s == "--help" || s == "-h" || s == "help") {
      std::cout << kUsage;
      return 0;
    }
    if (s == "--version" || s == "-V" || s == "version") {
      std::cout << "tokengate " << TOKENGATE_VERSION << "\n";
      return 0;
    }
    bool ok = true;
    if (s == "--config" || s == "-c") {
      ok = value(a.config);
    } else if (s == "--listen") {
      ok = value(a.listen);
    } else if (s == "--upstream") {
      ok = value(a.upstream);
    } else if (s == "--workers") {
      ok = value(a.workers);
    } else if (s == "--access-log") {
      ok = value(a.accessLog);
    } else if (s == "--log-level") {
      ok = value(a.logLevel);
    } else if (s == "--model") {
      ok = value(a.model);
    } else if (s == "--data-dir") {
      ok = value(a.dataDir);
    } else if (a.command == "tokens" && a.file.empty() && !s.starts_with("-")) {
      a.file = s;
    } else if (a.command.empty() && !s.starts_with("-")) {
      a.command = s;
    } else {
      return usageError("unknown argument '" + s + "'");
    }
    if (!ok) {
      return usageError(s + " needs a value");
    }
  }
  if (a.command == "tokens") {
    return countTokens(a);
  }
  if (a.command != "run" && a.command != "check") {
    return usageError(a.command.empty() ? "no command given"
                                        : "unknown command '" + a.command + "'");
  }
  if (!a.logLevel.empty()) {
    if (a.logLevel == "debug") {
      core::setLogLevel(core::LogLevel::Debug);
    } else if (a.logLevel == "info") {
      core::setLogLevel(core::LogLevel::Info);
    } else if (a.logLevel == "warn") {
      core::setLogLevel(core::LogLevel::Warn);
    } else if (a.logLevel == "error") {
      core::setLogLevel(core::LogLevel::Error);
    } else {
      return usageError("--log-level must be debug, info, warn or error");
    }
  }

  GatewayLoadResult loaded;
  std::string source;
  if (!a.config.empty()) {
    if (!a.listen.empty() || !a.upstream.empty()) {
      return usageError("--config cannot be combined with --listen/--upstream");
    }
    source = a.config;
    const config::EnvLookup env = config::processEnv();
    config::ReadResult read = config::readDocumentFile(a.config, &env);
    if (isFragment(read)) {
      return a.command == "check" ? printFragment(source, checkFragment(read))
                                  : notAFullConfig(source, read.document.sections);
    }
    loaded = loadGatewayConfig(std::move(read));
  } else if (!a.listen.empty() && !a.upstream.empty() && a.command == "run") {
    source = "command line";
    config::LoadResult quick = quickStart(a);
    loaded.errors = std::move(quick.errors);
    if (quick.config) {
      loaded.config =
          GatewayConfig{std::move(*quick.config), std::make_shared<const limiter::PolicySet>()};
    }
  } else {
    return usageError(a.command == "run" ? "run needs --config FILE, or --listen and --upstream"
                                         : "check needs --config FILE");
  }
  if (!loaded.errors.empty()) {
    return printErrors(source, loaded.errors);
  }
  for (const std::string& note : loaded.notes) {
    core::logWarn("config", {{"note", note}});
  }
  GatewayConfig gc = std::move(*loaded.config);
  config::Config& cfg = gc.config;
  if (!a.workers.empty()) {
    try {
      cfg.server.workers = static_cast<unsigned>(std::stoul(a.workers));
    } catch (...) {
      return usageError("--workers must be a number");
    }
  }
  if (a.command == "check") {
    std::cout << source << ": ok (" << cfg.listeners.size() << " listeners, "
              << cfg.upstreams.size() << " upstreams, " << cfg.routes.size() << " routes, "
              << gc.policies->policies.size() << " rate-limit policies, "
              << gc.policies->consumers.size() << " consumers)\n";
    return 0;
  }
  auto gw = Gateway::create(std::move(gc));
  if (!gw) {
    core::logError("cannot start", {{"error", gw.error()}});
    return 1;
  }
  if (!a.config.empty()) {
    std::string file = a.config;
    (*gw)->setReloadSource(file,
                           [file] { return loadGatewayConfigFile(file, config::processEnv()); });
  }
  int rc = (*gw)->run();
  if ((*gw)->forcedStop()) {
    std::fflush(nullptr);
    ::_exit(rc);
  }
  return rc;
}

}  // namespace tg::app
