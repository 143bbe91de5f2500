// Registry behaviour beyond the text format: the series cap and its overflow series,
// registration errors, label value sanitizing, null handles.
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

#include "metrics/registry.h"

namespace tg::metrics {
namespace {

TEST(MetricsRegistry, PastTheCapNewLabelSetsShareTheOverflowSeries) {
  Registry r(RegistryOptions{.overflowMetric = "m_overflow_total"});
  CounterFamily& c = r.counter({"req_total", "Requests.", {"consumer", "model"}, 2});
  c.labels({"alice", "gpt"}).inc();
  c.labels({"bob", "gpt"}).inc();
  c.labels({"carol", "gpt"}).inc(5);  // third label set: overflow
  c.labels({"dave", "claude"}).inc(2);
  c.labels({"alice", "gpt"}).inc();  // known sets still resolve to their own series
  EXPECT_EQ(c.seriesCount(), 3u);
  EXPECT_EQ(c.overflowLookups(), 2u);
  EXPECT_EQ(r.expose(),
            "# HELP req_total Requests.\n"
            "# TYPE req_total counter\n"
            "req_total{consumer=\"alice\",model=\"gpt\"} 2\n"
            "req_total{consumer=\"bob\",model=\"gpt\"} 1\n"
            "req_total{consumer=\"__other__\",model=\"__other__\"} 7\n"
            "# HELP m_overflow_total Label sets that went to a family's __other__ series "
            "because it reached its series cap.\n"
            "# TYPE m_overflow_total counter\n"
            "m_overflow_total{family=\"req_total\"} 2\n");
}

TEST(MetricsRegistry, OverflowHistogramKeepsItsBuckets) {
  Registry r;
  HistogramFamily& h = r.histogram({"h_seconds", "H.", {"up"}, 1}, {1});
  h.labels({"a"}).observe(0.5);
  h.labels({"b"}).observe(3);
  h.labels({"c"}).observe(0.5);
  EXPECT_EQ(r.expose(),
            "# HELP h_seconds H.\n"
            "# TYPE h_seconds histogram\n"
            "h_seconds_bucket{up=\"a\",le=\"1\"} 1\n"
            "h_seconds_bucket{up=\"a\",le=\"+Inf\"} 1\n"
            "h_seconds_sum{up=\"a\"} 0.5\n"
            "h_seconds_count{up=\"a\"} 1\n"
            "h_seconds_bucket{up=\"__other__\",le=\"1\"} 1\n"
            "h_seconds_bucket{up=\"__other__\",le=\"+Inf\"} 2\n"
            "h_seconds_sum{up=\"__other__\"} 3.5\n"
            "h_seconds_count{up=\"__other__\"} 2\n");
}

TEST(MetricsRegistry, ALiteralOtherLabelSetIsTheOverflowSeries) {
  Registry r;
  CounterFamily& c = r.counter({"o_total", "O.", {"a"}, 5});
  c.labels({"__other__"}).inc();
  c.labels({"x"}).inc();
  EXPECT_EQ(c.seriesCount(), 2u);
  EXPECT_EQ(c.overflowLookups(), 0u);
  EXPECT_EQ(r.expose(),
            "# HELP o_total O.\n# TYPE o_total counter\n"
            "o_total{a=\"x\"} 1\n"
            "o_total{a=\"__other__\"} 1\n");
}

TEST(MetricsRegistry, SameLabelSetSameSeries) {
  Registry r;
  CounterFamily& c = r.counter({"s_total", "S.", {"a"}, 5});
  Counter x = c.labels({"v"});
  Counter y = c.labels({"v"});
  x.inc(2);
  y.inc(3);
  EXPECT_EQ(x.value(), 5u);
  EXPECT_EQ(c.seriesCount(), 1u);
}

TEST(MetricsRegistry, WrongArityGivesANullHandle) {
  Registry r;
  CounterFamily& c = r.counter({"a_total", "A.", {"x", "y"}, 5});
  Counter h = c.labels({"only-one"});
  EXPECT_FALSE(h);
  h.inc();  // no-op, no crash
  EXPECT_EQ(h.value(), 0u);
  EXPECT_EQ(c.seriesCount(), 0u);
  Histogram nh;
  nh.observe(1);
  Gauge ng;
  ng.set(1);
  EXPECT_EQ(nh.count(), 0u);
}

TEST(MetricsRegistry, LabelValuesAreTruncatedAndMadeValidUtf8) {
  EXPECT_EQ(sanitizeLabelValue("gpt-4o"), "gpt-4o");
  EXPECT_EQ(sanitizeLabelValue("caf\xC3\xA9"), "caf\xC3\xA9");
  EXPECT_EQ(sanitizeLabelValue("a\xFF"
                               "b"),
            "a\xEF\xBF\xBD"
            "b");
  EXPECT_EQ(sanitizeLabelValue(std::string_view("a\0b", 3)),
            "a\xEF\xBF\xBD"
            "b");
  EXPECT_EQ(sanitizeLabelValue("\xC0\xAF"), "\xEF\xBF\xBD\xEF\xBF\xBD");  // overlong '/'
  EXPECT_EQ(sanitizeLabelValue("\xED\xA0\x80"),                           // a surrogate
            "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(sanitizeLabelValue(std::string(500, 'm')), std::string(kMaxLabelValueBytes, 'm'));
  // Cut at a character boundary: 127 ASCII bytes + a 2-byte character does not fit.
  const std::string cut = std::string(127, 'x') + "\xC3\xA9";
  EXPECT_EQ(sanitizeLabelValue(cut), std::string(127, 'x'));

  Registry r;
  CounterFamily& c = r.counter({"m_total", "M.", {"model"}, 5});
  c.labels({std::string(300, 'q')}).inc();
  c.labels({std::string(200, 'q')}).inc();  // same after truncation: same series
  EXPECT_EQ(c.seriesCount(), 1u);
}

TEST(MetricsRegistry, RegistrationErrorsThrow) {
  Registry r;
  r.counter({"ok_total", "ok", {"a"}, 1});
  EXPECT_THROW(r.counter({"ok_total", "dup", {}, 1}), std::invalid_argument);
  EXPECT_THROW(r.counter({"1bad", "x", {}, 1}), std::invalid_argument);
  EXPECT_THROW(r.counter({"bad-name", "x", {}, 1}), std::invalid_argument);
  EXPECT_THROW(r.counter({"c_total", "x", {"__reserved"}, 1}), std::invalid_argument);
  EXPECT_THROW(r.counter({"c_total", "x", {"a", "a"}, 1}), std::invalid_argument);
  EXPECT_THROW(r.counter({"c_total", "x", {"a"}, 0}), std::invalid_argument);
  EXPECT_THROW(r.histogram({"h", "x", {"le"}, 1}, {1}), std::invalid_argument);
  EXPECT_THROW(r.histogram({"h", "x", {}, 1}, {}), std::invalid_argument);
  EXPECT_THROW(r.histogram({"h", "x", {}, 1}, {1, 1}), std::invalid_argument);
  EXPECT_THROW(r.histogram({"h", "x", {}, 1}, {2, 1}), std::invalid_argument);
  EXPECT_THROW(r.histogram({"h", "x", {"a:b"}, 1}, {1}), std::invalid_argument);
  EXPECT_NO_THROW(r.histogram({"h", "x", {"ok"}, 1}, {1}));
}

}  // namespace
}  // namespace tg::metrics
