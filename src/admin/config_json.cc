#include "admin/config_json.h"

#include "core/log.h"

namespace tg::admin {

namespace {

constexpr std::string_view kRedacted = "<redacted>";

// A tiny JSON writer: keys and values in order, commas handled.
class Json {
 public:
  void open(char c) {
    comma();
    out_ += c;
    first_ = true;
  }
  void close(char c) {
    out_ += c;
    first_ = false;
  }
  void key(std::string_view k) {
    comma();
    str(k);
    out_ += ':';
    first_ = true;
  }
  void value(std::string_view v) {
    comma();
    str(v);
  }
  void value(bool v) {
    comma();
    out_ += v ? "true" : "false";
  }
  void value(uint64_t v) {
    comma();
    out_ += std::to_string(v);
  }
  void ms(config::Millis d) { value(static_cast<uint64_t>(d.count())); }
  void secret(const std::string& v) { value(v.empty() ? std::string_view() : kRedacted); }
  template <typename T>
  void field(std::string_view k, const T& v) {
    key(k);
    value(v);
  }
  void fieldMs(std::string_view k, config::Millis d) {
    key(k);
    ms(d);
  }
  std::string take() { return std::move(out_); }

 private:
  void comma() {
    if (!first_) {
      out_ += ',';
    }
    first_ = false;
  }
  void str(std::string_view s) {
    out_ += '"';
    core::appendJsonEscaped(out_, s);
    out_ += '"';
  }
  std::string out_;
  bool first_ = true;
};

const char* keyAuthName(config::KeyAuth k) {
  switch (k) {
    case config::KeyAuth::Off:
      return "off";
    case config::KeyAuth::Optional:
      return "optional";
    case config::KeyAuth::Required:
      return "required";
  }
  return "optional";
}

void headerOps(Json& j, std::string_view name, const std::vector<config::HeaderOp>& ops) {
  j.key(name);
  j.open('{');
  for (const auto& h : ops) {
    j.key(h.name);
    j.secret(h.value);
  }
  j.close('}');
}

}  // namespace

std::string configJson(const config::Config& cfg) {
  Json j;
  j.open('{');

  j.key("server");
  j.open('{');
  j.field("workers", uint64_t{cfg.server.workers});
  j.fieldMs("drain_timeout_ms", cfg.server.drainTimeout);
  j.field("access_log", std::string_view(cfg.server.accessLog));
  j.field("trusted_proxies", uint64_t{cfg.server.trustedProxies});
  j.close('}');

  j.key("listeners");
  j.open('[');
  for (const auto& l : cfg.listeners) {
    j.open('{');
    j.field("address", std::string_view(l.address));
    j.field("tls", l.tls.has_value());
    j.close('}');
  }
  j.close(']');

  const config::LimitsConfig& lim = cfg.limits;
  j.key("limits");
  j.open('{');
  j.field("max_header_bytes", lim.maxHeaderBytes);
  j.field("max_headers", uint64_t{lim.maxHeaders});
  j.field("max_body_bytes", lim.maxBodyBytes);
  j.fieldMs("header_timeout_ms", lim.headerTimeout);
  j.fieldMs("body_timeout_ms", lim.bodyTimeout);
  j.fieldMs("idle_timeout_ms", lim.idleTimeout);
  j.field("max_requests_per_connection", lim.maxRequestsPerConnection);
  j.close('}');

  j.key("upstreams");
  j.open('[');
  for (const auto& u : cfg.upstreams) {
    j.open('{');
    j.field("name", std::string_view(u.name));
    j.field("url", std::string_view(u.url));
    j.key("tls");
    j.open('{');
    j.field("verify", u.tls.verify);
    j.field("ca_file", std::string_view(u.tls.caFile));
    j.field("server_name", std::string_view(u.tls.serverName));
    j.close('}');
    j.fieldMs("connect_timeout_ms", u.connectTimeout);
    j.fieldMs("first_byte_timeout_ms", u.firstByteTimeout);
    j.fieldMs("idle_timeout_ms", u.idleTimeout);
    j.key("pool");
    j.open('{');
    j.field("max_idle", uint64_t{u.poolMaxIdle});
    j.fieldMs("idle_timeout_ms", u.poolIdleTimeout);
    j.close('}');
    j.key("headers");
    j.open('{');
    j.key("remove");
    j.open('[');
    for (const auto& h : u.removeHeaders) {
      j.value(std::string_view(h));
    }
    j.close(']');
    headerOps(j, "set", u.setHeaders);
    headerOps(j, "add", u.addHeaders);
    j.close('}');
    j.close('}');
  }
  j.close(']');

  j.key("routes");
  j.open('[');
  for (const auto& rt : cfg.routes) {
    j.open('{');
    j.field("name", std::string_view(rt.name));
    j.key("match");
    j.open('{');
    j.field("host", std::string_view(rt.matchHost));
    j.field("path_prefix", std::string_view(rt.pathPrefix));
    j.close('}');
    j.field("upstream", std::string_view(rt.upstream));
    if (rt.rewritePrefix) {
      j.field("rewrite_prefix", std::string_view(*rt.rewritePrefix));
    }
    j.field("dialect", std::string_view(config::dialectName(rt.dialect)));
    j.field("inject_include_usage", rt.injectIncludeUsage);
    j.field("key_auth", std::string_view(keyAuthName(rt.keyAuth)));
    j.close('}');
  }
  j.close(']');

  const config::StoreConfig& st = cfg.store;
  j.key("store");
  j.open('{');
  j.field("type", std::string_view(st.type == config::StoreConfig::Type::Redis ? "redis" : "memory"));
  j.field("max_buckets", st.maxBuckets);
  if (st.type == config::StoreConfig::Type::Redis) {
    const config::RedisStoreConfig& rc = st.redis;
    j.key("redis");
    j.open('{');
    j.key("addresses");
    j.open('[');
    for (const auto& a : rc.addresses) {
      j.value(std::string_view(a));
    }
    j.close(']');
    j.field("cluster", rc.cluster);
    j.field("username", std::string_view(rc.username));
    j.key("password");
    j.secret(rc.password);
    j.field("database", uint64_t{rc.database});
    j.field("tls", rc.tls);
    j.fieldMs("connect_timeout_ms", rc.connectTimeout);
    j.fieldMs("timeout_ms", rc.timeout);
    j.field("key_prefix", std::string_view(rc.keyPrefix));
    j.close('}');
  }
  j.close('}');

  j.key("admin");
  j.open('{');
  j.field("enabled", cfg.admin.enabled);
  j.field("listen", std::string_view(cfg.admin.listen));
  j.key("token");
  j.secret(cfg.admin.token);
  j.close('}');

  j.key("quota");
  j.open('{');
  j.field("enabled", cfg.quota.enabled);
  j.key("routes");
  j.open('[');
  for (const auto& r : cfg.quota.routes) {
    j.value(std::string_view(r));
  }
  j.close(']');
  j.field("failure_mode", std::string_view(cfg.quota.failClosed ? "closed" : "open"));
  j.close('}');

  j.close('}');
  std::string out = j.take();
  out += '\n';
  return out;
}

}  // namespace tg::admin
