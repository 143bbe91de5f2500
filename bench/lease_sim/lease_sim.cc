// Issue 14's simulation: N gateway instances (one LeasedStore each, one worker) over ONE shared
// MemoryStore standing in for Redis, M consumers with Zipf-distributed popularity, each with its
// own token limit. Every call that reaches the shared store (reserve, settle) is one "Redis op".
// For each algorithm it runs the same request stream twice:
//   exact   every instance calls the shared store directly (1 reserve + 1 settle per request)
//   leased  every instance goes through its LeasedStore (default LeaseOptions)
// and prints Redis ops (total, per request, per simulated second), the tokens admitted per
// (consumer, window) against the limit and against the bound stated in store/leased_store.h,
// rejections of both modes, requests one mode admitted and the other rejected, and memory.
//
// The model (docs/scaling.md says it in full): simulated time advances by a fixed aggregate
// arrival rate; each request picks a consumer by Zipf(s), an instance uniformly (a load
// balancer), a reservation of 50..2000 tokens and a real usage (95%: 10..100% of the
// reservation; 5%: up to 150%, debt), and settles after a random latency. Each holder's tick()
// runs every ttl/4 of simulated time. Not simulated: network latency to Redis (the inner store
// answers inline), Redis itself (one in-process MemoryStore, same algorithms), several workers
// per instance, failures. Single-threaded and deterministic for a given --seed.

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <queue>
#include <string>
#include <string_view>
#include <vector>

#include "store/leased_store.h"
#include "store/memory_store.h"

namespace {

using namespace tg::store;
using std::chrono::milliseconds;

constexpr int64_t kT0Ms = 28'333'334LL * 60'000;  // a minute boundary: windows start at t = 0

TimePoint timeAtUs(int64_t us) {
  return TimePoint(std::chrono::duration_cast<TimePoint::duration>(
      std::chrono::microseconds(kT0Ms * 1000 + us)));
}

// ---- deterministic randomness ----
struct Rng {
  uint64_t s;
  uint64_t next() {  // splitmix64
    uint64_t z = (s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  double unit() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }  // [0, 1)
  uint64_t below(uint64_t n) { return static_cast<uint64_t>(unit() * static_cast<double>(n)); }
};

// Zipf(s) over ranks 0..n-1 (P(rank k) ~ (k+1)^-s): precomputed CDF, binary search.
class Zipf {
 public:
  Zipf(size_t n, double s) : cdf_(n), p_(n) {
    double h = 0;
    for (size_t k = 0; k < n; ++k) {
      h += std::pow(static_cast<double>(k + 1), -s);
      cdf_[k] = h;
    }
    for (size_t k = 0; k < n; ++k) {
      p_[k] = std::pow(static_cast<double>(k + 1), -s) / h;
      cdf_[k] /= h;
    }
    cdf_[n - 1] = 1.0;
  }
  size_t sample(Rng& r) const {
    const double u = r.unit();
    return static_cast<size_t>(std::upper_bound(cdf_.begin(), cdf_.end(), u) - cdf_.begin());
  }
  double p(size_t k) const { return p_[k]; }

 private:
  std::vector<double> cdf_;
  std::vector<double> p_;
};

// ---- the shared store, counted (the idea of tests/unit/store/leased_store_test.cc) ----
class CountingStore final : public Store {
 public:
  explicit CountingStore(std::shared_ptr<MemoryStore> m) : m_(std::move(m)) {}
  void reserveInto(std::span<const BucketSpec> b, std::span<const int64_t> a, ReserveMode mode,
                   TimePoint now, ReserveResult& out) override {
    ++reserves;
    m_->reserveInto(b, a, mode, now, out);
  }
  bool reserveStart(std::span<const BucketSpec> b, std::span<const int64_t> a, ReserveMode mode,
                    TimePoint now, ReserveResult& out, std::function<void()> done) override {
    (void)done;
    ++reserves;
    m_->reserveInto(b, a, mode, now, out);
    return true;
  }
  void settle(std::span<const Reservation> r, std::span<const int64_t> d, TimePoint now) override {
    ++settles;
    m_->settle(r, d, now);
  }
  bool peek(std::span<const BucketSpec> b, TimePoint now, std::vector<BucketPeek>& out,
            std::function<void()> done) override {
    return m_->peek(b, now, out, std::move(done));
  }
  bool reset(std::span<const BucketSpec> b, TimePoint now, std::vector<BucketPeek>& out,
             std::function<void()> done) override {
    return m_->reset(b, now, out, std::move(done));
  }
  bool adjust(const BucketSpec& b, Adjust how, int64_t v, TimePoint now, BucketPeek& out,
              std::function<void()> done) override {
    return m_->adjust(b, how, v, now, out, std::move(done));
  }
  uint64_t reserves = 0, settles = 0;

 private:
  std::shared_ptr<MemoryStore> m_;
};

// ---- configuration ----
struct Config {
  size_t instances = 1000;
  size_t consumers = 1'000'000;
  double zipfS = 1.1;
  double rate = 100'000;      // requests per simulated second, all instances together
  double durationS = 120;     // simulated seconds of arrivals
  int64_t windowMs = 60'000;  // the consumers' limit window
  int64_t latencyMs = 2'000;  // settle delay: uniform in [0, 2 * latencyMs]
  int64_t limit = 0;          // > 0: every consumer's limit; 0: sized to its traffic (below)
  int64_t limitFloor = 20'000;
  double debtShare = 0.05;  // requests whose real usage exceeds their reservation
  int64_t ttlMs = 1'000;    // LeaseOptions::ttl (the rest: defaults)
  uint64_t seed = 1;
  std::vector<Algorithm> algorithms{Algorithm::FixedWindow, Algorithm::SlidingWindow,
                                    Algorithm::TokenBucket};
  bool exact = true, leased = true;
};

const char* algName(Algorithm a) {
  switch (a) {
    case Algorithm::FixedWindow: return "fixed_window";
    case Algorithm::SlidingWindow: return "sliding_window";
    case Algorithm::TokenBucket: return "token_bucket";
    default: return "?";
  }
}

void usage() {
  std::fprintf(stderr,
               "usage: tokengate_lease_sim [--quick] [--instances=N] [--consumers=M] [--zipf=S]\n"
               "  [--rate=REQ_PER_S] [--duration=S] [--window=S] [--latency-ms=MEAN]\n"
               "  [--limit=TOKENS (0 = sized to each consumer's traffic)] [--limit-floor=TOKENS]\n"
               "  [--debt-share=F] [--ttl-ms=MS] [--seed=N]\n"
               "  [--algorithm=fixed|sliding|token|all] [--mode=exact|leased|both]\n");
}

bool parse(int argc, char** argv, Config& c) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    const auto eq = a.find('=');
    const std::string_view k = a.substr(0, eq);
    const std::string v = eq == std::string_view::npos ? "" : std::string(a.substr(eq + 1));
    if (k == "--quick") {
      c.instances = 100;
      c.consumers = 100'000;
      c.rate = 10'000;
      c.durationS = 20;
      c.windowMs = 10'000;
    } else if (k == "--instances") {
      c.instances = std::stoull(v);
    } else if (k == "--consumers") {
      c.consumers = std::stoull(v);
    } else if (k == "--zipf") {
      c.zipfS = std::stod(v);
    } else if (k == "--rate") {
      c.rate = std::stod(v);
    } else if (k == "--duration") {
      c.durationS = std::stod(v);
    } else if (k == "--window") {
      c.windowMs = static_cast<int64_t>(std::stod(v) * 1000);
    } else if (k == "--latency-ms") {
      c.latencyMs = std::stoll(v);
    } else if (k == "--limit") {
      c.limit = std::stoll(v);
    } else if (k == "--limit-floor") {
      c.limitFloor = std::stoll(v);
    } else if (k == "--debt-share") {
      c.debtShare = std::stod(v);
    } else if (k == "--ttl-ms") {
      c.ttlMs = std::stoll(v);
    } else if (k == "--seed") {
      c.seed = std::stoull(v);
    } else if (k == "--algorithm") {
      if (v == "fixed") {
        c.algorithms = {Algorithm::FixedWindow};
      } else if (v == "sliding") {
        c.algorithms = {Algorithm::SlidingWindow};
      } else if (v == "token") {
        c.algorithms = {Algorithm::TokenBucket};
      } else if (v != "all") {
        return false;
      }
    } else if (k == "--mode") {
      c.exact = v == "exact" || v == "both";
      c.leased = v == "leased" || v == "both";
      if (!c.exact && !c.leased) {
        return false;
      }
    } else {
      return false;
    }
  }
  return c.instances > 0 && c.consumers > 0 && c.rate > 0 && c.durationS > 0 && c.windowMs > 0 &&
         c.latencyMs >= 0 && c.ttlMs > 0;
}

// ---- one run: one algorithm, one mode ----
struct Outcome {
  const char* mode = "";
  uint64_t requests = 0, admitted = 0, rejected = 0, storeFull = 0;
  uint64_t reserves = 0, settles = 0;  // reaching the shared store during the arrivals
  LeaseCounts lease;
  uint64_t peakEntries = 0;  // shared store's live buckets (sampled each simulated second)
  uint64_t peakLeases = 0;   // leases held over all instances (sampled each simulated second)
  uint64_t peakInFlight = 0;
  double wallS = 0;
  // per (consumer, window): tokens admitted (real usage of the admitted requests) and their debt
  std::vector<int64_t> admittedTokens, debtTokens;
  std::vector<uint8_t> admittedReq;  // per request index
};

struct Pending {
  int64_t dueUs;
  uint32_t slot;
  bool operator>(const Pending& o) const { return dueUs > o.dueUs; }
};

struct InFlight {
  Reservation r;
  int64_t delta = 0;
  uint32_t instance = 0;
};

Outcome run(const Config& c, const Zipf& zipf, const std::vector<BucketSpec>& specs, bool leased,
            size_t windows) {
  const auto wall0 = std::chrono::steady_clock::now();
  Outcome o;
  o.mode = leased ? "leased" : "exact";
  MemoryStoreOptions mo;
  mo.maxEntries = std::max<size_t>(4 * c.consumers, 1 << 20);
  mo.hashKey = HashKey{0x1234, 0x5678};
  auto mem = std::make_shared<MemoryStore>(mo);
  auto counted = std::make_shared<CountingStore>(mem);
  std::vector<std::unique_ptr<LeasedStore>> holders;
  LeaseOptions lo;
  lo.ttl = milliseconds(c.ttlMs);
  if (leased) {
    holders.reserve(c.instances);
    for (size_t i = 0; i < c.instances; ++i) {
      holders.push_back(std::make_unique<LeasedStore>(counted, lo));
    }
  }
  o.admittedTokens.assign(c.consumers * windows, 0);
  o.debtTokens.assign(c.consumers * windows, 0);

  const uint64_t total = static_cast<uint64_t>(c.rate * c.durationS);
  o.admittedReq.assign(total, 0);
  const int64_t tickUs = std::max<int64_t>(c.ttlMs * 1000 / 4, 1000);
  int64_t nextTickUs = tickUs;
  int64_t nextSampleUs = 0;
  std::vector<InFlight> pool;
  std::vector<uint32_t> freeSlots;
  std::priority_queue<Pending, std::vector<Pending>, std::greater<>> queue;
  Rng rng{c.seed * 0x2545F4914F6CDD1DULL + 17};
  ReserveResult out;
  int64_t amount = 0;
  const std::function<void()> never = [] { std::abort(); };

  auto settleDue = [&](int64_t untilUs) {
    while (!queue.empty() && queue.top().dueUs <= untilUs) {
      const Pending p = queue.top();
      queue.pop();
      InFlight& f = pool[p.slot];
      const TimePoint t = timeAtUs(p.dueUs);
      if (leased) {
        holders[f.instance]->settle(std::span(&f.r, 1), std::span(&f.delta, 1), t);
      } else {
        counted->settle(std::span(&f.r, 1), std::span(&f.delta, 1), t);
      }
      freeSlots.push_back(p.slot);
    }
  };
  auto sample = [&] {
    o.peakEntries = std::max<uint64_t>(o.peakEntries, mem->stats().entries);
    uint64_t held = 0;
    for (auto& h : holders) {
      held += h->leasesHeld();
    }
    o.peakLeases = std::max(o.peakLeases, held);
  };

  for (uint64_t i = 0; i < total; ++i) {
    const auto tUs = static_cast<int64_t>(static_cast<double>(i) * 1e6 / c.rate);
    while (nextTickUs <= tUs) {
      settleDue(nextTickUs);
      const TimePoint t = timeAtUs(nextTickUs);
      for (auto& h : holders) {
        h->tick(t);
      }
      nextTickUs += tickUs;
    }
    settleDue(tUs);
    if (tUs >= nextSampleUs) {
      sample();
      nextSampleUs += 1'000'000;
    }
    // The request (every draw is made whatever the outcome: both modes see the same stream).
    const size_t consumer = zipf.sample(rng);
    const auto instance = static_cast<uint32_t>(rng.below(c.instances));
    amount = 50 + static_cast<int64_t>(rng.below(1951));
    int64_t real;
    if (rng.unit() < c.debtShare) {
      real = amount + 1 + static_cast<int64_t>(rng.below(static_cast<uint64_t>(amount / 2)));
    } else {
      real = amount / 10 + static_cast<int64_t>(rng.below(static_cast<uint64_t>(amount - amount / 10 + 1)));
    }
    const int64_t latencyUs = static_cast<int64_t>(rng.below(static_cast<uint64_t>(2 * c.latencyMs * 1000 + 1)));

    const TimePoint now = timeAtUs(tUs);
    const BucketSpec& spec = specs[consumer];
    if (leased) {
      const bool inl = holders[instance]->reserveStart(std::span(&spec, 1), std::span(&amount, 1),
                                                        ReserveMode::Reserve, now, out, never);
      if (!inl) {
        std::abort();
      }
    } else {
      counted->reserveInto(std::span(&spec, 1), std::span(&amount, 1), ReserveMode::Reserve, now, out);
    }
    ++o.requests;
    if (!out.admitted()) {
      ++o.rejected;
      o.storeFull += out.verdict == Verdict::StoreFull;
      continue;
    }
    ++o.admitted;
    o.admittedReq[i] = 1;
    const size_t w = std::min(static_cast<size_t>(tUs / 1000 / c.windowMs), windows - 1);
    o.admittedTokens[consumer * windows + w] += real;
    o.debtTokens[consumer * windows + w] += std::max<int64_t>(real - amount, 0);
    const int64_t delta = real - amount;
    if (delta == 0) {
      continue;  // nothing to settle (the limiter sends no zero settle either)
    }
    uint32_t slot;
    if (freeSlots.empty()) {
      slot = static_cast<uint32_t>(pool.size());
      pool.emplace_back();
    } else {
      slot = freeSlots.back();
      freeSlots.pop_back();
    }
    pool[slot].r = out.reservations[0];
    pool[slot].delta = delta;
    pool[slot].instance = instance;
    queue.push(Pending{tUs + latencyUs, slot});
    o.peakInFlight = std::max<uint64_t>(o.peakInFlight, queue.size());
  }
  sample();
  o.reserves = counted->reserves;
  o.settles = counted->settles;
  for (auto& h : holders) {
    const LeaseCounts& lc = h->counts();
    o.lease.localAdmits += lc.localAdmits;
    o.lease.innerReserves += lc.innerReserves;
    o.lease.leasesTaken += lc.leasesTaken;
    o.lease.leasesReturned += lc.leasesReturned;
    o.lease.exactFallbacks += lc.exactFallbacks;
  }
  // Drain (not counted above): the last settles, then every lease goes back.
  settleDue(INT64_MAX);
  for (auto& h : holders) {
    h->stop();
  }
  o.wallS = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();
  return o;
}

// ---- what the runs say ----
struct Verdicts {
  int64_t maxOver = 0;          // max over (consumer, window): admitted - limit
  double maxOverFrac = 0;       //   ... / limit
  uint64_t windowsOver = 0;     // (consumer, window) pairs with admitted > limit
  uint64_t windowsUsed = 0;     // pairs with anything admitted
  int64_t maxOverBound = INT64_MIN;  // admitted - (exact envelope: limit (+limit for TB) + debt)
  double maxOverBoundFrac = 0;  // TokenBucket: ... / stated leased extra
};

Verdicts judge(const Config& c, const Outcome& o, const std::vector<BucketSpec>& specs,
               size_t windows, Algorithm a) {
  Verdicts v;
  for (size_t k = 0; k < c.consumers; ++k) {
    const auto limit = static_cast<int64_t>(specs[k].limit);
    const int64_t stated = static_cast<int64_t>(c.instances) *
                           std::min<int64_t>(static_cast<int64_t>(static_cast<double>(limit) / 16),
                                             limit * c.ttlMs / c.windowMs);
    for (size_t w = 0; w < windows; ++w) {
      const int64_t adm = o.admittedTokens[k * windows + w];
      if (adm == 0) {
        continue;
      }
      ++v.windowsUsed;
      const int64_t over = adm - limit;
      if (over > 0) {
        ++v.windowsOver;
      }
      if (over > v.maxOver) {
        v.maxOver = over;
        v.maxOverFrac = static_cast<double>(over) / static_cast<double>(limit);
      }
      const int64_t envelope =
          limit + (a == Algorithm::TokenBucket ? limit : 0) + o.debtTokens[k * windows + w];
      const int64_t ob = adm - envelope;
      if (ob > v.maxOverBound) {
        v.maxOverBound = ob;
        v.maxOverBoundFrac = a == Algorithm::TokenBucket && stated > 0
                                 ? static_cast<double>(ob) / static_cast<double>(stated)
                                 : 0;
      }
    }
  }
  return v;
}

std::string fmtInt(uint64_t n) {
  std::string s = std::to_string(n);
  for (int i = static_cast<int>(s.size()) - 3; i > 0; i -= 3) {
    s.insert(static_cast<size_t>(i), ",");
  }
  return s;
}
std::string fmtSigned(int64_t n) {
  return n < 0 ? "-" + fmtInt(static_cast<uint64_t>(-n)) : fmtInt(static_cast<uint64_t>(n));
}

uint64_t maxRssMb() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<uint64_t>(ru.ru_maxrss) / 1024;
}

}  // namespace

int main(int argc, char** argv) {
  Config c;
  if (!parse(argc, argv, c)) {
    usage();
    return 2;
  }
  const auto total = static_cast<uint64_t>(c.rate * c.durationS);
  const size_t windows =
      static_cast<size_t>((static_cast<int64_t>(c.durationS * 1000) + c.windowMs - 1) / c.windowMs);
  std::printf("# tokengate_lease_sim: %zu instances x %zu consumers, Zipf s=%.2f, %.0f req/s for %.0f s "
              "(%s requests), window %" PRId64 " s, latency uniform 0..%" PRId64 " ms, ttl %" PRId64
              " ms, limit %s, debt share %.2f, seed %" PRIu64 "\n",
              c.instances, c.consumers, c.zipfS, c.rate, c.durationS, fmtInt(total).c_str(),
              c.windowMs / 1000, 2 * c.latencyMs, c.ttlMs,
              c.limit > 0 ? std::to_string(c.limit).c_str() : "sized to traffic", c.debtShare, c.seed);
  const Zipf zipf(c.consumers, c.zipfS);
  // Mean real usage per request (for sizing limits): E[reservation] = 1025; real is 10..100% of
  // it (mean 55%) or, for debtShare of requests, 100..150% (mean 125%).
  const double meanReal = 1025.0 * ((1 - c.debtShare) * 0.55 + c.debtShare * 1.25);
  std::printf("# top consumer: %.2f%% of requests (%.0f req/s, %.2f req/s per instance)\n",
              100 * zipf.p(0), zipf.p(0) * c.rate, zipf.p(0) * c.rate / static_cast<double>(c.instances));

  std::vector<std::string> table;
  for (Algorithm a : c.algorithms) {
    // Per consumer: key, limit. Sized to traffic: the consumer's expected tokens per window
    // times a factor log-uniform in [0.5, 2] (some buy too little, some plenty), at least
    // limitFloor.
    std::vector<BucketSpec> specs(c.consumers);
    for (size_t k = 0; k < c.consumers; ++k) {
      BucketSpec& s = specs[k];
      s.key = "tg:{r}:c" + std::to_string(k);
      s.algorithm = a;
      s.window = milliseconds(c.windowMs);
      if (c.limit > 0) {
        s.limit = static_cast<uint64_t>(c.limit);
      } else {
        Rng f{c.seed ^ (k * 0x9e3779b97f4a7c15ULL)};
        f.next();
        const double factor = std::exp(std::log(0.5) + f.unit() * std::log(4.0));
        const double expected = zipf.p(k) * c.rate * static_cast<double>(c.windowMs) / 1000 * meanReal;
        s.limit = static_cast<uint64_t>(std::max(static_cast<double>(c.limitFloor), factor * expected));
      }
    }
    Outcome exact, leased;
    if (c.exact) {
      exact = run(c, zipf, specs, false, windows);
    }
    if (c.leased) {
      leased = run(c, zipf, specs, true, windows);
    }
    for (Outcome* o : {&exact, &leased}) {
      if (o->requests == 0) {
        continue;
      }
      const Verdicts v = judge(c, *o, specs, windows, a);
      const uint64_t ops = o->reserves + o->settles;
      const double perReq = static_cast<double>(ops) / static_cast<double>(o->requests);
      const double perSec = static_cast<double>(ops) / c.durationS;
      // Requests one mode admitted and the other rejected (same stream, same index).
      uint64_t onlyExact = 0, onlyLeased = 0;
      int64_t underTokens = 0, overTokens = 0, maxLeasedMinusExact = INT64_MIN;
      double maxLmeFrac = 0;
      const bool compare = o == &leased && exact.requests == leased.requests;
      if (compare) {
        for (uint64_t i = 0; i < o->requests; ++i) {
          onlyExact += exact.admittedReq[i] && !leased.admittedReq[i];
          onlyLeased += !exact.admittedReq[i] && leased.admittedReq[i];
        }
        for (size_t k = 0; k < c.consumers; ++k) {
          for (size_t w = 0; w < windows; ++w) {
            const int64_t d = leased.admittedTokens[k * windows + w] - exact.admittedTokens[k * windows + w];
            (d < 0 ? underTokens : overTokens) += d < 0 ? -d : d;
            if (d > maxLeasedMinusExact) {
              maxLeasedMinusExact = d;
              maxLmeFrac = static_cast<double>(d) / static_cast<double>(specs[k].limit);
            }
          }
        }
      }
      std::printf(
          "%s %s: requests %s admitted %s rejected %s (store full %s); Redis ops %s (%s reserves + %s settles) "
          "= %.4f per request = %.0f per simulated s; windows used %s, over the limit %s, max overshoot %s tokens "
          "(%.4f of the limit), max above exact envelope (limit%s + debt) %s tokens%s; peak shared-store "
          "entries %s, peak leases %s, peak in flight %s; wall %.1f s\n",
          algName(a), o->mode, fmtInt(o->requests).c_str(), fmtInt(o->admitted).c_str(),
          fmtInt(o->rejected).c_str(), fmtInt(o->storeFull).c_str(), fmtInt(ops).c_str(),
          fmtInt(o->reserves).c_str(), fmtInt(o->settles).c_str(), perReq, perSec,
          fmtInt(v.windowsUsed).c_str(), fmtInt(v.windowsOver).c_str(), fmtSigned(v.maxOver).c_str(),
          v.maxOverFrac, a == Algorithm::TokenBucket ? " x 2" : "", fmtSigned(v.maxOverBound).c_str(),
          a == Algorithm::TokenBucket
              ? (" (" + std::to_string(v.maxOverBoundFrac) + " of the stated leased extra)").c_str()
              : "",
          fmtInt(o->peakEntries).c_str(), fmtInt(o->peakLeases).c_str(), fmtInt(o->peakInFlight).c_str(),
          o->wallS);
      if (o == &leased) {
        std::printf("  leased: local admits %s, inner reserves %s, leases taken %s, returned %s, exact "
                    "fallbacks %s\n",
                    fmtInt(o->lease.localAdmits).c_str(), fmtInt(o->lease.innerReserves).c_str(),
                    fmtInt(o->lease.leasesTaken).c_str(), fmtInt(o->lease.leasesReturned).c_str(),
                    fmtInt(o->lease.exactFallbacks).c_str());
      }
      if (compare) {
        std::printf("  leased vs exact: requests admitted only by exact %s, only by leased %s; tokens per "
                    "(consumer, window) leased below exact %s in total, above %s in total, max above %s "
                    "(%.4f of that consumer's limit)\n",
                    fmtInt(onlyExact).c_str(), fmtInt(onlyLeased).c_str(), fmtSigned(underTokens).c_str(),
                    fmtSigned(overTokens).c_str(), fmtSigned(maxLeasedMinusExact).c_str(), maxLmeFrac);
      }
      char row[512];
      std::snprintf(row, sizeof row,
                    "| %s | %s | %s | %s | %.4f | %s | %s | %s (%.4f) | %s | %s |", algName(a), o->mode,
                    fmtInt(o->requests).c_str(), fmtInt(ops).c_str(), perReq, fmtInt(static_cast<uint64_t>(perSec)).c_str(),
                    fmtInt(o->rejected).c_str(), fmtSigned(v.maxOver).c_str(), v.maxOverFrac,
                    fmtSigned(v.maxOverBound).c_str(),
                    compare ? (fmtInt(onlyExact) + " / " + fmtInt(onlyLeased)).c_str() : "-");
      table.emplace_back(row);
    }
  }
  std::printf("\n| algorithm | mode | requests | Redis ops | ops/request | ops/simulated s | rejected | "
              "max overshoot tokens (of limit) | max above exact envelope | admitted only by exact / "
              "only by leased |\n|---|---|---|---|---|---|---|---|---|---|\n");
  for (const auto& r : table) {
    std::printf("%s\n", r.c_str());
  }
  std::printf("\n# peak RSS %" PRIu64 " MB\n", maxRssMb());
  return 0;
}
