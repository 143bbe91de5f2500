// `quota:` per-consumer token quotas (docs/admin.md#quotas).
#include "config/sections.h"

namespace tg::config {

void readQuota(Reader& r, const YAML::Node& n, QuotaConfig& q, std::vector<int>& routeLines) {
  r.forKeys(n, "quota", {"enabled", "routes", "failure_mode"},
            [&](const std::string& k, const YAML::Node& v, const std::string& p) {
              if (k == "enabled") {
                r.boolean(v, p, q.enabled);
              } else if (k == "routes") {
                if (!v.IsSequence()) {
                  r.error(v, p, "must be a list of route names");
                  return;
                }
                for (size_t i = 0; i < v.size(); ++i) {
                  std::string name;
                  if (r.str(v[i], p + "[" + std::to_string(i) + "]", name)) {
                    q.routes.push_back(name);
                    routeLines.push_back(v[i].Mark().line + 1);
                  }
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
