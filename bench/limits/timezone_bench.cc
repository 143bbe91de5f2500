// Per-call cost of the local UTC offset a scheduled limit needs on the request path
// (resolveLimits -> TimeZone::offsetSecondsAt), for Europe/Berlin at instants one second
// apart from "now" (the request path's pattern: consecutive requests, same zone).
//   Reader/*          limiter/timezone.h, the TZif reader in use
//   DateGetInfo/*     date::time_zone::get_info (Debian libhowardhinnant-date, date/tz.h,
//                     USE_OS_TZDB=1), the library issue 13 proposed instead
//   DateCached/*      the same, with the sys_info [begin, end) of the last call cached, so a
//                     call inside it is two compares
// The Date* benchmarks are built only when CMake finds the `date` package (optional, bench
// only). Why the reader stays: docs/design.md, "Time zones". Reproduce:
//   ninja -C build tokengate_timezone_bench
//   build/bench/tokengate_timezone_bench --benchmark_repetitions=5 --benchmark_min_time=0.2

#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdint>

#include "limiter/timezone.h"

#ifdef TG_BENCH_DATE_TZ
#include <date/tz.h>
#endif

namespace {

int64_t nowSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void Reader(benchmark::State& state) {
  auto z = *tg::limiter::loadTimeZone("Europe/Berlin");
  int64_t t = nowSeconds();
  for (auto _ : state) {
    benchmark::DoNotOptimize(z->offsetSecondsAt(t++));
  }
}
BENCHMARK(Reader);

#ifdef TG_BENCH_DATE_TZ
void DateGetInfo(benchmark::State& state) {
  const date::time_zone* z = date::locate_zone("Europe/Berlin");
  int64_t t = nowSeconds();
  for (auto _ : state) {
    auto info = z->get_info(date::sys_seconds(std::chrono::seconds(t++)));
    benchmark::DoNotOptimize(info.offset.count());
  }
}
BENCHMARK(DateGetInfo);

void DateCached(benchmark::State& state) {
  const date::time_zone* z = date::locate_zone("Europe/Berlin");
  int64_t t = nowSeconds();
  date::sys_seconds begin{}, end{};
  int offset = 0;
  for (auto _ : state) {
    date::sys_seconds s{std::chrono::seconds(t++)};
    if (s < begin || s >= end) {
      auto info = z->get_info(s);
      begin = info.begin;
      end = info.end;
      offset = static_cast<int>(info.offset.count());
    }
    benchmark::DoNotOptimize(offset);
  }
}
BENCHMARK(DateCached);
#endif

}  // namespace

BENCHMARK_MAIN();
