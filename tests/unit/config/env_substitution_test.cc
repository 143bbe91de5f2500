// config/env.h: ${NAME}, ${NAME:-default} and $${ in config values, with a fake environment.

#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "config/env.h"

namespace tg::config {
namespace {

EnvLookup fakeEnv(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) {
      return std::nullopt;
    }
    return it->second;
  };
}

struct Substituted {
  std::string out;
  std::string error;
};

Substituted subst(std::string_view in, const EnvLookup& env) {
  Substituted s;
  s.out = substituteEnv(in, env, s.error);
  return s;
}

TEST(SubstituteEnvTest, TextWithoutReferencesIsUnchanged) {
  auto r = subst("plain $ text $5 {braces} $", fakeEnv({}));
  EXPECT_EQ(r.error, "");
  EXPECT_EQ(r.out, "plain $ text $5 {braces} $");
}

TEST(SubstituteEnvTest, ReplacesSetVariable) {
  auto r = subst("Bearer ${KEY}", fakeEnv({{"KEY", "sk-123"}}));
  EXPECT_EQ(r.error, "");
  EXPECT_EQ(r.out, "Bearer sk-123");
}

TEST(SubstituteEnvTest, ReplacesSeveralReferences) {
  auto r = subst("${A}-${B}-${A}", fakeEnv({{"A", "x"}, {"B", "y"}}));
  EXPECT_EQ(r.out, "x-y-x");
}

TEST(SubstituteEnvTest, DefaultUsedWhenUnset) {
  auto r = subst("${KEY:-sk-not-set}", fakeEnv({}));
  EXPECT_EQ(r.error, "");
  EXPECT_EQ(r.out, "sk-not-set");
}

TEST(SubstituteEnvTest, DefaultUsedWhenSetButEmpty) {
  auto r = subst("${KEY:-fallback}", fakeEnv({{"KEY", ""}}));
  EXPECT_EQ(r.out, "fallback");
}

TEST(SubstituteEnvTest, DefaultIgnoredWhenSet) {
  auto r = subst("${KEY:-fallback}", fakeEnv({{"KEY", "real"}}));
  EXPECT_EQ(r.out, "real");
}

TEST(SubstituteEnvTest, EmptyDefaultIsAllowed) {
  auto r = subst("[${KEY:-}]", fakeEnv({}));
  EXPECT_EQ(r.error, "");
  EXPECT_EQ(r.out, "[]");
}

TEST(SubstituteEnvTest, SetButEmptyWithoutDefaultIsEmpty) {
  auto r = subst("[${KEY}]", fakeEnv({{"KEY", ""}}));
  EXPECT_EQ(r.error, "");
  EXPECT_EQ(r.out, "[]");
}

TEST(SubstituteEnvTest, DoubleDollarEscapesALiteralReference) {
  auto r = subst("$${KEY} and ${KEY}", fakeEnv({{"KEY", "v"}}));
  EXPECT_EQ(r.error, "");
  EXPECT_EQ(r.out, "${KEY} and v");
}

TEST(SubstituteEnvTest, EscapedReferenceToUnsetVariableIsNotAnError) {
  auto r = subst("$${UNSET}", fakeEnv({}));
  EXPECT_EQ(r.error, "");
  EXPECT_EQ(r.out, "${UNSET}");
}

TEST(SubstituteEnvTest, ValuesAreNotExpandedAgain) {
  auto r = subst("${A}", fakeEnv({{"A", "${B}"}}));
  EXPECT_EQ(r.error, "");
  EXPECT_EQ(r.out, "${B}");
}

TEST(SubstituteEnvTest, UnsetVariableIsAnErrorNamingIt) {
  auto r = subst("Bearer ${OPENAI_API_KEY}", fakeEnv({}));
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.error, "environment variable OPENAI_API_KEY is not set");
}

TEST(SubstituteEnvTest, UnterminatedReferenceIsAnError) {
  auto r = subst("x ${KEY", fakeEnv({{"KEY", "v"}}));
  EXPECT_EQ(r.out, "");
  EXPECT_NE(r.error.find("unterminated"), std::string::npos) << r.error;
}

TEST(SubstituteEnvTest, InvalidNamesAreErrors) {
  for (const char* in : {"${}", "${A B}", "${A-B}", "${:-x}", "${A.B}", "${$A}"}) {
    auto r = subst(in, fakeEnv({{"A", "v"}}));
    EXPECT_NE(r.error.find("invalid environment variable name"), std::string::npos)
        << "input: " << in << " error: " << r.error;
  }
}

TEST(SubstituteEnvTest, LookupReceivesOnlyTheName) {
  std::vector<std::string> asked;
  EnvLookup env = [&](const std::string& name) -> std::optional<std::string> {
    asked.push_back(name);
    return "v";
  };
  std::string err;
  EXPECT_EQ(substituteEnv("${A_1:-d}${b}", env, err), "vv");
  EXPECT_EQ(asked, (std::vector<std::string>{"A_1", "b"}));
}

TEST(SubstituteEnvTest, ProcessEnvReadsRealEnvironment) {
  ::setenv("TG_UNIT_TEST_VAR", "from-env", 1);
  ::unsetenv("TG_UNIT_TEST_UNSET");
  EnvLookup env = processEnv();
  EXPECT_EQ(env("TG_UNIT_TEST_VAR"), std::optional<std::string>("from-env"));
  EXPECT_EQ(env("TG_UNIT_TEST_UNSET"), std::nullopt);
}

}  // namespace
}  // namespace tg::config
