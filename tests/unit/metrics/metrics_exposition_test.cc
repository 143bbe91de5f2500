// The Prometheus text exposition (0.0.4), byte for byte: HELP/TYPE lines, label escaping,
// histogram buckets (cumulative, +Inf, _sum, _count), number formatting and ordering.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "metrics/registry.h"

namespace tg::metrics {
namespace {

TEST(MetricsExposition, CounterWithLabelsSortedByValues) {
  Registry r;
  CounterFamily& c = r.counter({"http_requests_total", "Requests.", {"route", "code"}, 10});
  c.labels({"chat", "200"}).inc(3);
  c.labels({"api", "500"}).inc();
  c.labels({"chat", "200"}).inc();
  c.labels({"chat", "429"});  // resolved, never incremented: exposed as 0
  EXPECT_EQ(r.expose(),
            "# HELP http_requests_total Requests.\n"
            "# TYPE http_requests_total counter\n"
            "http_requests_total{route=\"api\",code=\"500\"} 1\n"
            "http_requests_total{route=\"chat\",code=\"200\"} 4\n"
            "http_requests_total{route=\"chat\",code=\"429\"} 0\n");
}

TEST(MetricsExposition, SeriesOrderIsElementByElement) {
  // "a" < "ab" as a first element even though "a\xff..." style joins would sort differently.
  Registry r;
  CounterFamily& c = r.counter({"x_total", "x", {"a", "b"}, 10});
  c.labels({"ab", "1"}).inc();
  c.labels({"a", "z"}).inc();
  c.labels({"a", "b"}).inc();
  EXPECT_EQ(r.expose(),
            "# HELP x_total x\n"
            "# TYPE x_total counter\n"
            "x_total{a=\"a\",b=\"b\"} 1\n"
            "x_total{a=\"a\",b=\"z\"} 1\n"
            "x_total{a=\"ab\",b=\"1\"} 1\n");
}

TEST(MetricsExposition, EscapesLabelValuesAndHelp) {
  Registry r;
  CounterFamily& c =
      r.counter({"esc_total", "Help with \\ backslash\nand newline \"quoted\".", {"v"}, 10});
  c.labels({"a\\b\"c\nd"}).inc(7);
  EXPECT_EQ(r.expose(),
            "# HELP esc_total Help with \\\\ backslash\\nand newline \"quoted\".\n"
            "# TYPE esc_total counter\n"
            "esc_total{v=\"a\\\\b\\\"c\\nd\"} 7\n");
}

TEST(MetricsExposition, GaugeFormatsDoubles) {
  Registry r;
  GaugeFamily& g = r.gauge({"temp", "Temperature.", {"where"}, 10});
  g.labels({"a"}).set(1);
  g.labels({"b"}).set(0.25);
  g.labels({"c"}).set(-3.5);
  g.labels({"d"}).set(HUGE_VAL);
  g.labels({"e"}).set(NAN);
  g.labels({"f"}).set(1e-7);
  Gauge h = g.labels({"g"});
  h.set(10);
  h.add(2.5);
  EXPECT_EQ(r.expose(),
            "# HELP temp Temperature.\n"
            "# TYPE temp gauge\n"
            "temp{where=\"a\"} 1\n"
            "temp{where=\"b\"} 0.25\n"
            "temp{where=\"c\"} -3.5\n"
            "temp{where=\"d\"} +Inf\n"
            "temp{where=\"e\"} NaN\n"
            "temp{where=\"f\"} 1e-07\n"
            "temp{where=\"g\"} 12.5\n");
}

TEST(MetricsExposition, HistogramBucketsAreCumulative) {
  Registry r;
  HistogramFamily& h = r.histogram({"lat_seconds", "Latency.", {"up"}, 10}, {0.25, 0.5, 1});
  Histogram a = h.labels({"a"});
  a.observe(0.125);
  a.observe(0.25);  // le is inclusive
  a.observe(0.375);
  a.observe(2);     // +Inf only
  h.labels({"b"});  // empty series
  EXPECT_EQ(r.expose(),
            "# HELP lat_seconds Latency.\n"
            "# TYPE lat_seconds histogram\n"
            "lat_seconds_bucket{up=\"a\",le=\"0.25\"} 2\n"
            "lat_seconds_bucket{up=\"a\",le=\"0.5\"} 3\n"
            "lat_seconds_bucket{up=\"a\",le=\"1\"} 3\n"
            "lat_seconds_bucket{up=\"a\",le=\"+Inf\"} 4\n"
            "lat_seconds_sum{up=\"a\"} 2.75\n"
            "lat_seconds_count{up=\"a\"} 4\n"
            "lat_seconds_bucket{up=\"b\",le=\"0.25\"} 0\n"
            "lat_seconds_bucket{up=\"b\",le=\"0.5\"} 0\n"
            "lat_seconds_bucket{up=\"b\",le=\"1\"} 0\n"
            "lat_seconds_bucket{up=\"b\",le=\"+Inf\"} 0\n"
            "lat_seconds_sum{up=\"b\"} 0\n"
            "lat_seconds_count{up=\"b\"} 0\n");
  EXPECT_EQ(a.count(), 4u);
  EXPECT_EQ(a.bucketCount(0), 2u);
  EXPECT_EQ(a.bucketCount(3), 1u);
}

TEST(MetricsExposition, LabelLessFamiliesAreExposedFromTheStart) {
  Registry r;
  r.counter({"b_total", "B.", {}, 1}).labels({}).inc(2);
  r.histogram({"a_seconds", "A.", {}, 1}, {1});
  r.gauge({"c", "C.", {}, 1});
  // Families sorted by name, whatever the registration order.
  EXPECT_EQ(r.expose(),
            "# HELP a_seconds A.\n"
            "# TYPE a_seconds histogram\n"
            "a_seconds_bucket{le=\"1\"} 0\n"
            "a_seconds_bucket{le=\"+Inf\"} 0\n"
            "a_seconds_sum 0\n"
            "a_seconds_count 0\n"
            "# HELP b_total B.\n"
            "# TYPE b_total counter\n"
            "b_total 2\n"
            "# HELP c C.\n"
            "# TYPE c gauge\n"
            "c 0\n");
}

TEST(MetricsExposition, NumberFormatting) {
  std::string s;
  appendDouble(s, 0.005);
  s += ' ';
  appendDouble(s, 100000);
  s += ' ';
  appendDouble(s, -HUGE_VAL);
  s += ' ';
  appendDouble(s, 0);
  EXPECT_EQ(s, "0.005 100000 -Inf 0");
}

}  // namespace
}  // namespace tg::metrics
