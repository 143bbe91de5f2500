#pragma once
// Registry: counters, gauges and histograms with fixed label schemas, and their Prometheus
// text exposition (format 0.0.4). Pure: no Asio, no sockets; the admin listener serves
// expose()'s string.
//
// Model. A *family* is one metric name with a help text, a fixed list of label names declared
// at registration and at most `maxSeries` label sets (*series*). The request path resolves a
// label set once (family.labels({...}): a map lookup under the family's mutex) and keeps the
// returned *handle* (Counter, Gauge, Histogram: a pointer and an offset, trivially copyable),
// then updates through the handle without any lock:
//
//   Counter     inc(n): one relaxed fetch_add on the calling thread's shard of the series
//   Histogram   observe(v): a linear scan of the bucket bounds, two relaxed fetch_adds
//   Gauge       set(v) / add(v): one relaxed atomic store / fetch_add (not sharded: gauges
//               are set from control paths, not per request)
//
// Shards. Counter and histogram cells live in kShards separate arrays, one per shard; a thread
// takes the next shard number the first time it updates a metric (worker threads get distinct
// shards while there are at most kShards of them). Threads of different shards never write the
// same cache line, so a series every worker increments (the same route and model) does not
// bounce between cores. Updates stay atomic (relaxed RMW), so two threads that share a shard
// (more than kShards threads) are still exact, just slower. expose() sums the shards.
//
// Cardinality. Each family has a hard cap `maxSeries` fixed at registration. Past it, every new
// label set resolves to ONE overflow series whose label values are all "__other__" (it is
// exposed last); lookups that landed there are counted (RegistryOptions::overflowMetric). Label
// values are truncated to kMaxLabelValueBytes bytes and invalid UTF-8 bytes become U+FFFD, so a
// client-chosen value (a model name) bounds memory too. Memory per family is reserved up front
// for maxSeries + 1 series (anonymous pages, touched only as series appear: detail::ZeroPages):
// counters 8 B x kShards per series, histograms 8 B x (buckets + 2) x kShards, gauges 8 B.
//
// Exposition order is deterministic: families sorted by name, series by their label values
// (element by element, byte order), the overflow series last, histogram buckets ascending with
// `+Inf` last, then `_sum` and `_count`. `_count` is computed from the buckets, so it always
// equals the `+Inf` bucket even while observations race a scrape.
//
// Thread safety: every method of Registry and of the families is safe from any thread;
// handles are safe to copy and use from any thread. Registration is meant for start-up: it
// throws std::invalid_argument for an invalid or duplicate name, invalid label names or
// bucket bounds (exceptions are allowed at start-up, never on the request path). labels()
// never throws: a wrong number of values returns a null handle, whose updates do nothing.
// Families and the registry must outlive every handle.

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/thread_annotations.h"

namespace tg::metrics {

// Shards per counter/histogram series (see the header comment). A power of two.
inline constexpr uint32_t kShards = 16;
// Label values longer than this are cut (at a UTF-8 character boundary).
inline constexpr size_t kMaxLabelValueBytes = 128;
// The label value of every label of a family's overflow series.
inline constexpr std::string_view kOverflowValue = "__other__";

// The three kinds of family; each handle names its own (Handle::kKind).
enum class FamilyKind : uint8_t { Counter, Gauge, Histogram };

namespace detail {

// The calling thread's shard, assigned on first use.
extern constinit thread_local uint32_t tShardPlusOne;
uint32_t assignShard();
inline uint32_t shard() {
  uint32_t s = tShardPlusOne;
  return s != 0 ? s - 1 : assignShard();
}

// Zeroed memory whose pages the kernel provides only when first written (anonymous mmap), so
// a family reserves its cap up front but pays memory only for the series that appear (a
// zero-initialising new[] would write, and so touch, every page at registration). Owns the
// mapping; move-only.
class ZeroPages {
 public:
  ZeroPages() = default;
  explicit ZeroPages(size_t bytes);  // throws std::bad_alloc
  ~ZeroPages();
  ZeroPages(ZeroPages&& o) noexcept;
  ZeroPages& operator=(ZeroPages&& o) noexcept;
  void* data() const { return data_; }

 private:
  void* data_ = nullptr;
  size_t bytes_ = 0;
};

// The cells of one family, of any kind. Per shard: (maxSeries + 1) x stride 64-bit counts
// (counters: 1 per series; histograms: one per bucket, +Inf included) and one double per
// series (histograms: the sum; gauges: the value). Each shard's part starts on its own cache
// line. Gauges have no counts and one shard (they are set from control paths).
struct Cells {
  Cells(uint32_t series, uint32_t stride, uint32_t shards, bool doubles);
  std::array<uint64_t*, kShards> words{};  // into `storage`; null when stride is 0
  std::array<double*, kShards> sums{};     // into `storage`; null unless `doubles`
  std::vector<double> bounds;              // histograms: upper bounds, +Inf excluded
  uint32_t stride;                         // counts per series: 0, 1, or bounds.size() + 1
  uint32_t shards;                         // kShards, or 1 (gauges)
  ZeroPages storage;
};

}  // namespace detail

// A counter series. Null (default-constructed) handles ignore updates and read 0.
class Counter {
 public:
  static constexpr FamilyKind kKind = FamilyKind::Counter;
  Counter() = default;
  void inc(uint64_t n = 1) const {
    if (cells_ != nullptr) {
      std::atomic_ref<uint64_t>(cells_->words[detail::shard()][offset_])
          .fetch_add(n, std::memory_order_relaxed);
    }
  }
  uint64_t value() const;  // sum over shards
  explicit operator bool() const { return cells_ != nullptr; }

 private:
  template <class Handle>
  friend class BasicFamily;
  Counter(detail::Cells* c, uint32_t index) : cells_(c), offset_(index) {}
  detail::Cells* cells_ = nullptr;
  uint32_t offset_ = 0;
};

// A gauge series: a double, set or adjusted from any thread.
class Gauge {
 public:
  static constexpr FamilyKind kKind = FamilyKind::Gauge;
  Gauge() = default;
  void set(double v) const {
    if (value_ != nullptr) {
      std::atomic_ref<double>(*value_).store(v, std::memory_order_relaxed);
    }
  }
  void add(double d) const {
    if (value_ != nullptr) {
      std::atomic_ref<double>(*value_).fetch_add(d, std::memory_order_relaxed);
    }
  }
  double value() const;
  explicit operator bool() const { return value_ != nullptr; }

 private:
  template <class Handle>
  friend class BasicFamily;
  Gauge(detail::Cells* c, uint32_t index) : value_(c->sums[0] + index) {}
  double* value_ = nullptr;
};

// A histogram series with the family's fixed buckets. observe(NaN) is ignored.
class Histogram {
 public:
  static constexpr FamilyKind kKind = FamilyKind::Histogram;
  Histogram() = default;
  void observe(double v) const {
    if (cells_ == nullptr || v != v) {
      return;
    }
    const std::vector<double>& b = cells_->bounds;
    uint32_t i = 0;
    const auto n = static_cast<uint32_t>(b.size());
    while (i < n && v > b[i]) {
      ++i;
    }
    const uint32_t s = detail::shard();
    std::atomic_ref<uint64_t>(cells_->words[s][offset_ + i])
        .fetch_add(1, std::memory_order_relaxed);
    std::atomic_ref<double>(cells_->sums[s][index_]).fetch_add(v, std::memory_order_relaxed);
  }
  uint64_t count() const;
  double sum() const;
  // Non-cumulative count of bucket i (i == bounds.size(): above the last bound).
  uint64_t bucketCount(size_t i) const;
  explicit operator bool() const { return cells_ != nullptr; }

 private:
  template <class Handle>
  friend class BasicFamily;
  Histogram(detail::Cells* c, uint32_t index)
      : cells_(c), offset_(index * c->stride), index_(index) {}
  detail::Cells* cells_ = nullptr;
  uint32_t offset_ = 0;  // index_ * stride
  uint32_t index_ = 0;
};

// What a family is, fixed at registration.
struct FamilySpec {
  std::string name;                 // [a-zA-Z_:][a-zA-Z0-9_:]*
  std::string help;                 // any text; escaped on exposition
  std::vector<std::string> labels;  // [a-zA-Z_][a-zA-Z0-9_]*, not "__"-prefixed, distinct
  uint32_t maxSeries = 1000;        // >= 1; label-less families have exactly one series
};

// What every family kind shares: the spec, the label sets and their index, the cap, the
// overflow series, the cells, and the exposition frame (HELP, TYPE, series in order). A kind
// (BasicFamily<Handle>) adds only its handle and its series lines.
class FamilyBase {
 public:
  virtual ~FamilyBase();
  FamilyBase(const FamilyBase&) = delete;
  FamilyBase& operator=(const FamilyBase&) = delete;

  const FamilySpec& spec() const { return spec_; }
  FamilyKind kind() const { return kind_; }
  // Series created so far, the overflow series included.
  size_t seriesCount() const;
  // labels() calls that resolved to the overflow series.
  uint64_t overflowLookups() const { return overflowLookups_.load(std::memory_order_relaxed); }

 protected:
  // Validates the spec (and, for histograms, the bounds) and reserves the cells.
  FamilyBase(FamilySpec spec, FamilyKind kind, std::vector<double> bounds);
  // The series index of a label set (creating it, or the overflow index past the cap);
  // UINT32_MAX when the number of values is wrong.
  uint32_t resolve(std::span<const std::string_view> values);
  // Appends the exposition lines of series `index`, whose rendered labels are `labels`.
  virtual void exposeSeries(std::string& out, std::string_view labels, uint32_t index) const = 0;

 private:
  friend class Registry;
  void expose(std::string& out) const;

  const FamilySpec spec_;
  const FamilyKind kind_;

 protected:
  detail::Cells cells_;

 private:
  mutable core::Mutex mu_;
  // Joined label values ('\0'-separated; values never contain '\0') -> series index. The
  // separator is the smallest byte, so map order is the element-by-element order.
  std::map<std::string, uint32_t, std::less<>> index_ TG_GUARDED_BY(mu_);
  // By index: `a="x",b="y"` (escaped), for exposition.
  std::vector<std::string> rendered_ TG_GUARDED_BY(mu_);
  std::string overflowRendered_ TG_GUARDED_BY(mu_);
  uint32_t next_ TG_GUARDED_BY(mu_) = 0;
  bool overflowUsed_ TG_GUARDED_BY(mu_) = false;
  std::string scratch_ TG_GUARDED_BY(mu_);  // resolve(): the joined key
  std::atomic<uint64_t> overflowLookups_{0};
};

// One family kind, by its handle: BasicFamily<Counter>, <Gauge>, <Histogram> (use the aliases
// below). Only the series lines differ by kind (specialised in registry.cc).
template <class Handle>
class BasicFamily final : public FamilyBase {
 public:
  Handle labels(std::initializer_list<std::string_view> values) {
    return labels(std::span<const std::string_view>(values.begin(), values.size()));
  }
  Handle labels(std::span<const std::string_view> values) {
    const uint32_t idx = resolve(values);
    return idx == UINT32_MAX ? Handle() : Handle(&cells_, idx);
  }
  // Histograms: the upper bounds, ascending, +Inf excluded (empty for the other kinds).
  const std::vector<double>& bounds() const { return cells_.bounds; }

 private:
  friend class Registry;
  explicit BasicFamily(FamilySpec spec, std::vector<double> bounds = {})
      : FamilyBase(std::move(spec), Handle::kKind, std::move(bounds)) {}
  void exposeSeries(std::string& out, std::string_view labels, uint32_t index) const override;
};

using CounterFamily = BasicFamily<Counter>;
using GaugeFamily = BasicFamily<Gauge>;
using HistogramFamily = BasicFamily<Histogram>;
// Each kind's series lines (registry.cc).
template <>
void BasicFamily<Counter>::exposeSeries(std::string&, std::string_view, uint32_t) const;
template <>
void BasicFamily<Gauge>::exposeSeries(std::string&, std::string_view, uint32_t) const;
template <>
void BasicFamily<Histogram>::exposeSeries(std::string&, std::string_view, uint32_t) const;

struct RegistryOptions {
  // When not empty, expose() adds a counter of this name with a `family` label: the labels()
  // lookups per family that went to the overflow series (only families that overflowed).
  std::string overflowMetric;
};

class Registry {
 public:
  explicit Registry(RegistryOptions options = {});
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Register a family. The reference stays valid for the registry's lifetime.
  CounterFamily& counter(FamilySpec spec);
  GaugeFamily& gauge(FamilySpec spec);
  // `bounds`: finite upper bounds, strictly ascending, at least one; `+Inf` is implicit.
  HistogramFamily& histogram(FamilySpec spec, std::vector<double> bounds);

  // The Prometheus text exposition (Content-Type: text/plain; version=0.0.4; charset=utf-8).
  std::string expose() const;
  void exposeTo(std::string& out) const;  // appends

 private:
  template <class F>
  F& add(std::unique_ptr<F> f);

  const RegistryOptions options_;
  mutable core::Mutex mu_;
  std::vector<std::unique_ptr<FamilyBase>> families_ TG_GUARDED_BY(mu_);
};

// Helpers of the text format, exposed for tests.
void appendLabelValueEscaped(std::string& out, std::string_view v);  // \\ \" \n
void appendHelpEscaped(std::string& out, std::string_view v);        // \\ \n
// Integral values below 1e15 as integers, others shortest round-trip; +Inf, -Inf, NaN.
void appendDouble(std::string& out, double v);
// Truncates to kMaxLabelValueBytes and replaces invalid UTF-8 (and NUL) with U+FFFD.
std::string sanitizeLabelValue(std::string_view v);

}  // namespace tg::metrics
