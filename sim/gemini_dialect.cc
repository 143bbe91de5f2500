// Gemini: generateContent, and streamGenerateContent as SSE (?alt=sse) or as a JSON array that
// is written element by element ("[{...}" then "\r\n,{...}" ... then "\r\n]") as Google does.

#include "dialect_parts.h"
#include "json_text.h"

namespace tg::sim {
namespace {

// One GenerateContentResponse carrying `text`; `candidates` output tokens so far (cumulative
// usageMetadata, as the real API sends on every chunk); `last` adds finishReason.
std::string response(const Generation& gen, std::string_view text, int candidates, bool last) {
  std::string body = R"({"candidates":[{"content":{"parts":[{"text":)" + jsonString(text) +
                     R"(}],"role":"model"})";
  if (last) {
    body += R"(,"finishReason":"STOP")";
  }
  body += R"(,"index":0}])";
  if (!gen.omit_usage) {
    body += R"(,"usageMetadata":{"promptTokenCount":)" + std::to_string(gen.prompt_tokens) +
            R"(,"candidatesTokenCount":)" + std::to_string(candidates) + R"(,"totalTokenCount":)" +
            std::to_string(gen.prompt_tokens + candidates) + "}";
  }
  body += R"(,"modelVersion":)" + jsonString(gen.model) + R"(,"responseId":")" +
          idString("sim-", gen.seq) + "\"}";
  return body;
}

// Frames element `index` of the stream: SSE with CRLF line ends (as the Google endpoints send),
// or a piece of the JSON array.
std::string frame(const Generation& gen, int index, const std::string& element) {
  if (gen.gemini_sse) {
    return "data: " + element + "\r\n\r\n";
  }
  std::string piece(index == 0 ? "[" : "\r\n,");
  piece += element;
  return piece;
}

}  // namespace

Reply buildGeminiReply(const Generation& gen) {
  Reply reply;
  reply.body = response(gen, outputText(gen.tokens), gen.tokens, true);
  return reply;
}

StreamScript buildGeminiStream(const Generation& gen) {
  StreamScript script;
  script.content_type = gen.gemini_sse ? "text/event-stream" : "application/json; charset=UTF-8";
  // The last token's chunk carries finishReason; there is no separate finishing event.
  script.token = [gen](int i) {
    return frame(gen, i, response(gen, outputWord(i), i + 1, i + 1 == gen.tokens));
  };
  if (gen.tokens == 0) {
    script.tail.push_back(frame(gen, 0, response(gen, "", 0, true)));
  }
  if (!gen.gemini_sse) {
    script.tail.push_back("\r\n]");
  }
  return script;
}

}  // namespace tg::sim
