// `limits:` the HTTP request limits (sizes and timeouts; not the rate limits).
#include "config/sections.h"

namespace tg::config {

void readLimits(Reader& r, const YAML::Node& n, LimitsConfig& l) {
  r.forKeys(n, "limits",
            {"max_header_bytes", "max_headers", "max_body_bytes", "header_timeout", "body_timeout",
             "idle_timeout", "max_requests_per_connection"},
            [&](const std::string& k, const YAML::Node& v, const std::string& p) {
              if (k == "max_header_bytes") {
                r.size(v, p, l.maxHeaderBytes);
              } else if (k == "max_headers") {
                r.integer(v, p, l.maxHeaders, 10000u);
              } else if (k == "max_body_bytes") {
                r.size(v, p, l.maxBodyBytes);
              } else if (k == "header_timeout") {
                r.duration(v, p, false, l.headerTimeout);
              } else if (k == "body_timeout") {
                r.duration(v, p, false, l.bodyTimeout);
              } else if (k == "idle_timeout") {
                r.duration(v, p, false, l.idleTimeout);
              } else if (k == "max_requests_per_connection") {
                r.integer(v, p, l.maxRequestsPerConnection, uint64_t{1} << 62);
              }
            });
}

}  // namespace tg::config
