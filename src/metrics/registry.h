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
// for maxSeries + 1 series (calloc: pages are touched only as series appear):
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

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace tg::metrics {

// Shards per counter/histogram series (see the header comment). A power of two.
inline constexpr uint32_t kShards = 16;
// Label values longer than this are cut (at a UTF-8 character boundary).
inline constexpr size_t kMaxLabelValueBytes = 128;
// The label value of every label of a family's overflow series.
inline constexpr std::string_view kOverflowValue = "__other__";

namespace detail {

// The calling thread's shard, assigned on first use.
extern constinit thread_local uint32_t tShardPlusOne;
uint32_t assignShard();
inline uint32_t shard() {
  uint32_t s = tShardPlusOne;
  return s != 0 ? s - 1 : assignShard();
}

// Cells of one counter or histogram family: per shard, (maxSeries + 1) x stride words.
struct Cells {
  uint64_t* words[kShards] = {};
  double* sums[kShards] = {};  // histograms: one sum per series per shard
  std::vector<double> bounds;  // histograms: upper bounds, ascending, +Inf excluded
  uint32_t stride = 1;         // words per series: 1 (counter) or bounds.size() + 1
};

}  // namespace detail

// A counter series. Null (default-constructed) handles ignore updates and read 0.
class Counter {
 public:
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
  friend class CounterFamily;
  Counter(detail::Cells* c, uint32_t offset) : cells_(c), offset_(offset) {}
  detail::Cells* cells_ = nullptr;
  uint32_t offset_ = 0;
};

// A gauge series: a double, set or adjusted from any thread.
class Gauge {
 public:
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
  friend class GaugeFamily;
  explicit Gauge(double* v) : value_(v) {}
  double* value_ = nullptr;
};

// A histogram series with the family's fixed buckets. observe(NaN) is ignored.
class Histogram {
 public:
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
  friend class HistogramFamily;
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

// Shared bookkeeping of every family kind: the label sets, the cap, the overflow series.
class Family {
 public:
  virtual ~Family();
  Family(const Family&) = delete;
  Family& operator=(const Family&) = delete;

  const FamilySpec& spec() const { return spec_; }
  // Series created so far, the overflow series included.
  size_t seriesCount() const;
  // labels() calls that resolved to the overflow series.
  uint64_t overflowLookups() const { return overflowLookups_.load(std::memory_order_relaxed); }

 protected:
  explicit Family(FamilySpec spec);
  // The series index of a label set (creating it, or the overflow index past the cap);
  // UINT32_MAX when the number of values is wrong.
  uint32_t resolve(std::span<const std::string_view> values);
  // Appends the exposition of this family.
  virtual void exposeSeries(std::string& out, std::string_view labels, uint32_t index) const = 0;
  virtual const char* typeName() const = 0;

 private:
  friend class Registry;
  void expose(std::string& out) const;

  FamilySpec spec_;
  mutable std::mutex mu_;
  // Joined label values ('\0'-separated; values never contain '\0') -> series index. The
  // separator is the smallest byte, so map order is the element-by-element order.
  std::map<std::string, uint32_t, std::less<>> index_;
  std::vector<std::string> rendered_;  // by index: `a="x",b="y"` (escaped), for exposition
  std::string overflowRendered_;
  uint32_t next_ = 0;
  bool overflowUsed_ = false;
  std::string scratch_;  // resolve(): the joined key
  std::atomic<uint64_t> overflowLookups_{0};
};

class CounterFamily final : public Family {
 public:
  ~CounterFamily() override;
  Counter labels(std::initializer_list<std::string_view> values);
  Counter labels(std::span<const std::string_view> values);

 private:
  friend class Registry;
  explicit CounterFamily(FamilySpec spec);
  void exposeSeries(std::string& out, std::string_view labels, uint32_t index) const override;
  const char* typeName() const override { return "counter"; }
  detail::Cells cells_;
};

class GaugeFamily final : public Family {
 public:
  ~GaugeFamily() override;
  Gauge labels(std::initializer_list<std::string_view> values);
  Gauge labels(std::span<const std::string_view> values);

 private:
  friend class Registry;
  explicit GaugeFamily(FamilySpec spec);
  void exposeSeries(std::string& out, std::string_view labels, uint32_t index) const override;
  const char* typeName() const override { return "gauge"; }
  double* values_ = nullptr;
};

class HistogramFamily final : public Family {
 public:
  ~HistogramFamily() override;
  Histogram labels(std::initializer_list<std::string_view> values);
  Histogram labels(std::span<const std::string_view> values);
  const std::vector<double>& bounds() const { return cells_.bounds; }

 private:
  friend class Registry;
  HistogramFamily(FamilySpec spec, std::vector<double> bounds);
  void exposeSeries(std::string& out, std::string_view labels, uint32_t index) const override;
  const char* typeName() const override { return "histogram"; }
  detail::Cells cells_;
};

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
  void add(std::unique_ptr<Family> f);

  RegistryOptions options_;
  mutable std::mutex mu_;
  std::vector<std::unique_ptr<Family>> families_;
};

// Helpers of the text format, exposed for tests.
void appendLabelValueEscaped(std::string& out, std::string_view v);  // \\ \" \n
void appendHelpEscaped(std::string& out, std::string_view v);        // \\ \n
// Integral values below 1e15 as integers, others shortest round-trip; +Inf, -Inf, NaN.
void appendDouble(std::string& out, double v);
// Truncates to kMaxLabelValueBytes and replaces invalid UTF-8 (and NUL) with U+FFFD.
std::string sanitizeLabelValue(std::string_view v);

}  // namespace tg::metrics
