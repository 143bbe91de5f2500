#include "metrics/registry.h"

#include <sys/mman.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <new>
#include <stdexcept>

namespace tg::metrics {

namespace detail {

constinit thread_local uint32_t tShardPlusOne = 0;

uint32_t assignShard() {
  static std::atomic<uint32_t> next{0};
  const uint32_t s = next.fetch_add(1, std::memory_order_relaxed) % kShards;
  tShardPlusOne = s + 1;
  return s;
}

ZeroPages::ZeroPages(size_t bytes) : bytes_(bytes) {
  if (bytes == 0) {
    return;
  }
  // Anonymous mappings are zero-filled by the kernel page by page, on first touch.
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    throw std::bad_alloc();
  }
  data_ = p;
}

ZeroPages::~ZeroPages() {
  if (data_ != nullptr) {
    munmap(data_, bytes_);
  }
}

ZeroPages::ZeroPages(ZeroPages&& o) noexcept
    : data_(std::exchange(o.data_, nullptr)), bytes_(std::exchange(o.bytes_, 0)) {}

ZeroPages& ZeroPages::operator=(ZeroPages&& o) noexcept {
  if (this != &o) {
    ZeroPages old(std::move(*this));
    data_ = std::exchange(o.data_, nullptr);
    bytes_ = std::exchange(o.bytes_, 0);
  }
  return *this;
}

namespace {
// Bytes rounded up to whole cache lines, so that shards never share one.
size_t lineRounded(size_t bytes) { return (bytes + 63) / 64 * 64; }
}  // namespace

Cells::Cells(uint32_t series, uint32_t stride_, uint32_t shards_, bool doubles)
    : stride(stride_), shards(shards_) {
  const size_t wordBytes = lineRounded(size_t{series} * stride * sizeof(uint64_t));
  const size_t doubleBytes = doubles ? lineRounded(size_t{series} * sizeof(double)) : 0;
  storage = ZeroPages((wordBytes + doubleBytes) * shards);
  auto* base = static_cast<unsigned char*>(storage.data());
  for (uint32_t s = 0; s < shards; ++s) {
    unsigned char* part = base + (wordBytes + doubleBytes) * s;
    if (wordBytes > 0) {
      words[s] = reinterpret_cast<uint64_t*>(part);
    }
    if (doubleBytes > 0) {
      sums[s] = reinterpret_cast<double*>(part + wordBytes);
    }
  }
}

}  // namespace detail

namespace {

constexpr uint32_t kMaxSeriesLimit = 1u << 20;
constexpr size_t kMaxBuckets = 256;

bool validMetricName(std::string_view n) {
  if (n.empty()) {
    return false;
  }
  for (size_t i = 0; i < n.size(); ++i) {
    const char c = n[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
    if (!alpha && !(i > 0 && c >= '0' && c <= '9')) {
      return false;
    }
  }
  return true;
}

bool validLabelName(std::string_view n) {
  if (n.empty() || n.starts_with("__")) {
    return false;
  }
  for (size_t i = 0; i < n.size(); ++i) {
    const char c = n[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    if (!alpha && !(i > 0 && c >= '0' && c <= '9')) {
      return false;
    }
  }
  return true;
}

// Length of the valid UTF-8 sequence at s[i], or 0 when invalid (RFC 3629: no overlongs, no
// surrogates, nothing above U+10FFFF).
size_t utf8Length(std::string_view s, size_t i) {
  const auto b = [&](size_t k) { return static_cast<unsigned char>(s[i + k]); };
  const auto cont = [&](size_t k) { return i + k < s.size() && (b(k) & 0xC0) == 0x80; };
  const unsigned char c = b(0);
  if (c < 0x80) {
    return c == 0 ? 0 : 1;
  }
  if (c >= 0xC2 && c <= 0xDF) {
    return cont(1) ? 2 : 0;
  }
  if (c >= 0xE0 && c <= 0xEF) {
    if (!cont(1) || !cont(2)) {
      return 0;
    }
    if ((c == 0xE0 && b(1) < 0xA0) || (c == 0xED && b(1) > 0x9F)) {
      return 0;
    }
    return 3;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    if (!cont(1) || !cont(2) || !cont(3)) {
      return 0;
    }
    if ((c == 0xF0 && b(1) < 0x90) || (c == 0xF4 && b(1) > 0x8F)) {
      return 0;
    }
    return 4;
  }
  return 0;
}

void appendSanitized(std::string& out, std::string_view v) {
  static constexpr std::string_view kReplacement = "\xEF\xBF\xBD";
  size_t written = 0;
  for (size_t i = 0; i < v.size();) {
    const size_t n = utf8Length(v, i);
    const std::string_view piece = n == 0 ? kReplacement : v.substr(i, n);
    if (written + piece.size() > kMaxLabelValueBytes) {
      break;
    }
    out.append(piece);
    written += piece.size();
    i += n == 0 ? 1 : n;
  }
}

void appendUint(std::string& out, uint64_t v) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

void renderLabels(std::string& out, const std::vector<std::string>& names, std::string_view key) {
  // key: the sanitized values joined by '\0'.
  size_t pos = 0;
  for (size_t i = 0; i < names.size(); ++i) {
    const size_t end = i + 1 < names.size() ? key.find('\0', pos) : key.size();
    if (i > 0) {
      out += ',';
    }
    out += names[i];
    out += "=\"";
    appendLabelValueEscaped(out, key.substr(pos, end - pos));
    out += '"';
    pos = end + 1;
  }
}

void validateSpec(const FamilySpec& spec) {
  if (!validMetricName(spec.name)) {
    throw std::invalid_argument("metrics: invalid metric name '" + spec.name + "'");
  }
  for (size_t i = 0; i < spec.labels.size(); ++i) {
    if (!validLabelName(spec.labels[i])) {
      throw std::invalid_argument("metrics: " + spec.name + ": invalid label name '" +
                                  spec.labels[i] + "'");
    }
    for (size_t j = 0; j < i; ++j) {
      if (spec.labels[j] == spec.labels[i]) {
        throw std::invalid_argument("metrics: " + spec.name + ": duplicate label '" +
                                    spec.labels[i] + "'");
      }
    }
  }
  if (spec.maxSeries == 0 || spec.maxSeries > kMaxSeriesLimit) {
    throw std::invalid_argument("metrics: " + spec.name + ": maxSeries out of range");
  }
}

FamilySpec normalized(FamilySpec spec, FamilyKind kind) {
  validateSpec(spec);
  if (kind == FamilyKind::Histogram) {
    for (const auto& l : spec.labels) {
      if (l == "le") {
        throw std::invalid_argument("metrics: " + spec.name + ": label 'le' is reserved");
      }
    }
  }
  if (spec.labels.empty()) {
    spec.maxSeries = 1;
  }
  return spec;
}

detail::Cells makeCells(const FamilySpec& spec, FamilyKind kind, std::vector<double> bounds) {
  const uint32_t series = spec.maxSeries + 1;  // + the overflow series
  if (kind == FamilyKind::Counter) {
    return detail::Cells(series, 1, kShards, false);
  }
  if (kind == FamilyKind::Gauge) {
    return detail::Cells(series, 0, 1, true);
  }
  if (bounds.empty() || bounds.size() > kMaxBuckets) {
    throw std::invalid_argument("metrics: " + spec.name + ": 1 to 256 buckets");
  }
  for (size_t i = 0; i < bounds.size(); ++i) {
    if (!std::isfinite(bounds[i]) || (i > 0 && bounds[i] <= bounds[i - 1])) {
      throw std::invalid_argument("metrics: " + spec.name +
                                  ": bucket bounds must be finite and strictly ascending");
    }
  }
  detail::Cells c(series, static_cast<uint32_t>(bounds.size() + 1), kShards, true);
  c.bounds = std::move(bounds);
  return c;
}

uint64_t loadWord(const detail::Cells& c, size_t offset) {
  uint64_t total = 0;
  for (uint32_t s = 0; s < c.shards; ++s) {
    total += std::atomic_ref<uint64_t>(c.words[s][offset]).load(std::memory_order_relaxed);
  }
  return total;
}

double loadSum(const detail::Cells& c, size_t index) {
  double total = 0;
  for (uint32_t s = 0; s < c.shards; ++s) {
    total += std::atomic_ref<double>(c.sums[s][index]).load(std::memory_order_relaxed);
  }
  return total;
}

}  // namespace

// ---- text format ---------------------------------------------------------------------------

namespace {

// The text format escapes \\ and newline everywhere, and " in label values only.
void appendEscaped(std::string& out, std::string_view v, bool quotes) {
  for (const char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '"' && quotes) {
      out += "\\\"";
    } else {
      out += c;
    }
  }
}

}  // namespace

void appendLabelValueEscaped(std::string& out, std::string_view v) { appendEscaped(out, v, true); }

void appendHelpEscaped(std::string& out, std::string_view v) { appendEscaped(out, v, false); }

void appendDouble(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "NaN";
  } else if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
  } else if (v == std::trunc(v) && std::fabs(v) < 1e15) {
    // Integral values as integers ("100000", not the shorter "1e+05"): exact and readable.
    char buf[32];
    const auto r = std::to_chars(buf, buf + sizeof buf, static_cast<int64_t>(v));
    out.append(buf, r.ptr);
  } else {
    char buf[32];
    const auto r = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, r.ptr);
  }
}

std::string sanitizeLabelValue(std::string_view v) {
  std::string out;
  appendSanitized(out, v);
  return out;
}

// ---- handles ------------------------------------------------------------------------------

uint64_t Counter::value() const { return cells_ == nullptr ? 0 : loadWord(*cells_, offset_); }

double Gauge::value() const {
  return value_ == nullptr ? 0 : std::atomic_ref<double>(*value_).load(std::memory_order_relaxed);
}

uint64_t Histogram::count() const {
  if (cells_ == nullptr) {
    return 0;
  }
  uint64_t n = 0;
  for (size_t i = 0; i <= cells_->bounds.size(); ++i) {
    n += loadWord(*cells_, offset_ + i);
  }
  return n;
}

double Histogram::sum() const { return cells_ == nullptr ? 0 : loadSum(*cells_, index_); }

uint64_t Histogram::bucketCount(size_t i) const {
  if (cells_ == nullptr || i > cells_->bounds.size()) {
    return 0;
  }
  return loadWord(*cells_, offset_ + i);
}

// ---- FamilyBase ----------------------------------------------------------------------------

FamilyBase::FamilyBase(FamilySpec spec, FamilyKind kind, std::vector<double> bounds)
    : spec_(normalized(std::move(spec), kind)),
      kind_(kind),
      cells_(makeCells(spec_, kind, std::move(bounds))) {
  if (spec_.labels.empty()) {
    resolve({});  // the one series of a label-less family exists from the start
  }
}

FamilyBase::~FamilyBase() = default;

size_t FamilyBase::seriesCount() const {
  core::MutexLock lock(mu_);
  return next_ + (overflowUsed_ ? 1 : 0);
}

uint32_t FamilyBase::resolve(std::span<const std::string_view> values) {
  if (values.size() != spec_.labels.size()) {
    return UINT32_MAX;
  }
  core::MutexLock lock(mu_);
  scratch_.clear();
  bool allOverflow = !values.empty();
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) {
      scratch_ += '\0';
    }
    appendSanitized(scratch_, values[i]);
    allOverflow = allOverflow && values[i] == kOverflowValue;
  }
  if (!allOverflow) {
    if (auto it = index_.find(std::string_view(scratch_)); it != index_.end()) {
      return it->second;
    }
    if (next_ < spec_.maxSeries) {
      const uint32_t idx = next_++;
      index_.emplace(scratch_, idx);
      std::string rendered;
      renderLabels(rendered, spec_.labels, scratch_);
      rendered_.push_back(std::move(rendered));
      return idx;
    }
    overflowLookups_.fetch_add(1, std::memory_order_relaxed);
  }
  if (!overflowUsed_) {
    overflowUsed_ = true;
    std::string key;
    for (size_t i = 0; i < values.size(); ++i) {
      if (i > 0) {
        key += '\0';
      }
      key += kOverflowValue;
    }
    renderLabels(overflowRendered_, spec_.labels, key);
  }
  return spec_.maxSeries;
}

void FamilyBase::expose(std::string& out) const {
  static constexpr std::string_view kTypeNames[] = {"counter", "gauge", "histogram"};
  out += "# HELP ";
  out += spec_.name;
  out += ' ';
  appendHelpEscaped(out, spec_.help);
  out += "\n# TYPE ";
  out += spec_.name;
  out += ' ';
  out += kTypeNames[static_cast<size_t>(kind_)];
  out += '\n';
  core::MutexLock lock(mu_);
  for (const auto& [key, idx] : index_) {
    exposeSeries(out, rendered_[idx], idx);
  }
  if (overflowUsed_) {
    exposeSeries(out, overflowRendered_, spec_.maxSeries);
  }
}

// ---- the kinds' series lines ---------------------------------------------------------------

namespace {

// `name{labels} ` (no braces without labels).
void appendSeriesName(std::string& out, std::string_view name, std::string_view suffix,
                      std::string_view labels) {
  out += name;
  out += suffix;
  if (!labels.empty()) {
    out += '{';
    out += labels;
    out += '}';
  }
  out += ' ';
}

}  // namespace

template <>
void BasicFamily<Counter>::exposeSeries(std::string& out, std::string_view labels,
                                        uint32_t index) const {
  appendSeriesName(out, spec().name, "", labels);
  appendUint(out, loadWord(cells_, index));
  out += '\n';
}

template <>
void BasicFamily<Gauge>::exposeSeries(std::string& out, std::string_view labels,
                                      uint32_t index) const {
  appendSeriesName(out, spec().name, "", labels);
  appendDouble(out, std::atomic_ref<double>(cells_.sums[0][index]).load(std::memory_order_relaxed));
  out += '\n';
}

template <>
void BasicFamily<Histogram>::exposeSeries(std::string& out, std::string_view labels,
                                          uint32_t index) const {
  const std::string& name = spec().name;
  const size_t base = static_cast<size_t>(index) * cells_.stride;
  uint64_t cumulative = 0;
  for (size_t i = 0; i <= cells_.bounds.size(); ++i) {
    cumulative += loadWord(cells_, base + i);
    out += name;
    out += "_bucket{";
    if (!labels.empty()) {
      out += labels;
      out += ',';
    }
    out += "le=\"";
    appendDouble(out, i < cells_.bounds.size() ? cells_.bounds[i] : HUGE_VAL);
    out += "\"} ";
    appendUint(out, cumulative);
    out += '\n';
  }
  appendSeriesName(out, name, "_sum", labels);
  appendDouble(out, loadSum(cells_, index));
  out += '\n';
  appendSeriesName(out, name, "_count", labels);
  appendUint(out, cumulative);
  out += '\n';
}

// ---- Registry ------------------------------------------------------------------------------

Registry::Registry(RegistryOptions options) : options_(std::move(options)) {
  if (!options_.overflowMetric.empty() && !validMetricName(options_.overflowMetric)) {
    throw std::invalid_argument("metrics: invalid overflow metric name");
  }
}

Registry::~Registry() = default;

template <class F>
F& Registry::add(std::unique_ptr<F> f) {
  F& ref = *f;
  core::MutexLock lock(mu_);
  const std::string& name = f->spec().name;
  if (name == options_.overflowMetric) {
    throw std::invalid_argument("metrics: duplicate metric name '" + name + "'");
  }
  for (const auto& g : families_) {
    if (g->spec().name == name) {
      throw std::invalid_argument("metrics: duplicate metric name '" + name + "'");
    }
  }
  families_.push_back(std::move(f));
  return ref;
}

// (new, not make_unique: the constructors are private to the registry.)
CounterFamily& Registry::counter(FamilySpec spec) {
  return add(std::unique_ptr<CounterFamily>(new CounterFamily(std::move(spec))));
}

GaugeFamily& Registry::gauge(FamilySpec spec) {
  return add(std::unique_ptr<GaugeFamily>(new GaugeFamily(std::move(spec))));
}

HistogramFamily& Registry::histogram(FamilySpec spec, std::vector<double> bounds) {
  return add(
      std::unique_ptr<HistogramFamily>(new HistogramFamily(std::move(spec), std::move(bounds))));
}

std::string Registry::expose() const {
  std::string out;
  exposeTo(out);
  return out;
}

void Registry::exposeTo(std::string& out) const {
  std::vector<const FamilyBase*> sorted;
  {
    core::MutexLock lock(mu_);
    sorted.reserve(families_.size());
    for (const auto& f : families_) {
      sorted.push_back(f.get());
    }
  }
  std::sort(sorted.begin(), sorted.end(), [](const FamilyBase* a, const FamilyBase* b) {
    return a->spec().name < b->spec().name;
  });
  for (const FamilyBase* f : sorted) {
    f->expose(out);
  }
  if (options_.overflowMetric.empty()) {
    return;
  }
  out += "# HELP ";
  out += options_.overflowMetric;
  out +=
      " Label sets that went to a family's __other__ series because it reached its series "
      "cap.\n# TYPE ";
  out += options_.overflowMetric;
  out += " counter\n";
  for (const FamilyBase* f : sorted) {
    if (const uint64_t n = f->overflowLookups(); n > 0) {
      out += options_.overflowMetric;
      out += "{family=\"";
      out += f->spec().name;
      out += "\"} ";
      appendUint(out, n);
      out += '\n';
    }
  }
}

}  // namespace tg::metrics
