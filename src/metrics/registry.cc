#include "metrics/registry.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
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

}  // namespace detail

namespace {

constexpr uint32_t kMaxSeriesLimit = 1u << 20;
constexpr size_t kMaxBuckets = 256;

template <class T>
T* allocZeroed(size_t n) {
  // calloc: large blocks come from fresh zero pages, touched only as series appear.
  void* p = std::calloc(n, sizeof(T));
  if (p == nullptr) {
    throw std::bad_alloc();
  }
  return static_cast<T*>(p);
}

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

FamilySpec normalized(FamilySpec spec) {
  validateSpec(spec);
  if (spec.labels.empty()) {
    spec.maxSeries = 1;
  }
  return spec;
}

void allocCells(detail::Cells& c, uint32_t series, bool sums) {
  for (uint32_t s = 0; s < kShards; ++s) {
    c.words[s] = allocZeroed<uint64_t>(static_cast<size_t>(series) * c.stride);
    if (sums) {
      c.sums[s] = allocZeroed<double>(series);
    }
  }
}

void freeCells(detail::Cells& c) {
  for (uint32_t s = 0; s < kShards; ++s) {
    std::free(c.words[s]);
    std::free(c.sums[s]);
  }
}

uint64_t loadWord(const detail::Cells& c, size_t offset) {
  uint64_t total = 0;
  for (uint32_t s = 0; s < kShards; ++s) {
    total += std::atomic_ref<uint64_t>(c.words[s][offset]).load(std::memory_order_relaxed);
  }
  return total;
}

double loadSum(const detail::Cells& c, size_t index) {
  double total = 0;
  for (uint32_t s = 0; s < kShards; ++s) {
    total += std::atomic_ref<double>(c.sums[s][index]).load(std::memory_order_relaxed);
  }
  return total;
}

}  // namespace

// ---- text format ---------------------------------------------------------------------------

void appendLabelValueEscaped(std::string& out, std::string_view v) {
  for (const char c : v) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out += c;
    }
  }
}

void appendHelpEscaped(std::string& out, std::string_view v) {
  for (const char c : v) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out += c;
    }
  }
}

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

// ---- Family --------------------------------------------------------------------------------

Family::Family(FamilySpec spec) : spec_(normalized(std::move(spec))) {}

Family::~Family() = default;

size_t Family::seriesCount() const {
  std::lock_guard lock(mu_);
  return next_ + (overflowUsed_ ? 1 : 0);
}

uint32_t Family::resolve(std::span<const std::string_view> values) {
  if (values.size() != spec_.labels.size()) {
    return UINT32_MAX;
  }
  std::lock_guard lock(mu_);
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

void Family::expose(std::string& out) const {
  out += "# HELP ";
  out += spec_.name;
  out += ' ';
  appendHelpEscaped(out, spec_.help);
  out += "\n# TYPE ";
  out += spec_.name;
  out += ' ';
  out += typeName();
  out += '\n';
  std::lock_guard lock(mu_);
  for (const auto& [key, idx] : index_) {
    exposeSeries(out, rendered_[idx], idx);
  }
  if (overflowUsed_) {
    exposeSeries(out, overflowRendered_, spec_.maxSeries);
  }
}

// ---- CounterFamily -------------------------------------------------------------------------

CounterFamily::CounterFamily(FamilySpec spec) : Family(std::move(spec)) {
  allocCells(cells_, this->spec().maxSeries + 1, false);
  if (this->spec().labels.empty()) {
    resolve({});
  }
}

CounterFamily::~CounterFamily() { freeCells(cells_); }

Counter CounterFamily::labels(std::initializer_list<std::string_view> values) {
  return labels(std::span<const std::string_view>(values.begin(), values.size()));
}

Counter CounterFamily::labels(std::span<const std::string_view> values) {
  const uint32_t idx = resolve(values);
  return idx == UINT32_MAX ? Counter() : Counter(&cells_, idx);
}

void CounterFamily::exposeSeries(std::string& out, std::string_view labels, uint32_t index) const {
  out += spec().name;
  if (!labels.empty()) {
    out += '{';
    out += labels;
    out += '}';
  }
  out += ' ';
  appendUint(out, loadWord(cells_, index));
  out += '\n';
}

// ---- GaugeFamily ---------------------------------------------------------------------------

GaugeFamily::GaugeFamily(FamilySpec spec) : Family(std::move(spec)) {
  values_ = allocZeroed<double>(this->spec().maxSeries + 1);
  if (this->spec().labels.empty()) {
    resolve({});
  }
}

GaugeFamily::~GaugeFamily() { std::free(values_); }

Gauge GaugeFamily::labels(std::initializer_list<std::string_view> values) {
  return labels(std::span<const std::string_view>(values.begin(), values.size()));
}

Gauge GaugeFamily::labels(std::span<const std::string_view> values) {
  const uint32_t idx = resolve(values);
  return idx == UINT32_MAX ? Gauge() : Gauge(&values_[idx]);
}

void GaugeFamily::exposeSeries(std::string& out, std::string_view labels, uint32_t index) const {
  out += spec().name;
  if (!labels.empty()) {
    out += '{';
    out += labels;
    out += '}';
  }
  out += ' ';
  appendDouble(out, std::atomic_ref<double>(values_[index]).load(std::memory_order_relaxed));
  out += '\n';
}

// ---- HistogramFamily -----------------------------------------------------------------------

HistogramFamily::HistogramFamily(FamilySpec spec, std::vector<double> bounds)
    : Family(std::move(spec)) {
  for (const auto& l : this->spec().labels) {
    if (l == "le") {
      throw std::invalid_argument("metrics: " + this->spec().name + ": label 'le' is reserved");
    }
  }
  if (bounds.empty() || bounds.size() > kMaxBuckets) {
    throw std::invalid_argument("metrics: " + this->spec().name + ": 1 to 256 buckets");
  }
  for (size_t i = 0; i < bounds.size(); ++i) {
    if (!std::isfinite(bounds[i]) || (i > 0 && bounds[i] <= bounds[i - 1])) {
      throw std::invalid_argument("metrics: " + this->spec().name +
                                  ": bucket bounds must be finite and strictly ascending");
    }
  }
  cells_.bounds = std::move(bounds);
  cells_.stride = static_cast<uint32_t>(cells_.bounds.size() + 1);
  allocCells(cells_, this->spec().maxSeries + 1, true);
  if (this->spec().labels.empty()) {
    resolve({});
  }
}

HistogramFamily::~HistogramFamily() { freeCells(cells_); }

Histogram HistogramFamily::labels(std::initializer_list<std::string_view> values) {
  return labels(std::span<const std::string_view>(values.begin(), values.size()));
}

Histogram HistogramFamily::labels(std::span<const std::string_view> values) {
  const uint32_t idx = resolve(values);
  return idx == UINT32_MAX ? Histogram() : Histogram(&cells_, idx);
}

void HistogramFamily::exposeSeries(std::string& out, std::string_view labels,
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
  const auto line = [&](std::string_view suffix) {
    out += name;
    out += suffix;
    if (!labels.empty()) {
      out += '{';
      out += labels;
      out += '}';
    }
    out += ' ';
  };
  line("_sum");
  appendDouble(out, loadSum(cells_, index));
  out += '\n';
  line("_count");
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

void Registry::add(std::unique_ptr<Family> f) {
  std::lock_guard lock(mu_);
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
}

CounterFamily& Registry::counter(FamilySpec spec) {
  auto* f = new CounterFamily(std::move(spec));
  add(std::unique_ptr<Family>(f));
  return *f;
}

GaugeFamily& Registry::gauge(FamilySpec spec) {
  auto* f = new GaugeFamily(std::move(spec));
  add(std::unique_ptr<Family>(f));
  return *f;
}

HistogramFamily& Registry::histogram(FamilySpec spec, std::vector<double> bounds) {
  auto* f = new HistogramFamily(std::move(spec), std::move(bounds));
  add(std::unique_ptr<Family>(f));
  return *f;
}

std::string Registry::expose() const {
  std::string out;
  exposeTo(out);
  return out;
}

void Registry::exposeTo(std::string& out) const {
  std::vector<const Family*> sorted;
  {
    std::lock_guard lock(mu_);
    sorted.reserve(families_.size());
    for (const auto& f : families_) {
      sorted.push_back(f.get());
    }
  }
  std::sort(sorted.begin(), sorted.end(),
            [](const Family* a, const Family* b) { return a->spec().name < b->spec().name; });
  for (const Family* f : sorted) {
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
  for (const Family* f : sorted) {
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
