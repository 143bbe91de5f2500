// proxy/breaker.h: every transition of the circuit breaker, with a manual clock.

#include "proxy/breaker.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

namespace tg::proxy {
namespace {

using namespace std::chrono_literals;

// A breaker on a manual clock that records the transitions it reports.
class BreakerTest : public ::testing::Test {
 protected:
  void make() {
    breaker_ = std::make_unique<CircuitBreaker>(cfg_, [this](const CircuitBreaker::Transition& t) {
      log_.push_back(std::string(breakerStateName(t.from)) + "->" + breakerStateName(t.to) + ":" +
                     std::string(t.reason));
      lastOpenFor_ = t.openFor;
    });
  }
  // One request: allowed? then its result recorded. Returns whether it was allowed.
  bool request(bool failure) {
    CircuitBreaker::Permit p = breaker_->allow(clock_.now());
    if (p.allowed) {
      breaker_->record(p, failure, clock_.now());
    }
    return p.allowed;
  }
  void failures(int n) {
    for (int i = 0; i < n; ++i) {
      ASSERT_TRUE(request(true)) << "request " << i;
    }
  }
  BreakerState state() const { return breaker_->state(); }

  config::CircuitBreakerConfig cfg_;
  core::ManualClock clock_;
  std::unique_ptr<CircuitBreaker> breaker_;
  std::vector<std::string> log_;
  core::Duration lastOpenFor_{0};
};

TEST_F(BreakerTest, OpensAfterConsecutiveFailures) {
  cfg_.consecutiveFailures = 3;
  cfg_.errorRatePercent = 0;
  make();
  failures(2);
  EXPECT_EQ(state(), BreakerState::Closed);
  failures(1);
  EXPECT_EQ(state(), BreakerState::Open);
  EXPECT_EQ(log_, std::vector<std::string>{"closed->open:consecutive_failures"});
  EXPECT_EQ(lastOpenFor_, core::Duration(30s));
}

TEST_F(BreakerTest, SuccessResetsTheConsecutiveCount) {
  cfg_.consecutiveFailures = 3;
  cfg_.errorRatePercent = 0;
  make();
  failures(2);
  ASSERT_TRUE(request(false));
  failures(2);
  EXPECT_EQ(state(), BreakerState::Closed);
  failures(1);
  EXPECT_EQ(state(), BreakerState::Open);
}

TEST_F(BreakerTest, OpenRefusesWithTimeUntilHalfOpen) {
  cfg_.consecutiveFailures = 1;
  cfg_.openFor = 30s;
  make();
  failures(1);
  clock_.advance(10s);
  CircuitBreaker::Permit p = breaker_->allow(clock_.now());
  EXPECT_FALSE(p.allowed);
  EXPECT_EQ(p.retryAfter, core::Duration(20s));
  EXPECT_EQ(state(), BreakerState::Open);
}

TEST_F(BreakerTest, ErrorRateOverTheWindowOpens) {
  cfg_.consecutiveFailures = 0;
  cfg_.errorRatePercent = 50;
  cfg_.minRequests = 10;
  cfg_.window = 10s;
  make();
  // Alternating success / failure: 50 % once 10 results are in.
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(request(false));
    ASSERT_TRUE(request(true));
  }
  ASSERT_TRUE(request(false));
  EXPECT_EQ(state(), BreakerState::Closed);  // 4 of 9: below min_requests anyway
  ASSERT_TRUE(request(true));                // 5 of 10
  EXPECT_EQ(state(), BreakerState::Open);
  EXPECT_EQ(log_, std::vector<std::string>{"closed->open:error_rate"});
}

TEST_F(BreakerTest, ErrorRateBelowThresholdStaysClosed) {
  cfg_.consecutiveFailures = 0;
  cfg_.errorRatePercent = 50;
  cfg_.minRequests = 10;
  make();
  for (int i = 0; i < 30; ++i) {
    ASSERT_TRUE(request(i % 3 == 0));  // a third fail
  }
  EXPECT_EQ(state(), BreakerState::Closed);
}

TEST_F(BreakerTest, ErrorRateNeedsMinRequests) {
  cfg_.consecutiveFailures = 0;
  cfg_.errorRatePercent = 50;
  cfg_.minRequests = 20;
  make();
  failures(19);  // 100 % failures, but too few to judge
  EXPECT_EQ(state(), BreakerState::Closed);
  failures(1);
  EXPECT_EQ(state(), BreakerState::Open);
}

TEST_F(BreakerTest, OldResultsLeaveTheWindow) {
  cfg_.consecutiveFailures = 0;
  cfg_.errorRatePercent = 50;
  cfg_.minRequests = 10;
  cfg_.window = 10s;
  make();
  failures(9);
  clock_.advance(11s);  // those 9 failures are out of the window
  for (int i = 0; i < 9; ++i) {
    ASSERT_TRUE(request(false));
  }
  failures(1);  // 1 of 10 in the window
  EXPECT_EQ(state(), BreakerState::Closed);
  // Results within the window keep counting.
  failures(7);  // 8 of 17
  EXPECT_EQ(state(), BreakerState::Closed);
  failures(1);  // 9 of 18: 50 %
  EXPECT_EQ(state(), BreakerState::Open);
}

TEST_F(BreakerTest, HalfOpenProbeSuccessCloses) {
  cfg_.consecutiveFailures = 2;
  cfg_.openFor = 1s;
  make();
  failures(2);
  clock_.advance(999ms);
  EXPECT_FALSE(request(false));
  clock_.advance(1ms);
  CircuitBreaker::Permit probe = breaker_->allow(clock_.now());
  ASSERT_TRUE(probe.allowed);
  EXPECT_TRUE(probe.probe);
  EXPECT_EQ(state(), BreakerState::HalfOpen);
  // While the one probe is in flight, everything else is refused.
  CircuitBreaker::Permit other = breaker_->allow(clock_.now());
  EXPECT_FALSE(other.allowed);
  EXPECT_EQ(other.retryAfter, core::Duration(1s));
  breaker_->record(probe, false, clock_.now());
  EXPECT_EQ(state(), BreakerState::Closed);
  EXPECT_EQ(log_, (std::vector<std::string>{"closed->open:consecutive_failures",
                                            "open->half_open:cool_down_over",
                                            "half_open->closed:probe_succeeded"}));
  // Closed again with fresh counters: one failure does not re-open it.
  failures(1);
  EXPECT_EQ(state(), BreakerState::Closed);
}

TEST_F(BreakerTest, HalfOpenNeedsEveryProbeToSucceed) {
  cfg_.consecutiveFailures = 1;
  cfg_.openFor = 1s;
  cfg_.halfOpenProbes = 3;
  make();
  failures(1);
  clock_.advance(1s);
  std::vector<CircuitBreaker::Permit> probes;
  for (int i = 0; i < 3; ++i) {
    probes.push_back(breaker_->allow(clock_.now()));
    ASSERT_TRUE(probes.back().allowed && probes.back().probe);
  }
  EXPECT_FALSE(breaker_->allow(clock_.now()).allowed);
  breaker_->record(probes[0], false, clock_.now());
  breaker_->record(probes[1], false, clock_.now());
  EXPECT_EQ(state(), BreakerState::HalfOpen);
  breaker_->record(probes[2], false, clock_.now());
  EXPECT_EQ(state(), BreakerState::Closed);
}

TEST_F(BreakerTest, HalfOpenProbeFailureReopens) {
  cfg_.consecutiveFailures = 1;
  cfg_.openFor = 2s;
  make();
  failures(1);
  clock_.advance(2s);
  ASSERT_TRUE(request(true));  // the probe fails
  EXPECT_EQ(state(), BreakerState::Open);
  EXPECT_EQ(log_.back(), "half_open->open:probe_failed");
  EXPECT_EQ(lastOpenFor_, core::Duration(2s));  // no growth without max_open_for
  CircuitBreaker::Permit p = breaker_->allow(clock_.now());
  EXPECT_FALSE(p.allowed);
  EXPECT_EQ(p.retryAfter, core::Duration(2s));
}

TEST_F(BreakerTest, CoolDownGrowsUpToMaxOpenForAndResetsOnClose) {
  cfg_.consecutiveFailures = 1;
  cfg_.openFor = 1s;
  cfg_.maxOpenFor = 5s;
  make();
  failures(1);
  std::vector<core::Duration> coolDowns;
  for (int i = 0; i < 4; ++i) {
    clock_.advance(lastOpenFor_);
    ASSERT_TRUE(request(true));  // failed probe
    coolDowns.push_back(lastOpenFor_);
  }
  EXPECT_EQ(coolDowns, (std::vector<core::Duration>{2s, 4s, 5s, 5s}));
  clock_.advance(5s);
  ASSERT_TRUE(request(false));  // probe succeeds: closed, cool-down back to open_for
  EXPECT_EQ(state(), BreakerState::Closed);
  failures(1);
  EXPECT_EQ(lastOpenFor_, core::Duration(1s));
}

TEST_F(BreakerTest, StaleResultsAreIgnored) {
  cfg_.consecutiveFailures = 2;
  cfg_.openFor = 1s;
  make();
  // Two requests start while closed; both fail, which opens the circuit at the second.
  CircuitBreaker::Permit a = breaker_->allow(clock_.now());
  CircuitBreaker::Permit b = breaker_->allow(clock_.now());
  CircuitBreaker::Permit slow = breaker_->allow(clock_.now());
  breaker_->record(a, true, clock_.now());
  breaker_->record(b, true, clock_.now());
  ASSERT_EQ(state(), BreakerState::Open);
  clock_.advance(1s);
  CircuitBreaker::Permit probe = breaker_->allow(clock_.now());
  ASSERT_TRUE(probe.probe);
  // A request from the closed period finishing now decides nothing.
  breaker_->record(slow, false, clock_.now());
  EXPECT_EQ(state(), BreakerState::HalfOpen);
  breaker_->record(probe, false, clock_.now());
  EXPECT_EQ(state(), BreakerState::Closed);
  EXPECT_EQ(log_.size(), 3u);  // one line per transition, no more
}

TEST_F(BreakerTest, FailureStatusesDefaultTo5xxNot429) {
  make();
  EXPECT_TRUE(breaker_->isFailureStatus(500));
  EXPECT_TRUE(breaker_->isFailureStatus(503));
  EXPECT_TRUE(breaker_->isFailureStatus(599));
  EXPECT_FALSE(breaker_->isFailureStatus(429));
  EXPECT_FALSE(breaker_->isFailureStatus(200));
  EXPECT_FALSE(breaker_->isFailureStatus(404));
}

TEST_F(BreakerTest, TooManyRequestsIsNotAFailureSoItNeverOpens) {
  cfg_.consecutiveFailures = 3;
  make();
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE(request(breaker_->isFailureStatus(429)));
  }
  EXPECT_EQ(state(), BreakerState::Closed);
}

TEST_F(BreakerTest, FailureStatusesAreConfigurable) {
  cfg_.failureStatuses = {{429, 429}, {502, 504}};
  cfg_.consecutiveFailures = 3;
  make();
  EXPECT_TRUE(breaker_->isFailureStatus(429));
  EXPECT_FALSE(breaker_->isFailureStatus(500));
  EXPECT_TRUE(breaker_->isFailureStatus(503));
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(request(breaker_->isFailureStatus(429)));
  }
  EXPECT_EQ(state(), BreakerState::Open);
}

}  // namespace
}  // namespace tg::proxy
