#pragma once
// Relay (private to proxy/): the response of the upstream that answered, to the client, as it
// arrives. Declared apart from pipeline.h because only forward() calls it.

#include "http/response_reader.h"
#include "proxy/breaker.h"
#include "proxy/pipeline.h"

namespace tg::proxy {

// One upstream tried under its circuit breaker (an upstream without one always passes and
// records nothing). finish() records the result once.
struct BreakerTry {
  size_t index = 0;
  CircuitBreaker* breaker = nullptr;
  CircuitBreaker::Permit permit;
  bool finished = false;

  // False when the circuit refuses the request (permit.retryAfter says for how long).
  bool start(const Generation& g, size_t upstream);
  bool failedStatus(int status) const { return breaker && breaker->isFailureStatus(status); }
  void finish(bool failure);
};

// Relays x.resp (its head parsed by `parser`, the first body bytes in c.body): the head with
// the first bytes in one write, then one write per upstream read, so a stream reaches the
// client event by event. The usage tracker reads every byte on the side. When the upstream's
// body is complete, the upstream connection goes back to its pool and the request is settled
// (settle()) BEFORE the last bytes are written: a client that sends its next request the
// moment it has this response already finds its concurrency slot free and its tokens counted.
// Records the result in `tried`'s breaker. Once the response has started a failure can only
// cut it short: the connection is closed without the final chunk.
http::Task<void> relay(ClientConn& c, Exchange& x, const Services& s, http::ResponseParser& parser,
                       BreakerTry& tried);

}  // namespace tg::proxy
