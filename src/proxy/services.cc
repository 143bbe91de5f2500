#include "proxy/services.h"

#include <algorithm>

namespace tg::proxy {

void ConsumerTotals::add(std::string_view consumer, uint64_t tokens) {
  core::MutexLock lock(mu_);
  auto it = totals_.find(consumer);
  if (it == totals_.end()) {
    totals_.emplace(std::string(consumer), tokens);
  } else {
    it->second += tokens;
  }
}

std::vector<std::pair<std::string, uint64_t>> ConsumerTotals::top(size_t n) const {
  std::vector<std::pair<std::string, uint64_t>> v;
  {
    core::MutexLock lock(mu_);
    v.assign(totals_.begin(), totals_.end());
  }
  std::sort(v.begin(), v.end(), [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  });
  if (v.size() > n) {
    v.resize(n);
  }
  return v;
}

namespace {
uint64_t splitmix64(uint64_t& x) {
  uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
}  // namespace

void RequestIds::next(std::array<char, 32>& id) {
  static constexpr char kHex[] = "0123456789abcdef";
  const uint64_t a = splitmix64(state_);
  const uint64_t b = splitmix64(state_);
  for (int i = 0; i < 16; ++i) {
    id[i] = kHex[(a >> (i * 4)) & 15];
    id[16 + i] = kHex[(b >> (i * 4)) & 15];
  }
}

}  // namespace tg::proxy
