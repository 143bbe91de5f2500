#pragma once
// The words of a limit: what a rejected caller is told, in the limiter's own vocabulary.
// Pure functions of an Admission's result; the proxy only wraps the text in its dialect's
// error body. Messages follow OpenAI's own rate-limit answers ("Rate limit reached for ...
// Limit N, Used U, Requested R. Please try again in 1.5s.") so that tools that parse them work.

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "limiter/admission.h"
#include "limiter/policy.h"

namespace tg::limiter {

// "second", "minute", "hour", "day" for those windows; "" for any other length.
std::string_view windowName(std::chrono::milliseconds window);

// "tokens per minute", "requests per 90s", "concurrent requests".
std::string limitName(const MatchedBucket& b);

// The store_failure mode's config name: "open", "closed", "local".
std::string_view storeFailureModeName(StoreFailureMode m);
std::vector<std::string> storeFailureModeNames();  // all of them

// The message for a rejected admission (a.rejected() must be true): over a limit, blocked by
// a penalty, too many concurrent requests, larger than a whole limit, or the store down with a
// closed policy. Names the policy, the rule and the bucket's selector value.
std::string rejectionMessage(const Admission& a, const PolicySet& set);

// The OpenAI error "type" of a rejection: "tokens" for token limits, "requests" otherwise.
std::string_view rejectionType(const Admission& a);

}  // namespace tg::limiter
