// `quota:` per-consumer token quotas (docs/admin.md#quotas).
#include "config/sections.h"

namespace tg::config {

void readQuota(Reader& r, const YAML::Node& n, QuotaConfig& q, std::vector<int>& routeLines) {
  r.forKeys(n, "quota", {"enabled", "routes", "failure_mode"},
            [&](const std::string& k, const YAML::Node& v, const std::string& p) {
              if (k == "enabled") {
                r.boolean(v, p, q.enabled);
              } else if (k == "routes") {
                std::vector<Mark> marks;
                r.strings(v, p, "route names", q.routes, &marks);
                for (const auto& m : marks) {
                  routeLines.push_back(m.line);
                }
              } else if (k == "failure_mode") {
                std::string m;
                if (r.str(v, p, m)) {
                  if (m == "open" || m == "closed") {
                    q.failClosed = m == "closed";
                  } else {
                    r.error(v, p, "must be open or closed, got '" + m + "'");
                  }
                }
              }
            });
}

}  // namespace tg::config
