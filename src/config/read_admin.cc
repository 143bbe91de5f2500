// `admin:` the admin API listener (docs/admin.md).
#include "config/sections.h"

namespace tg::config {

void readAdmin(Reader& r, const YAML::Node& n, AdminConfig& a) {
  a.enabled = true;
  r.forKeys(n, "admin", {"enabled", "listen", "token"},
            [&](const std::string& k, const YAML::Node& v, const std::string& p) {
              if (k == "enabled") {
                r.boolean(v, p, a.enabled);
              } else if (k == "listen") {
                if (r.str(v, p, a.listen) && !parseHostPort(a.listen, a.host, a.port)) {
                  r.error(v, p, "must be host:port (or [ipv6]:port), got '" + a.listen + "'");
                }
              } else if (k == "token") {
                r.str(v, p, a.token);
              }
            });
}

}  // namespace tg::config
