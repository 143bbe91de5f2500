#include "config/loader.h"

#include <fstream>
#include <sstream>

#include "config/sections.h"

namespace tg::config {
namespace {

// The line of each list item's `key` (the field validate() complains about), or of the item.
std::vector<int> itemLines(const YAML::Node& n, const char* key) {
  std::vector<int> out;
  if (n && n.IsSequence()) {
    for (const auto& item : n) {
      YAML::Node k = item.IsMap() ? item[key] : YAML::Node();
      out.push_back((k.IsDefined() ? k.Mark().line : item.Mark().line) + 1);
    }
  }
  return out;
}

// Parses YAML text; false (and an error) when it is not YAML. Config loading only, never the
// request path, so yaml-cpp's exception is caught here.
bool parse(std::string_view text, YAML::Node& root, std::vector<ConfigError>& errors) {
  try {
    root = YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    errors.push_back({"", e.mark.line + 1, "invalid YAML: " + e.msg});
    return false;
  }
  return true;
}

bool readText(const std::string& file, std::string& out, std::vector<ConfigError>& errors) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    errors.push_back({"", 0, "cannot read config file '" + file + "'"});
    return false;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  out = ss.str();
  return true;
}

void readSections(Reader& r, const YAML::Node& root, Document& doc) {
  Config& cfg = doc.config;
  ItemLines& lines = doc.lines;
  r.forKeys(
      root, "",
      {"server", "listeners", "limits", "upstreams", "routes", "tokenizer", "rate_limits",
       "higress", "store", "admin", "quota"},
      [&](const std::string& k, const YAML::Node& v, const std::string& p) {
        doc.sections.push_back(k);
        if (k == "rate_limits") {
          readRateLimits(r, v, p, doc.rateLimits);
        } else if (k == "higress") {
          readHigress(r, v, p, doc.higress);
        } else if (k == "server") {
          readServer(r, v, cfg.server);
        } else if (k == "store") {
          readStore(r, v, cfg.store);
        } else if (k == "admin") {
          lines.admin = v.Mark().line + 1;
          readAdmin(r, v, cfg.admin);
        } else if (k == "quota") {
          readQuota(r, v, cfg.quota, lines.quotaRoutes);
        } else if (k == "limits") {
          readLimits(r, v, cfg.limits);
        } else if (k == "tokenizer") {
          r.forKeys(v, p, {"data_dir"},
                    [&](const std::string&, const YAML::Node& v2, const std::string& p2) {
                      r.str(v2, p2, cfg.tokenizer.dataDir);
                    });
        } else if (k == "listeners") {
          lines.listeners = itemLines(v, "tls");
          r.listInto<ListenerConfig>(
              v, p, [&](auto& n, auto& ip, auto& l) { readListener(r, n, ip, l); }, cfg.listeners);
        } else if (k == "upstreams") {
          lines.upstreams = itemLines(v, "name");
          r.listInto<UpstreamConfig>(
              v, p, [&](auto& n, auto& ip, auto& u) { readUpstream(r, n, ip, u); }, cfg.upstreams);
        } else if (k == "routes") {
          lines.routes = itemLines(v, "upstream");
          lines.routeKeyAuth = itemLines(v, "key_auth");
          r.listInto<RouteConfig>(
              v, p, [&](auto& n, auto& ip, auto& rt) { readRoute(r, n, ip, rt); }, cfg.routes);
        }
      });
}

}  // namespace

bool Document::has(std::string_view section) const {
  for (const auto& s : sections) {
    if (s == section) {
      return true;
    }
  }
  return false;
}

ReadResult readDocument(std::string_view yaml, const EnvLookup* env) {
  ReadResult res;
  YAML::Node root;
  if (!parse(yaml, root, res.errors)) {
    return res;
  }
  if (!root.IsMap()) {
    res.errors.push_back({"", 1, "the document must be a mapping"});
    return res;
  }
  res.mapping = true;
  Reader r(res.errors, env);
  readSections(r, root, res.document);
  return res;
}

ReadResult readDocumentFile(const std::string& file, const EnvLookup* env) {
  std::string text;
  ReadResult res;
  if (!readText(file, text, res.errors)) {
    return res;
  }
  return readDocument(text, env);
}

std::optional<HigressConfig> readHigressDocument(std::string_view text,
                                                 std::vector<ConfigError>& errors) {
  YAML::Node root;
  if (!parse(text, root, errors)) {
    return std::nullopt;
  }
  Reader r(errors, nullptr);
  HigressConfig c;
  if (!readHigressConfig(r, root, "", c)) {
    return std::nullopt;
  }
  return c;
}

std::vector<ConfigError> validate(Config& cfg) { return validateWithLines(cfg, ItemLines{}); }

std::vector<ConfigError> validate(Document& doc) {
  return validateWithLines(doc.config, doc.lines);
}

LoadResult loadConfigString(std::string_view yaml, const EnvLookup& env) {
  ReadResult read = readDocument(yaml, &env);
  LoadResult res;
  res.errors = std::move(read.errors);
  if (!read.mapping) {
    return res;  // not YAML, or not a mapping
  }
  // Whole-config checks run even after field errors, so one `check` lists every problem.
  for (auto& e : validate(read.document)) {
    res.errors.push_back(std::move(e));
  }
  if (res.errors.empty()) {
    res.config = std::move(read.document.config);
  }
  return res;
}

LoadResult loadConfigFile(const std::string& file, const EnvLookup& env) {
  LoadResult res;
  std::string text;
  if (!readText(file, text, res.errors)) {
    return res;
  }
  return loadConfigString(text, env);
}

std::string formatError(const std::string& file, const ConfigError& e) {
  std::string s = file;
  if (e.line > 0) {
    s += ":" + std::to_string(e.line);
  }
  s += ": ";
  if (!e.path.empty()) {
    s += e.path + ": ";
  }
  return s + e.message;
}

}  // namespace tg::config
