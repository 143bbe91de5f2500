// `server:` (examples/tokengate.yaml documents every key).
#include "config/sections.h"

namespace tg::config {

void readServer(Reader& r, const YAML::Node& n, ServerConfig& s) {
  r.forKeys(n, "server",
            {"workers", "drain_timeout", "access_log", "ratelimit_log", "trusted_proxies"},
            [&](const std::string& k, const YAML::Node& v, const std::string& p) {
              if (k == "workers") {
                r.integer(v, p, s.workers, 1024u);
              } else if (k == "drain_timeout") {
                r.duration(v, p, true, s.drainTimeout);
              } else if (k == "access_log") {
                r.str(v, p, s.accessLog);
              } else if (k == "ratelimit_log") {
                r.str(v, p, s.rateLimitLog);
              } else if (k == "trusted_proxies") {
                r.integer(v, p, s.trustedProxies, 64u);
              }
            });
}

}  // namespace tg::config
