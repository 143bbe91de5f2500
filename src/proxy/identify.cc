// Identify: who is calling, before anything else is read (pipeline.h).

#include "core/strings.h"
#include "proxy/pipeline.h"
#include "proxy/router.h"

namespace tg::proxy {

namespace {}  // namespace

// Key-auth: the consumer of the presented gateway key (Authorization: Bearer, x-api-key, or the
// configured header or query parameter), never from a header a client could set to a name.
// Returns false when the route requires a key and none, or an unknown one, was presented
// (x.keyPresented tells which); true otherwise, with x.consumer set when a key matched.
bool identify(ClientConn& c, Exchange& x) {
  const limiter::PolicySet& set = x.policies();
  const config::KeyAuth mode = x.route->keyAuth;
  if (mode == config::KeyAuth::Off || set.consumers.empty()) {
    return mode != config::KeyAuth::Required;  // required with no consumers: nobody passes
  }
  auto header = [&x](std::string_view n) { return http::headerValue(x.req.headers, n); };
  limiter::KeySource source;
  std::optional<std::string> key =
      limiter::presentedKey(set.keySources, header, targetQuery(x.req.target), &source);
  if (!key) {
    return mode != config::KeyAuth::Required;
  }
  x.keyPresented = true;
  ClientConn::AuthCache& cache = c.auth;
  if (cache.set != x.gen->policies || cache.key != *key) {
    cache.set = x.gen->policies;
    cache.key = std::move(*key);
    cache.match = limiter::findConsumerByKey(set.consumers, cache.key);
  }
  if (!cache.match) {
    return mode != config::KeyAuth::Required;
  }
  x.consumer = cache.match->consumer;
  x.apiKeyId = cache.match->key->id;
  switch (source.kind) {
    case limiter::KeySource::Kind::AuthorizationBearer:
      x.keyHeader = "authorization";
      break;
    case limiter::KeySource::Kind::XApiKey:
      x.keyHeader = "x-api-key";
      break;
    case limiter::KeySource::Kind::Header:
      x.keyHeader = source.name;  // stored lower case
      break;
    case limiter::KeySource::Kind::QueryParam:
      x.keyParam = source.name;
      break;
  }
  return true;
}

}  // namespace tg::proxy
