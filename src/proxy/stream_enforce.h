#pragma once
// Stream enforcement in the relay (private to proxy/; relay.cc calls it). For a request
// admitted under a policy with `enforce: stream` (limiter/policy.h), the streamed response is
// relayed block by block (usage::StreamCut, one SSE event per block). Before a block that
// carries output tokens goes out, the followed buckets are topped up
// (limiter::Admission::topUp) to cover the usage the request has once that block is relayed,
// plus kStreamHeadroom output tokens so that a top-up is one store call per ~kStreamHeadroom
// tokens, not per event; when the headroom does not fit, the block alone is asked for, so the
// budget is used to the last block that fits. When even the block does not fit, it is held
// back: the stream is ended in the caller's dialect (StreamCut::ending: finish_reason
// "length", stop_reason "max_tokens", finishReason "MAX_TOKENS", with usage) and the upstream
// connection is closed so the provider stops generating. The request is charged what was
// relayed: its prompt (reported, else estimated) and the output tokens of the blocks sent.
//
// Applies to 2xx text/event-stream responses of a dialect StreamCut supports, with a body the
// upstream did not compress and framing the gateway can end (chunked, or close-delimited).
// When the store cannot decide a top-up, the policies' store_failure mode decides: closed ends
// the stream as above, open and local stop following it (it runs to its natural end).

#include <string>
#include <string_view>

#include "http/net.h"
#include "proxy/exchange.h"

namespace tg::proxy {

inline constexpr uint64_t kStreamHeadroom = 32;

// Starts following x's response when the above applies (x.streamCut is then set).
// `endable`: the client framing lets the gateway end the response early.
void startStreamEnforcement(Exchange& x, bool endable);

// Relays `body` (the upstream's next decoded bytes; `last`: the body is complete) through
// x.streamCut into `out` by way of x.acct. Returns false when the budget ran out: `out` then
// ends with the dialect's ending, x.cutByBudget and x.usage are set, and no further upstream
// byte may be relayed.
http::Task<bool> enforceStream(Exchange& x, std::string_view body, bool last, std::string& out);

}  // namespace tg::proxy
