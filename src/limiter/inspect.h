#pragma once
// Bucket inspection for operators (the admin API's GET /admin/buckets and POST
// /admin/buckets/reset): which buckets a consumer's requests touch, and their state in the
// store now. The limiter knows which buckets a request touches (rules.h matchInto); the store
// (store.h peek / reset) knows their state; this file joins the two, so the admin layer only
// translates the answer to JSON.
//
// The buckets of a query are those matchInto gives a request of the consumer on each queried
// route (one, or every route given) for the queried model, deduplicated by bucket key, in
// first-match order, optionally narrowed to one policy and / or rule. Buckets whose key is
// built from request facts the query does not carry (client IP, headers) appear as the
// rule's fallback bucket, as for a request without them.
//
// Asynchronous as the store is (store.h): inspectBuckets returns true when the answer is
// already in `out` (MemoryStore), false when `done` will be called once, later, on the calling
// thread (RedisStore). `out` must stay valid until then; the policy set may be dropped when
// inspectBuckets returns (every name is copied into `out`). Pure otherwise: no clock (the
// caller passes `now`), no locks.

#include <functional>
#include <span>
#include <string>
#include <vector>

#include "limiter/policy.h"
#include "store/store.h"

namespace tg::limiter {

struct BucketQuery {
  std::string consumer;  // required: a configured consumer's name
  std::string policy;    // "" = every policy
  std::string rule;      // "" = every rule
  std::string model;     // "" = a request naming no model
};

// One bucket of a query, as the limiter names it and the store sees it.
struct InspectedBucket {
  store::BucketSpec spec;
  std::string policy;    // policy name
  std::string rule;      // rule name
  Quantity quantity = Quantity::TotalTokens;
  bool concurrency = false;  // a concurrency limit (its window is a lease, not a period)
};

struct Inspection {
  bool notFound = false;  // the consumer is unknown (nothing was asked of the store)
  std::string error;      // notFound, or the first store failure
  std::vector<InspectedBucket> buckets;
  std::vector<store::BucketPeek> states;  // one per bucket once answered (reset: after it)
  bool ok() const { return !notFound && error.empty(); }
};

enum class InspectAction : uint8_t { Peek, Reset };

// The buckets `query` touches on `routes` (see above). False (and out.notFound) when the
// consumer is not configured.
bool listBuckets(const PolicySet& set, const BucketQuery& query,
                 std::span<const std::string> routes, store::TimePoint now, Inspection& out);

// listBuckets, then peek or reset them in `store`; out.states and out.error (the first failing
// bucket's error) filled when complete. See above for the return value.
bool inspectBuckets(const PolicySet& set, const BucketQuery& query,
                    std::span<const std::string> routes, store::Store& store,
                    InspectAction action, store::TimePoint now, Inspection& out,
                    std::function<void()> done);

}  // namespace tg::limiter
