#include "store/bucket_table.h"

#include <algorithm>
#include <utility>

namespace tg::store {
namespace {
constexpr size_t kMinCapacity = 16;
}  // namespace

void BucketTable::setMaxEntries(size_t maxEntries) {
  maxEntries_ = std::max<size_t>(maxEntries, 1);
  maxCapacity_ = kMinCapacity;
  while (!fits(maxEntries_, maxCapacity_)) {
    maxCapacity_ *= 2;
  }
}

Entry* BucketTable::find(const BucketId& id) {
  if (size_ == 0) {
    return nullptr;
  }
  for (size_t i = home(id);; i = (i + 1) & mask_) {
    Entry& e = slots_[i];
    if (e.id == id) {
      return &e;
    }
    if (empty(e)) {
      return nullptr;
    }
  }
}

size_t BucketTable::prepare(size_t inserts, int64_t nowMs) {
  size_t removed = 0;
  if (size_ + inserts > maxEntries_ && nowMs >= minExpiry_) {
    removed = sweepAll(nowMs);
  }
  size_t want = std::min(size_ + inserts, maxEntries_);
  if (!fits(want, capacity_)) {
    size_t cap = std::max(capacity_, kMinCapacity);
    while (!fits(want, cap) && cap < maxCapacity_) {
      cap *= 2;
    }
    rehash(cap);
  }
  return removed;
}

Entry* BucketTable::findOrInsert(const BucketId& id, bool* inserted) {
  *inserted = false;
  if (capacity_ == 0) {
    return nullptr;
  }
  size_t i = home(id);
  for (;; i = (i + 1) & mask_) {
    Entry& e = slots_[i];
    if (e.id == id) {
      return &e;
    }
    if (empty(e)) {
      break;
    }
  }
  if (size_ >= maxEntries_ || !fits(size_ + 1, capacity_)) {
    return nullptr;
  }
  Entry& e = slots_[i];
  e = Entry{};
  e.id = id;
  ++size_;
  *inserted = true;
  return &e;
}

size_t BucketTable::sweep(int64_t nowMs, size_t slots) {
  if (size_ == 0) {
    return 0;
  }
  if (slots >= capacity_) {
    return sweepAll(nowMs);
  }
  size_t removed = 0;
  for (size_t n = 0; n < slots; ++n) {  // bounded work: every examination counts
    Entry& e = slots_[cursor_];
    if (!empty(e) && e.expiresAtMs <= nowMs) {
      eraseAt(cursor_);  // may shift a later entry into this slot: examine it next
      ++removed;
      continue;
    }
    cursor_ = (cursor_ + 1) & mask_;
  }
  return removed;
}

size_t BucketTable::sweepAll(int64_t nowMs) {
  size_t removed = 0;
  // Backward shifts move entries only into the slot being examined or into slots ahead of it
  // (possibly wrapping into the already-examined prefix, whose entries are all live), so one
  // pass that re-examines a slot after each removal visits every entry at least once.
  for (size_t i = 0; i < capacity_;) {
    Entry& e = slots_[i];
    if (!empty(e) && e.expiresAtMs <= nowMs) {
      eraseAt(i);
      ++removed;
      continue;
    }
    ++i;
  }
  minExpiry_ = INT64_MAX;
  for (size_t i = 0; i < capacity_; ++i) {
    if (!empty(slots_[i])) {
      noteExpiry(slots_[i].expiresAtMs);
    }
  }
  return removed;
}

void BucketTable::rehash(size_t capacity) {
  std::unique_ptr<Entry[]> old = std::exchange(slots_, std::make_unique<Entry[]>(capacity));
  size_t oldCapacity = std::exchange(capacity_, capacity);
  mask_ = capacity - 1;
  cursor_ = 0;
  for (size_t j = 0; j < oldCapacity; ++j) {
    if (empty(old[j])) {
      continue;
    }
    size_t i = home(old[j].id);
    while (!empty(slots_[i])) {
      i = (i + 1) & mask_;
    }
    slots_[i] = old[j];
  }
}

void BucketTable::eraseAt(size_t hole) {
  // Backward-shift deletion: pull each following entry of the probe run into the hole when the
  // hole lies on its probe path (between its home slot and where it sits), so lookups never
  // stop early at the emptied slot.
  for (size_t next = (hole + 1) & mask_; !empty(slots_[next]); next = (next + 1) & mask_) {
    size_t h = home(slots_[next].id);
    if (((next - h) & mask_) >= ((next - hole) & mask_)) {
      slots_[hole] = slots_[next];
      hole = next;
    }
  }
  slots_[hole] = Entry{};
  --size_;
}

}  // namespace tg::store
