#include "store/key_hash.h"

#include <bit>
#include <cstring>
#include <random>

namespace tg::store {
namespace {

inline uint64_t rotl(uint64_t x, int b) { return (x << b) | (x >> (64 - b)); }

inline uint64_t load64(const unsigned char* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;  // little-endian hosts only (x86-64, aarch64): static_assert below
}

static_assert(std::endian::native == std::endian::little, "SipHash loads assume little-endian");

// Streaming SipHash-2-4 with 128-bit output over several pieces, without copying them.
class SipHash {
 public:
  explicit SipHash(const HashKey& k)
      : v0_(0x736f6d6570736575ULL ^ k.k0),
        v1_(0x646f72616e646f6dULL ^ k.k1 ^ 0xee),
        v2_(0x6c7967656e657261ULL ^ k.k0),
        v3_(0x7465646279746573ULL ^ k.k1) {}

  void update(const unsigned char* p, size_t n) {
    total_ += n;
    if (pending_ > 0) {
      while (n > 0 && pending_ < 8) {
        buf_[pending_++] = *p++;
        --n;
      }
      if (pending_ < 8) {
        return;
      }
      block(load64(buf_));
      pending_ = 0;
    }
    for (; n >= 8; n -= 8, p += 8) {
      block(load64(p));
    }
    std::memcpy(buf_, p, n);
    pending_ = n;
  }

  BucketId finish() {
    uint64_t b = static_cast<uint64_t>(total_) << 56;
    for (size_t i = 0; i < pending_; ++i) {
      b |= static_cast<uint64_t>(buf_[i]) << (8 * i);
    }
    block(b);
    v2_ ^= 0xee;
    for (int i = 0; i < 4; ++i) {
      round();
    }
    BucketId out;
    out.lo = v0_ ^ v1_ ^ v2_ ^ v3_;
    v1_ ^= 0xdd;
    for (int i = 0; i < 4; ++i) {
      round();
    }
    out.hi = v0_ ^ v1_ ^ v2_ ^ v3_;
    return out;
  }

 private:
  void round() {
    v0_ += v1_;
    v1_ = rotl(v1_, 13);
    v1_ ^= v0_;
    v0_ = rotl(v0_, 32);
    v2_ += v3_;
    v3_ = rotl(v3_, 16);
    v3_ ^= v2_;
    v0_ += v3_;
    v3_ = rotl(v3_, 21);
    v3_ ^= v0_;
    v2_ += v1_;
    v1_ = rotl(v1_, 17);
    v1_ ^= v2_;
    v2_ = rotl(v2_, 32);
  }

  void block(uint64_t m) {
    v3_ ^= m;
    round();
    round();
    v0_ ^= m;
  }

  uint64_t v0_, v1_, v2_, v3_;
  unsigned char buf_[8] = {};
  size_t pending_ = 0;
  size_t total_ = 0;
};

}  // namespace

HashKey randomHashKey() {
  std::random_device rd;
  auto word = [&rd] { return (static_cast<uint64_t>(rd()) << 32) ^ rd(); };
  HashKey k;
  k.k0 = word();
  k.k1 = word();
  return k;
}

BucketId sipHash128(const HashKey& key, std::string_view data) {
  SipHash h(key);
  h.update(reinterpret_cast<const unsigned char*>(data.data()), data.size());
  return h.finish();
}

BucketId bucketIdFor(const HashKey& key, std::string_view bucketKey, Algorithm algorithm,
                     int64_t windowMs) {
  unsigned char tail[9];
  uint64_t w = static_cast<uint64_t>(windowMs);
  std::memcpy(tail, &w, 8);
  tail[8] = static_cast<unsigned char>(algorithm);
  SipHash h(key);
  h.update(reinterpret_cast<const unsigned char*>(bucketKey.data()), bucketKey.size());
  h.update(tail, sizeof tail);
  BucketId id = h.finish();
  if (id.hi == 0 && id.lo == 0) {
    id.lo = 1;
  }
  return id;
}

}  // namespace tg::store
