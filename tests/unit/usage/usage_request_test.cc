// Request inspection (dialect, model, stream, output cap, prompt estimate) and the
// include_usage injection.

#include "usage/request.h"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <string>

namespace tg::usage {
namespace {

// With the default counter every text piece costs ceil(bytes / 4).
uint64_t t(std::string_view s) { return (s.size() + 3) / 4; }

RequestInfo inspectOk(std::string_view path, std::string_view body, std::string_view query = "",
                      const TokenCounter& counter = {}) {
  InspectResult r = inspectRequest("POST", path, query, body, counter);
  EXPECT_EQ(r.error, "");
  EXPECT_TRUE(r.info.has_value());
  return r.info.value_or(RequestInfo{});
}

TEST(Dialect, FromPathSuffix) {
  struct Case {
    std::string_view method, path, query;
    Dialect dialect;
  } cases[] = {
      {"POST", "/v1/chat/completions", "", Dialect::OpenAIChat},
      {"POST", "/openai/deployments/gpt4/chat/completions", "api-version=2024",
       Dialect::OpenAIChat},
      {"POST", "/v1/chat/completions/", "", Dialect::OpenAIChat},
      {"POST", "/v1/completions", "", Dialect::OpenAICompletions},
      {"POST", "/v1/responses", "", Dialect::OpenAIResponses},
      {"POST", "/v1/embeddings", "", Dialect::OpenAIEmbeddings},
      {"POST", "/v1/messages", "", Dialect::Anthropic},
      {"POST", "/v1/messages/count_tokens", "", Dialect::Unknown},
      {"POST", "/v1/threads/thread_1/messages", "", Dialect::Unknown},
      {"POST", "/v1beta/models/gemini-2.5-flash:generateContent", "", Dialect::GeminiGenerate},
      {"POST", "/v1beta/models/gemini-2.5-flash:streamGenerateContent", "", Dialect::GeminiStream},
      {"POST", "/v1beta/models/gemini-2.5-flash:streamGenerateContent", "alt=sse&key=k",
       Dialect::GeminiStreamSse},
      {"POST", "/v1beta/models/gemini-2.5-flash:streamGenerateContent", "key=k&alt=sse",
       Dialect::GeminiStreamSse},
      {"POST", "/v1beta/models/gemini-2.5-flash:countTokens", "", Dialect::Unknown},
      {"POST", "/api/chat", "", Dialect::OllamaChat},
      {"POST", "/ollama/api/generate", "", Dialect::OllamaGenerate},
      {"GET", "/v1/chat/completions", "", Dialect::Unknown},
      {"GET", "/v1/models", "", Dialect::Unknown},
      {"POST", "/v1/responses/resp_1/cancel", "", Dialect::Unknown},
      {"POST", "/", "", Dialect::Unknown},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(dialectFromPath(c.method, c.path, c.query), c.dialect)
        << c.method << " " << c.path << "?" << c.query;
  }
  EXPECT_STREQ(dialectName(Dialect::GeminiStreamSse), "gemini_stream_sse");
  EXPECT_STREQ(dialectName(Dialect::OllamaChat), "ollama_chat");
}

TEST(Dialect, GeminiModelFromPath) {
  EXPECT_EQ(geminiModelFromPath("/v1beta/models/gemini-2.5-flash:generateContent"),
            "gemini-2.5-flash");
  EXPECT_EQ(geminiModelFromPath("/v1/projects/p/locations/us/publishers/google/models/"
                                "gemini-2.0-pro:streamGenerateContent"),
            "gemini-2.0-pro");
  EXPECT_EQ(geminiModelFromPath("/v1beta/models%2Fgemini%2D1.5%3AgenerateContent"), "gemini-1.5");
  EXPECT_EQ(geminiModelFromPath("/v1beta/tunedModels/my-model:generateContent"), "my-model");
  EXPECT_EQ(geminiModelFromPath("/v1/models"), "");
}

TEST(InspectRequest, OpenAIChat) {
  std::string body = R"({"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true},
    "max_completion_tokens":256,
    "messages":[{"role":"system","content":"You are terse."},
                {"role":"user","name":"bob","content":[{"type":"text","text":"Describe this"},
                  {"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAA"}}]},
                {"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"look","arguments":"{\"x\":1}"}}]},
                {"role":"tool","tool_call_id":"c1","content":"sunny"}],
    "tools":[{"type":"function","function":{"name":"look"}}]})";
  RequestInfo info = inspectOk("/v1/chat/completions", body);
  EXPECT_EQ(info.dialect, Dialect::OpenAIChat);
  EXPECT_EQ(info.model, "gpt-4o");
  EXPECT_TRUE(info.stream);
  EXPECT_TRUE(info.clientAskedUsage);
  EXPECT_EQ(info.maxOutputTokens, 256u);
  uint64_t expected = t("You are terse.") + t("Describe this") + t("bob") + 1 + t("look") +
                      t("{\"x\":1}") + t("sunny") +
                      t(R"([{"type":"function","function":{"name":"look"}}])") + 3 * 4 + 3;
  EXPECT_EQ(info.promptEstimate, expected);  // the base64 image is not text
}

TEST(InspectRequest, OpenAIChatDefaults) {
  RequestInfo info =
      inspectOk("/v1/chat/completions",
                R"({"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hi"}]})");
  EXPECT_FALSE(info.stream);
  EXPECT_FALSE(info.clientAskedUsage);
  EXPECT_FALSE(info.maxOutputTokens.has_value());
  EXPECT_EQ(info.promptEstimate, 1u + 3 + 3);
  RequestInfo no =
      inspectOk("/v1/chat/completions",
                R"({"stream":true,"stream_options":{"include_usage":false},"max_tokens":10})");
  EXPECT_TRUE(no.stream);
  EXPECT_FALSE(no.clientAskedUsage);
  EXPECT_EQ(no.maxOutputTokens, 10u);
  EXPECT_EQ(no.promptEstimate, 3u);
}

TEST(InspectRequest, CompletionsPromptStringsAndTokenIds) {
  RequestInfo info = inspectOk(
      "/v1/completions",
      R"({"model":"davinci-002","prompt":["Say this","is a test"],"suffix":"end","max_tokens":7})");
  EXPECT_EQ(info.dialect, Dialect::OpenAICompletions);
  EXPECT_EQ(info.promptEstimate, t("Say this") + t("is a test") + t("end"));
  EXPECT_EQ(info.maxOutputTokens, 7u);
  EXPECT_EQ(inspectOk("/v1/completions", R"({"prompt":[1,2,3,4,5]})").promptEstimate, 5u);
  EXPECT_EQ(inspectOk("/v1/completions", R"({"prompt":[[1,2],[3]]})").promptEstimate, 3u);
}

TEST(InspectRequest, Responses) {
  std::string body =
      R"({"model":"gpt-5","instructions":"Be brief.","max_output_tokens":500,"stream":true,
    "input":[{"role":"user","content":[{"type":"input_text","text":"What is up"},{"type":"input_image","image_url":"data:image/png;base64,AAAA"}]},
             {"type":"function_call","call_id":"c","name":"f","arguments":"{}"},
             {"type":"function_call_output","call_id":"c","output":"42"}]})";
  RequestInfo info = inspectOk("/v1/responses", body);
  EXPECT_EQ(info.dialect, Dialect::OpenAIResponses);
  EXPECT_EQ(info.maxOutputTokens, 500u);
  EXPECT_TRUE(info.stream);
  EXPECT_EQ(info.promptEstimate, t("Be brief.") + t("What is up") + t("{}") + t("42") + 3 * 3 + 3);
  EXPECT_EQ(inspectOk("/v1/responses", R"({"input":"hello world"})").promptEstimate,
            t("hello world") + 3 + 3);
}

TEST(InspectRequest, Embeddings) {
  RequestInfo info = inspectOk("/v1/embeddings",
                               R"({"model":"text-embedding-3-small","input":["one two","three"]})");
  EXPECT_EQ(info.dialect, Dialect::OpenAIEmbeddings);
  EXPECT_EQ(info.promptEstimate, t("one two") + t("three"));
}

TEST(InspectRequest, Anthropic) {
  std::string body = R"({"model":"claude-sonnet-4-5","max_tokens":1024,"stream":true,
    "system":[{"type":"text","text":"You are a poet."}],
    "messages":[{"role":"user","content":"Write a haiku"},
                {"role":"assistant","content":[{"type":"text","text":"Sure"},{"type":"tool_use","id":"t","name":"n","input":{"q":"x"}}]},
                {"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":[{"type":"text","text":"result"}]},
                                          {"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBORw0KGgo"}}]}]})";
  RequestInfo info = inspectOk("/v1/messages", body);
  EXPECT_EQ(info.dialect, Dialect::Anthropic);
  EXPECT_EQ(info.model, "claude-sonnet-4-5");
  EXPECT_EQ(info.maxOutputTokens, 1024u);
  EXPECT_TRUE(info.stream);
  EXPECT_EQ(info.promptEstimate, t("You are a poet.") + t("Write a haiku") + t("Sure") +
                                     t(R"({"q":"x"})") + t("result") + 3 * 3 + 3);
}

TEST(InspectRequest, GeminiModelAndStreamFromPath) {
  std::string body = R"({"systemInstruction":{"parts":[{"text":"Be kind"}]},
    "contents":[{"role":"user","parts":[{"text":"Hello there"},{"inlineData":{"mimeType":"image/png","data":"AAAA"}}]},
                {"role":"model","parts":[{"functionCall":{"name":"f","args":{}}}]}],
    "generationConfig":{"maxOutputTokens":64}})";
  RequestInfo gen = inspectOk("/v1beta/models/gemini-2.5-flash:generateContent", body);
  EXPECT_EQ(gen.dialect, Dialect::GeminiGenerate);
  EXPECT_EQ(gen.model, "gemini-2.5-flash");
  EXPECT_FALSE(gen.stream);
  EXPECT_EQ(gen.maxOutputTokens, 64u);
  EXPECT_EQ(gen.promptEstimate,
            t("Be kind") + t("Hello there") + t(R"({"name":"f","args":{}})") + 3 * 2 + 3);
  RequestInfo stream = inspectOk("/v1beta/models/gemini-2.5-pro:streamGenerateContent", body);
  EXPECT_EQ(stream.dialect, Dialect::GeminiStream);
  EXPECT_TRUE(stream.stream);
  EXPECT_EQ(stream.model, "gemini-2.5-pro");
  RequestInfo sse =
      inspectOk("/v1beta/models/gemini-2.5-pro:streamGenerateContent", body, "alt=sse");
  EXPECT_EQ(sse.dialect, Dialect::GeminiStreamSse);
  EXPECT_TRUE(sse.stream);
}

TEST(InspectRequest, OllamaStreamsByDefault) {
  RequestInfo chat = inspectOk(
      "/api/chat",
      R"({"model":"llama3","messages":[{"role":"user","content":"why is the sky blue?","images":["iVBORw0KGgo"]}],"options":{"num_predict":128}})");
  EXPECT_EQ(chat.dialect, Dialect::OllamaChat);
  EXPECT_TRUE(chat.stream);
  EXPECT_EQ(chat.maxOutputTokens, 128u);
  EXPECT_EQ(chat.promptEstimate, t("why is the sky blue?") + 3 + 3);
  RequestInfo gen = inspectOk(
      "/api/generate",
      R"({"model":"llama3","prompt":"Hi","system":"S","stream":false,"options":{"num_predict":-1}})");
  EXPECT_EQ(gen.dialect, Dialect::OllamaGenerate);
  EXPECT_FALSE(gen.stream);
  EXPECT_FALSE(gen.maxOutputTokens.has_value());  // -1 is "unlimited"
  EXPECT_EQ(gen.promptEstimate, 2u);
}

TEST(InspectRequest, InjectedCounterIsCalledPerTextPiece) {
  int calls = 0;
  TokenCounter fixed = [&calls](std::string_view) -> uint64_t {
    ++calls;
    return 10;
  };
  RequestInfo info = inspectOk(
      "/v1/messages",
      R"({"system":"a","messages":[{"role":"user","content":"b"},{"role":"assistant","content":"c"}]})",
      "", fixed);
  EXPECT_EQ(calls, 3);
  EXPECT_EQ(info.promptEstimate, 30u + 3 * 2 + 3);
}

TEST(InspectRequest, InvalidBodiesAreErrors) {
  InspectResult bad = inspectRequest("POST", "/v1/chat/completions", "", "{\"model\":", {});
  EXPECT_FALSE(bad.info.has_value());
  EXPECT_NE(bad.error.find("not valid JSON"), std::string::npos);
  EXPECT_EQ(inspectRequest("POST", "/v1/messages", "", "", {}).error, "request body is empty");
  EXPECT_EQ(inspectRequest("POST", "/v1/messages", "", "[1,2]", {}).error,
            "request body must be a JSON object");
  EXPECT_NE(inspectRequest("POST", "/api/chat", "", "{\"a\":1} x", {}).error, "");
}

TEST(InspectRequest, UnknownPathsNeverFail) {
  InspectResult get = inspectRequest("GET", "/v1/models", "", "", {});
  ASSERT_TRUE(get.info.has_value());
  EXPECT_EQ(get.error, "");
  EXPECT_EQ(get.info->dialect, Dialect::Unknown);
  EXPECT_EQ(get.info->promptEstimate, 0u);
  InspectResult garbage = inspectRequest("POST", "/v1/files", "", "\x01\x02 not json", {});
  ASSERT_TRUE(garbage.info.has_value());
  InspectResult json =
      inspectRequest("POST", "/custom/llm", "", R"({"model":"x","stream":true})", {});
  EXPECT_EQ(json.info->model, "x");
  EXPECT_TRUE(json.info->stream);
}

TEST(InspectRequest, LargeBodyUsesATemporaryParser) {
  std::string big = R"({"model":"m","messages":[{"role":"user","content":")" +
                    std::string(3 << 20, 'a') + R"("}]})";
  RequestInfo info = inspectOk("/v1/chat/completions", big);
  EXPECT_EQ(info.promptEstimate, (3u << 20) / 4 + 3 + 3);
}

// ---- injectIncludeUsage ----------------------------------------------------------------------

bool includeUsageIsTrue(const std::string& body) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  bool flag = false;
  return parser.parse(body).get(root) == simdjson::SUCCESS &&
         root["stream_options"]["include_usage"].get_bool().get(flag) == simdjson::SUCCESS && flag;
}

TEST(InjectIncludeUsage, AddsStreamOptionsAsLastMember) {
  std::string body = R"({"model":"gpt-4o", "stream": true,
  "messages":[{"role":"user","content":"}{"}]}
)";
  ASSERT_TRUE(injectIncludeUsage(body));
  EXPECT_EQ(body, R"({"model":"gpt-4o", "stream": true,
  "messages":[{"role":"user","content":"}{"}],"stream_options":{"include_usage":true}}
)");
  std::string empty = "{ }";
  ASSERT_TRUE(injectIncludeUsage(empty));
  EXPECT_EQ(empty, R"({"stream_options":{"include_usage":true} })");
}

TEST(InjectIncludeUsage, AddsTheKeyIntoExistingStreamOptions) {
  std::string body = R"({"stream":true,"stream_options":{"include_obfuscation":false},"n":1})";
  ASSERT_TRUE(injectIncludeUsage(body));
  EXPECT_EQ(
      body,
      R"({"stream":true,"stream_options":{"include_usage":true,"include_obfuscation":false},"n":1})");
  std::string emptyOptions = R"({"stream_options": {} })";
  ASSERT_TRUE(injectIncludeUsage(emptyOptions));
  EXPECT_EQ(emptyOptions, R"({"stream_options": {"include_usage":true} })");
  std::string null = R"({"stream_options":null,"stream":true})";
  ASSERT_TRUE(injectIncludeUsage(null));
  EXPECT_EQ(null, R"({"stream_options":{"include_usage":true},"stream":true})");
}

TEST(InjectIncludeUsage, ExplicitFalseBecomesTrue) {
  std::string body = R"({"stream_options":{"include_usage": false ,"x":1}})";
  ASSERT_TRUE(injectIncludeUsage(body));
  EXPECT_EQ(body, R"({"stream_options":{"include_usage": true ,"x":1}})");
  std::string nullFlag = R"({"stream_options":{"include_usage":null}})";
  ASSERT_TRUE(injectIncludeUsage(nullFlag));
  EXPECT_TRUE(includeUsageIsTrue(nullFlag));
}

TEST(InjectIncludeUsage, LeavesAlone) {
  for (std::string body : {
           std::string(R"({"stream_options":{"include_usage":true}})"),
           std::string(R"({"stream_options":"yes"})"),  // not an object: the upstream decides
           std::string(R"([1,2])"),
           std::string(R"({"a":)"),
           std::string(R"({"stream_options":{},"stream_options":{}})"),  // duplicate key
           std::string(R"({"stream\u005foptions":{}})"),                 // escaped key
           std::string(""),
       }) {
    std::string before = body;
    EXPECT_FALSE(injectIncludeUsage(body)) << before;
    EXPECT_EQ(body, before);
  }
}

TEST(InjectIncludeUsage, ResultIsValidJsonForTrickyBodies) {
  for (std::string body : {
           std::string(R"({"messages":[{"content":"\"stream_options\":{}"}],"stream":true})"),
           std::string(R"(  {"a":[{"b":"]}"}],"c":"\\"}  )"),
           std::string(R"({"stream_options":{"x":[1,{"include_usage":false}]}})"),
           // Runs of backslashes before quotes (the scanner jumps from quote to quote).
           std::string(R"({"a":"\\\"}\\","b":"\\","c":"x\"\\\"y","stream":true})"),
           std::string(R"({"\\":"\"","stream_options":{"include_usage":false}})"),
       }) {
    ASSERT_TRUE(injectIncludeUsage(body)) << body;
    EXPECT_TRUE(includeUsageIsTrue(body)) << body;
  }
}

// clampMaxOutputTokens: the cap the inspector then reads is the clamped one, and the rest of
// the body is byte-identical.
std::string clamped(std::string body, Dialect d, uint64_t cap, bool wantChanged = true) {
  EXPECT_EQ(clampMaxOutputTokens(body, d, cap), wantChanged) << body;
  simdjson::dom::parser p;
  EXPECT_EQ(p.parse(body).error(), simdjson::SUCCESS) << body;
  return body;
}

TEST(ClampMaxOutputTokens, LowersACapAboveIt) {
  EXPECT_EQ(clamped(R"({"model":"m","max_tokens": 4096,"messages":[]})", Dialect::OpenAIChat, 100),
            R"({"model":"m","max_tokens": 100,"messages":[]})");
  EXPECT_EQ(clamped(R"({"max_completion_tokens":500,"max_tokens":900})", Dialect::OpenAIChat, 100),
            R"({"max_completion_tokens":100,"max_tokens":100})");
  EXPECT_EQ(clamped(R"({"max_output_tokens":5000,"input":"hi"})", Dialect::OpenAIResponses, 7),
            R"({"max_output_tokens":7,"input":"hi"})");
  EXPECT_EQ(clamped(R"({"max_tokens":1024,"messages":[]})", Dialect::Anthropic, 10),
            R"({"max_tokens":10,"messages":[]})");
}

TEST(ClampMaxOutputTokens, KeepsASmallerCap) {
  EXPECT_EQ(clamped(R"({"max_tokens":50})", Dialect::OpenAIChat, 100, false), R"({"max_tokens":50})");
}

TEST(ClampMaxOutputTokens, AddsTheDialectsCapWhenThereIsNone) {
  EXPECT_EQ(clamped(R"({"model":"m","messages":[]})", Dialect::OpenAIChat, 64),
            R"({"model":"m","messages":[],"max_completion_tokens":64})");
  EXPECT_EQ(clamped(R"({"prompt":"x"})", Dialect::OpenAICompletions, 64),
            R"({"prompt":"x","max_tokens":64})");
  EXPECT_EQ(clamped(R"({"input":"x"})", Dialect::OpenAIResponses, 64),
            R"({"input":"x","max_output_tokens":64})");
}

TEST(ClampMaxOutputTokens, GeminiAndOllamaNestedCaps) {
  EXPECT_EQ(clamped(R"({"contents":[],"generationConfig":{"temperature":0.5,"maxOutputTokens":800}})",
                    Dialect::GeminiGenerate, 30),
            R"({"contents":[],"generationConfig":{"temperature":0.5,"maxOutputTokens":30}})");
  EXPECT_EQ(clamped(R"({"contents":[],"generationConfig":{"temperature":0.5}})",
                    Dialect::GeminiStreamSse, 30),
            R"({"contents":[],"generationConfig":{"maxOutputTokens":30,"temperature":0.5}})");
  EXPECT_EQ(clamped(R"({"contents":[]})", Dialect::GeminiGenerate, 30),
            R"({"contents":[],"generationConfig":{"maxOutputTokens":30}})");
  // Ollama's -1 (unlimited) is above any cap.
  EXPECT_EQ(clamped(R"({"model":"llama3","options":{"num_predict":-1}})", Dialect::OllamaChat, 30),
            R"({"model":"llama3","options":{"num_predict":30}})");
  EXPECT_EQ(clamped(R"({"model":"llama3"})", Dialect::OllamaGenerate, 30),
            R"({"model":"llama3","options":{"num_predict":30}})");
}

TEST(ClampMaxOutputTokens, TheInspectorReadsTheClampedCap) {
  std::string body = clamped(R"({"model":"gpt-4o","max_tokens":4096,"messages":[{"role":"user","content":"hi"}]})",
                             Dialect::OpenAIChat, 123);
  EXPECT_EQ(inspectOk("/v1/chat/completions", body).maxOutputTokens, std::optional<uint64_t>(123));
  std::string gem = clamped(R"({"contents":[{"parts":[{"text":"hi"}]}]})", Dialect::GeminiGenerate, 9);
  EXPECT_EQ(inspectOk("/v1beta/models/gemini-1.5-pro:generateContent", gem).maxOutputTokens,
            std::optional<uint64_t>(9));
}

TEST(ClampMaxOutputTokens, LeavesAlone) {
  clamped(R"({"input":"x"})", Dialect::OpenAIEmbeddings, 5, false);
  clamped(R"([1,2])", Dialect::OpenAIChat, 5, false);
  clamped(R"({"max_tokens":1,"max_tokens":900})", Dialect::OpenAIChat, 5, false);  // duplicate
  clamped(R"({"max_tokens":"900"})", Dialect::OpenAIChat, 5, false);  // not a number: upstream's call
}

}  // namespace
}  // namespace tg::usage
