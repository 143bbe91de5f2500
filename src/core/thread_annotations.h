#pragma once
// Clang thread-safety annotations (-Wthread-safety) and a Mutex that carries them, in the
// style of leveldb's port/thread_annotations.h. Under GCC (our default build) the macros
// expand to nothing and serve as checked-by-review documentation; a clang build with
// -Wthread-safety checks them (`make build-clang`, run by `make test`). Every class that
// shares state between threads guards it with a core::Mutex and says so (TG_GUARDED_BY).

#include <mutex>

#if defined(__clang__)
#define TG_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define TG_THREAD_ANNOTATION(x)
#endif

#define TG_CAPABILITY(x) TG_THREAD_ANNOTATION(capability(x))
#define TG_SCOPED_CAPABILITY TG_THREAD_ANNOTATION(scoped_lockable)
#define TG_GUARDED_BY(x) TG_THREAD_ANNOTATION(guarded_by(x))
#define TG_REQUIRES(...) TG_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#define TG_ACQUIRE(...) TG_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define TG_RELEASE(...) TG_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
#define TG_NO_THREAD_SAFETY_ANALYSIS TG_THREAD_ANNOTATION(no_thread_safety_analysis)

namespace tg::core {

class TG_CAPABILITY("mutex") Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void lock() TG_ACQUIRE() { mu_.lock(); }
  void unlock() TG_RELEASE() { mu_.unlock(); }

 private:
  std::mutex mu_;
};

class TG_SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex& mu) TG_ACQUIRE(mu) : mu_(mu) { mu_.lock(); }
  ~MutexLock() TG_RELEASE() { mu_.unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex& mu_;
};

}  // namespace tg::core
