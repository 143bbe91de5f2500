#include "proxy/client_conn.h"

namespace tg::proxy {

ClientConn::ClientConn(io::ByteStream& s, http::net::any_io_executor ex,
                       const config::LimitsConfig& cfg, std::string ip)
    : stream(s),
      deadline(std::move(ex),
               [this] {
                 stream.cancel();
                 if (upstream) {
                   upstream->cancel();
                 }
               }),
      limits{cfg.maxHeaderBytes, cfg.maxHeaders,  cfg.maxBodyBytes,
             cfg.headerTimeout,  cfg.bodyTimeout, cfg.idleTimeout},
      reader(stream, buf, deadline, limits),
      clientIp(std::move(ip)) {}

}  // namespace tg::proxy
