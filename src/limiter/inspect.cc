#include "limiter/inspect.h"

#include <algorithm>

#include "limiter/rules.h"

namespace tg::limiter {

namespace {

void collectErrors(Inspection& out) {
  for (const store::BucketPeek& p : out.states) {
    if (!p.ok()) {
      out.error = p.error.empty() ? std::string(store::storeStatusName(p.status)) : p.error;
      return;
    }
  }
}

}  // namespace

bool listBuckets(const PolicySet& set, const BucketQuery& query,
                 std::span<const std::string> routes, store::TimePoint now, Inspection& out) {
  out = Inspection{};
  const Consumer* consumer = nullptr;
  for (const Consumer& c : set.consumers) {
    if (c.name == query.consumer) {
      consumer = &c;
    }
  }
  if (consumer == nullptr) {
    out.notFound = true;
    out.error = "no consumer named '" + query.consumer + "'";
    return false;
  }
  std::vector<MatchedBucket> matched;
  for (const std::string& route : routes) {
    RequestFacts f;
    f.consumer = consumer;
    f.route = route;
    f.model = query.model;
    matchInto(set, f, now, matched);
    for (MatchedBucket& b : matched) {
      const Policy& p = set.policies[b.policyIndex];
      const Rule& r = p.rules[b.ruleIndex];
      if ((!query.policy.empty() && p.name != query.policy) ||
          (!query.rule.empty() && r.name != query.rule)) {
        continue;
      }
      const bool seen = std::any_of(out.buckets.begin(), out.buckets.end(),
                                    [&](const InspectedBucket& a) { return a.spec.key == b.spec.key; });
      if (!seen) {
        out.buckets.push_back(InspectedBucket{std::move(b.spec), p.name, r.name, b.quantity,
                                              b.kind == AmountKind::Concurrency});
      }
    }
  }
  return true;
}

bool inspectBuckets(const PolicySet& set, const BucketQuery& query,
                    std::span<const std::string> routes, store::Store& store,
                    InspectAction action, store::TimePoint now, Inspection& out,
                    std::function<void()> done) {
  if (!listBuckets(set, query, routes, now, out)) {
    return true;
  }
  // The specs stay in out.buckets; the store reads them through a span of its own copy.
  auto specs = std::make_shared<std::vector<store::BucketSpec>>();
  specs->reserve(out.buckets.size());
  for (const InspectedBucket& b : out.buckets) {
    specs->push_back(b.spec);
  }
  Inspection* o = &out;
  std::function<void()> finish = [o, specs, done = std::move(done)] {
    collectErrors(*o);
    done();
  };
  const bool inlineDone = action == InspectAction::Reset
                              ? store.reset(*specs, now, out.states, finish)
                              : store.peek(*specs, now, out.states, finish);
  if (inlineDone) {
    collectErrors(out);
  }
  return inlineDone;
}

}  // namespace tg::limiter
