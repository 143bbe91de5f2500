// `routes:` which requests go to which upstream, in which dialect, with which key-auth.
#include "config/sections.h"

namespace tg::config {

void readRoute(Reader& r, const YAML::Node& n, const std::string& path, RouteConfig& rt) {
  r.forKeys(n, path,
            {"name", "match", "upstream", "fallback_upstream", "rewrite_prefix", "dialect",
             "inject_include_usage", "key_auth"},
            [&](const std::string& k, const YAML::Node& v, const std::string& p) {
              if (k == "name") {
                r.str(v, p, rt.name);
              } else if (k == "match") {
                r.forKeys(v, p, {"host", "path_prefix"},
                          [&](const std::string& k2, const YAML::Node& v2, const std::string& p2) {
                            r.str(v2, p2, k2 == "host" ? rt.matchHost : rt.pathPrefix);
                            if (k2 == "path_prefix" && !rt.pathPrefix.starts_with('/')) {
                              r.error(v2, p2, "must start with '/'");
                            }
                          });
              } else if (k == "upstream") {
                r.str(v, p, rt.upstream);
              } else if (k == "fallback_upstream") {
                r.str(v, p, rt.fallbackUpstream);
              } else if (k == "rewrite_prefix") {
                std::string s;
                if (r.str(v, p, s)) {
                  rt.rewritePrefix = s;
                }
              } else if (k == "inject_include_usage") {
                r.boolean(v, p, rt.injectIncludeUsage);
              } else if (k == "key_auth") {
                std::string s;
                if (r.str(v, p, s)) {
                  if (s == "off") {
                    rt.keyAuth = KeyAuth::Off;
                  } else if (s == "optional") {
                    rt.keyAuth = KeyAuth::Optional;
                  } else if (s == "required") {
                    rt.keyAuth = KeyAuth::Required;
                  } else {
                    r.error(v, p, "must be off, optional or required, got '" + s + "'");
                  }
                }
              } else if (k == "dialect") {
                std::string s;
                if (r.str(v, p, s)) {
                  if (s == "openai") {
                    rt.dialect = Dialect::OpenAI;
                  } else if (s == "anthropic") {
                    rt.dialect = Dialect::Anthropic;
                  } else if (s == "gemini") {
                    rt.dialect = Dialect::Gemini;
                  } else {
                    r.error(v, p, "must be openai, anthropic or gemini, got '" + s + "'");
                  }
                }
              }
            });
}

}  // namespace tg::config
