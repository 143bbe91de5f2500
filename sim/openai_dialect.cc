// OpenAI: chat completions, legacy completions, Responses, embeddings and the model list.

#include <cmath>
#include <cstdio>
#include <cstring>

#include "dialect_parts.h"
#include "json_text.h"

namespace tg::sim {
namespace {

// CompletionUsage, shared by chat and legacy completions.
std::string completionUsage(const Generation& gen) {
  std::string usage = R"({"prompt_tokens":)" + std::to_string(gen.prompt_tokens);
  usage += R"(,"completion_tokens":)" + std::to_string(gen.tokens);
  usage += R"(,"total_tokens":)" + std::to_string(gen.prompt_tokens + gen.tokens);
  usage += R"(,"prompt_tokens_details":{"cached_tokens":0})";
  usage += R"(,"completion_tokens_details":{"reasoning_tokens":0}})";
  return usage;
}

// ResponseUsage of the Responses API.
std::string responseUsage(const Generation& gen) {
  std::string usage = R"({"input_tokens":)" + std::to_string(gen.prompt_tokens);
  usage += R"(,"input_tokens_details":{"cached_tokens":0})";
  usage += R"(,"output_tokens":)" + std::to_string(gen.tokens);
  usage += R"(,"output_tokens_details":{"reasoning_tokens":0})";
  usage += R"(,"total_tokens":)" + std::to_string(gen.prompt_tokens + gen.tokens) + "}";
  return usage;
}

// ---- chat completions and legacy completions ----

bool isChat(const Generation& gen) { return gen.api == Api::OpenAiChat; }

std::string chunkId(const Generation& gen) {
  return idString(isChat(gen) ? "chatcmpl-sim-" : "cmpl-sim-", gen.seq);
}

// One stream chunk around `choices` (a JSON array's text).
std::string chunk(const Generation& gen, std::string_view choices, std::string_view usage) {
  std::string data = R"({"id":")" + chunkId(gen) + R"(","object":")";
  data += isChat(gen) ? "chat.completion.chunk" : "text_completion";
  data.append(R"(","created":)").append(kCreated);
  data += R"(,"model":)" + jsonString(gen.model);
  if (isChat(gen)) {
    data += R"(,"system_fingerprint":"fp_sim")";
  }
  data.append(R"(,"choices":)").append(choices);
  if (!usage.empty()) {
    data.append(R"(,"usage":)").append(usage);
  }
  data += "}";
  return sseEvent({}, data);
}

// A chunk choice with `text` (nullptr: the empty finishing delta).
std::string chunkChoice(const Generation& gen, const std::string* text, bool role) {
  std::string choice = "[{";
  if (isChat(gen)) {
    choice += R"("index":0,"delta":{)";
    if (role) {
      choice += R"("role":"assistant","content":"")";
    } else if (text != nullptr) {
      choice += R"("content":)" + jsonString(*text);
    }
    choice += R"(},"logprobs":null,"finish_reason":)";
  } else {
    choice += R"("text":)" + jsonString(text != nullptr ? *text : std::string()) +
              R"(,"index":0,"logprobs":null,"finish_reason":)";
  }
  choice += text == nullptr && !role ? R"("stop"}])" : "null}]";
  return choice;
}

StreamScript completionStream(const Generation& gen) {
  // With include_usage every chunk carries "usage": null ahead of the final usage chunk.
  bool usage = gen.include_usage && !gen.omit_usage;
  std::string null_usage = usage ? "null" : "";
  StreamScript script;
  script.content_type = "text/event-stream; charset=utf-8";
  if (isChat(gen)) {
    script.head.push_back(chunk(gen, chunkChoice(gen, nullptr, true), null_usage));
  }
  script.token = [gen, null_usage](int i) {
    std::string word(outputWord(i));
    return chunk(gen, chunkChoice(gen, &word, false), null_usage);
  };
  script.tail.push_back(chunk(gen, chunkChoice(gen, nullptr, false), null_usage));
  if (usage) {
    script.tail.push_back(chunk(gen, "[]", completionUsage(gen)));
  }
  script.tail.push_back("data: [DONE]\n\n");
  return script;
}

Reply completionReply(const Generation& gen) {
  std::string text = jsonString(outputText(gen.tokens));
  Reply reply;
  std::string& body = reply.body;
  body = R"({"id":")" + chunkId(gen) + R"(","object":")";
  body += isChat(gen) ? "chat.completion" : "text_completion";
  body.append(R"(","created":)").append(kCreated);
  body += R"(,"model":)" + jsonString(gen.model) + R"(,"choices":[{)";
  if (isChat(gen)) {
    body += R"("index":0,"message":{"role":"assistant","content":)" + text +
            R"(,"refusal":null},"logprobs":null,"finish_reason":"stop"}])";
  } else {
    body += R"("text":)" + text + R"(,"index":0,"logprobs":null,"finish_reason":"stop"}])";
  }
  if (!gen.omit_usage) {
    body += R"(,"usage":)" + completionUsage(gen);
  }
  if (isChat(gen)) {
    body += R"(,"system_fingerprint":"fp_sim")";
  }
  body += "}";
  return reply;
}

// ---- Responses API ----

std::string messageItem(const Generation& gen, bool done) {
  std::string item = R"({"id":")" + idString("msg_sim", gen.seq) + R"(","type":"message",)";
  item += done ? R"("status":"completed")" : R"("status":"in_progress")";
  item += R"(,"role":"assistant","content":[)";
  if (done) {
    item += R"({"type":"output_text","text":)" + jsonString(outputText(gen.tokens)) +
            R"(,"annotations":[]})";
  }
  item += "]}";
  return item;
}

// The `response` object: in progress (no output, usage null) or completed (with usage).
std::string responseObject(const Generation& gen, bool done) {
  std::string response = R"({"id":")" + idString("resp_sim", gen.seq) + R"(","object":"response")";
  response.append(R"(,"created_at":)").append(kCreated);
  response += done ? R"(,"status":"completed")" : R"(,"status":"in_progress")";
  response += R"(,"error":null,"incomplete_details":null,"model":)" + jsonString(gen.model);
  response += R"(,"output":[)" + (done ? messageItem(gen, true) : std::string()) + "]";
  response += R"(,"usage":)";
  response += done && !gen.omit_usage ? responseUsage(gen) : "null";
  response += "}";
  return response;
}

StreamScript responsesStream(const Generation& gen) {
  auto event = [](std::string_view type, int seq, std::string_view rest) {
    std::string data = R"({"type":")" + std::string(type) + R"(","sequence_number":)" +
                       std::to_string(seq) + "," + std::string(rest) + "}";
    return sseEvent(type, data);
  };
  std::string item_id = R"("item_id":")" + idString("msg_sim", gen.seq) + R"(")";
  std::string where = item_id + R"(,"output_index":0,"content_index":0)";
  std::string text = jsonString(outputText(gen.tokens));
  std::string part_done = R"({"type":"output_text","annotations":[],"text":)" + text + "}";
  int n = gen.tokens;

  StreamScript script;
  script.content_type = "text/event-stream; charset=utf-8";
  script.head = {
      event("response.created", 0, R"("response":)" + responseObject(gen, false)),
      event("response.in_progress", 1, R"("response":)" + responseObject(gen, false)),
      event("response.output_item.added", 2,
            R"("output_index":0,"item":)" + messageItem(gen, false)),
      event("response.content_part.added", 3,
            where + R"(,"part":{"type":"output_text","annotations":[],"text":""})"),
  };
  script.token = [event, where](int i) {
    return event("response.output_text.delta", 4 + i,
                 where + R"(,"delta":)" + jsonString(outputWord(i)));
  };
  script.tail = {
      event("response.output_text.done", 4 + n, where + R"(,"text":)" + text),
      event("response.content_part.done", 5 + n, where + R"(,"part":)" + part_done),
      event("response.output_item.done", 6 + n,
            R"("output_index":0,"item":)" + messageItem(gen, true)),
      event("response.completed", 7 + n, R"("response":)" + responseObject(gen, true)),
  };
  return script;
}

// ---- embeddings ----

uint64_t splitMix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

std::string base64(const unsigned char* data, size_t size) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (size_t i = 0; i < size; i += 3) {
    uint32_t n = static_cast<uint32_t>(data[i]) << 16;
    if (i + 1 < size) {
      n |= static_cast<uint32_t>(data[i + 1]) << 8;
    }
    if (i + 2 < size) {
      n |= data[i + 2];
    }
    out.push_back(kAlphabet[(n >> 18) & 63]);
    out.push_back(kAlphabet[(n >> 12) & 63]);
    out.push_back(i + 1 < size ? kAlphabet[(n >> 6) & 63] : '=');
    out.push_back(i + 2 < size ? kAlphabet[n & 63] : '=');
  }
  return out;
}

// Eight values in [-1, 1) with six decimals, derived from the input's content hash. As floats
// (JSON) or, for encoding_format "base64", little-endian float32s in base64 like OpenAI.
std::string embeddingVector(uint64_t seed, bool as_base64) {
  constexpr int kDimensions = 8;
  float values[kDimensions];
  std::string json = "[";
  for (int j = 0; j < kDimensions; ++j) {
    double unit = static_cast<double>(splitMix(seed + j) >> 11) / 9007199254740992.0;
    double value = std::round((unit * 2 - 1) * 1e6) / 1e6;
    values[j] = static_cast<float>(value);
    char text[32];
    std::snprintf(text, sizeof text, "%s%.6f", j == 0 ? "" : ",", value);
    json += text;
  }
  if (!as_base64) {
    return json + "]";
  }
  unsigned char bytes[sizeof values];
  std::memcpy(bytes, values, sizeof values);  // x86/ARM Linux: already little-endian
  return jsonString(base64(bytes, sizeof bytes));
}

Reply embeddingsReply(const Generation& gen) {
  Reply reply;
  std::string& body = reply.body;
  body = R"({"object":"list","data":[)";
  for (size_t i = 0; i < gen.embedding_seeds.size(); ++i) {
    body += i == 0 ? "" : ",";
    body += R"({"object":"embedding","index":)" + std::to_string(i) + R"(,"embedding":)" +
            embeddingVector(gen.embedding_seeds[i], gen.embeddings_base64) + "}";
  }
  body += R"(],"model":)" + jsonString(gen.model);
  if (!gen.omit_usage) {
    std::string p = std::to_string(gen.prompt_tokens);
    body += R"(,"usage":{"prompt_tokens":)" + p + R"(,"total_tokens":)" + p + "}";
  }
  body += "}";
  return reply;
}

Reply modelList() {
  static constexpr std::string_view kModels[] = {
      "gpt-4o", "gpt-4o-mini", "gpt-4.1", "o3-mini", "text-embedding-3-small", "sim-model"};
  Reply reply;
  reply.body = R"({"object":"list","data":[)";
  for (size_t i = 0; i < std::size(kModels); ++i) {
    reply.body += i == 0 ? "" : ",";
    reply.body += R"({"id":)" + jsonString(kModels[i]) + R"(,"object":"model","created":)" +
                  std::string(kCreated) + R"(,"owned_by":"tokengate-sim"})";
  }
  reply.body += "]}";
  return reply;
}

}  // namespace

Reply buildOpenAiReply(const Generation& gen) {
  switch (gen.api) {
    case Api::OpenAiResponses: {
      Reply reply;
      reply.body = responseObject(gen, true);
      return reply;
    }
    case Api::OpenAiEmbeddings:
      return embeddingsReply(gen);
    case Api::OpenAiModels:
      return modelList();
    default:
      return completionReply(gen);
  }
}

StreamScript buildOpenAiStream(const Generation& gen) {
  return gen.api == Api::OpenAiResponses ? responsesStream(gen) : completionStream(gen);
}

}  // namespace tg::sim
