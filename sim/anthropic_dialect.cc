// Anthropic Messages: a message object, or the message_start ... message_stop event stream.

#include "dialect_parts.h"
#include "json_text.h"

namespace tg::sim {
namespace {

std::string usage(const Generation& gen, int output_tokens) {
  return R"({"input_tokens":)" + std::to_string(gen.prompt_tokens) +
         R"(,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":)" +
         std::to_string(output_tokens) + "}";
}

// The message object; `done` adds the content, the stop reason and the final usage.
std::string message(const Generation& gen, bool done) {
  std::string body = R"({"id":")" + idString("msg_sim", gen.seq) +
                     R"(","type":"message","role":"assistant","model":)" + jsonString(gen.model);
  if (done) {
    body += R"(,"content":[{"type":"text","text":)" + jsonString(outputText(gen.tokens)) +
            R"(}],"stop_reason":"end_turn","stop_sequence":null)";
  } else {
    body += R"(,"content":[],"stop_reason":null,"stop_sequence":null)";
  }
  if (!gen.omit_usage) {
    // message_start reports output_tokens 1, as the real API does.
    body += R"(,"usage":)" + usage(gen, done ? gen.tokens : 1);
  }
  body += "}";
  return body;
}

}  // namespace

Reply buildAnthropicReply(const Generation& gen) {
  Reply reply;
  reply.body = message(gen, true);
  return reply;
}

StreamScript buildAnthropicStream(const Generation& gen) {
  StreamScript script;
  script.content_type = "text/event-stream; charset=utf-8";
  script.head = {
      sseEvent("message_start",
               R"({"type":"message_start","message":)" + message(gen, false) + "}"),
      sseEvent(
          "content_block_start",
          R"({"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}})"),
      sseEvent("ping", R"({"type": "ping"})"),
  };
  script.token = [](int i) {
    return sseEvent(
        "content_block_delta",
        R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":)" +
            jsonString(outputWord(i)) + "}}");
  };
  std::string delta =
      R"({"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null})";
  if (!gen.omit_usage) {
    // Cumulative, like the real API: the final output count, not an increment.
    delta += R"(,"usage":{"output_tokens":)" + std::to_string(gen.tokens) + "}";
  }
  delta += "}";
  script.tail = {
      sseEvent("content_block_stop", R"({"type":"content_block_stop","index":0})"),
      sseEvent("message_delta", delta),
      sseEvent("message_stop", R"({"type":"message_stop"})"),
  };
  return script;
}

}  // namespace tg::sim
