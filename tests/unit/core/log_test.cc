// core::logStrayException: the completion handler of every spawned task (admin, Redis, client
// connections) logs what ended the task, whatever was thrown, and never throws itself.

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <stdexcept>
#include <string>

#include "core/log.h"

namespace tg::core {
namespace {

// Runs `f` with stderr (fd 2, where log lines go) redirected to a temporary file; returns what
// was written.
template <typename F>
std::string captureStderr(F f) {
  std::FILE* tmp = std::tmpfile();
  const int saved = ::dup(2);
  ::dup2(::fileno(tmp), 2);
  f();
  ::dup2(saved, 2);
  ::close(saved);
  std::string out;
  std::rewind(tmp);
  char buf[4096];
  size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, tmp)) > 0) {
    out.append(buf, n);
  }
  std::fclose(tmp);
  return out;
}

TEST(LogStrayException, StdExceptionIsLoggedWithItsWhatAndContext) {
  std::string line = captureStderr([] {
    logStrayException(std::make_exception_ptr(std::runtime_error("boom")),
                      "redis: connection task failed", {"node", "127.0.0.1:6379"});
  });
  EXPECT_NE(line.find(R"("level":"error")"), std::string::npos) << line;
  EXPECT_NE(line.find(R"("msg":"redis: connection task failed")"), std::string::npos) << line;
  EXPECT_NE(line.find(R"("node":"127.0.0.1:6379")"), std::string::npos) << line;
  EXPECT_NE(line.find(R"("what":"boom")"), std::string::npos) << line;
}

TEST(LogStrayException, AnythingElseThrownIsLoggedAsUnknownInsteadOfEscaping) {
  std::string line;
  EXPECT_NO_THROW(line = captureStderr(
                      [] { logStrayException(std::make_exception_ptr(42), "task failed"); }));
  EXPECT_NE(line.find(R"("msg":"task failed")"), std::string::npos) << line;
  EXPECT_NE(line.find(R"("what":"unknown exception")"), std::string::npos) << line;
}

TEST(LogStrayException, NoExceptionLogsNothing) {
  EXPECT_EQ(captureStderr([] { logStrayException(nullptr, "task failed"); }), "");
}

}  // namespace
}  // namespace tg::core
