// `listeners:` the addresses the gateway serves on, each optionally with TLS.
#include "config/sections.h"

namespace tg::config {

void readListener(Reader& r, const YAML::Node& n, const std::string& path, ListenerConfig& l) {
  bool sawAddress = false;
  r.forKeys(n, path, {"address", "tls"},
            [&](const std::string& k, const YAML::Node& v, const std::string& p) {
              if (k == "address") {
                sawAddress = true;
                if (r.str(v, p, l.address) && !parseHostPort(l.address, l.host, l.port)) {
                  r.error(v, p, "must be host:port (or [ipv6]:port), got '" + l.address + "'");
                }
              } else if (k == "tls") {
                TlsServerConfig t;
                r.forKeys(v, p, {"cert_file", "key_file"},
                          [&](const std::string& k2, const YAML::Node& v2, const std::string& p2) {
                            r.str(v2, p2, k2 == "cert_file" ? t.certFile : t.keyFile);
                          });
                if (t.certFile.empty() || t.keyFile.empty()) {
                  r.error(v, p, "needs both cert_file and key_file");
                }
                l.tls = t;
              }
            });
  if (!sawAddress && n.IsMap()) {
    r.error(n, path + ".address", "is required");
  }
}

}  // namespace tg::config
