#include "request.h"

#include <simdjson.h>

namespace tg::sim {
namespace {

using simdjson::dom::array;
using simdjson::dom::element;
using simdjson::dom::object;

// Accumulates text bytes and message counts for the prompt token rule.
struct PromptCount {
  uint64_t bytes = 0;
  int messages = 0;

  int tokens(bool framing) const {
    auto text = static_cast<int>((bytes + 3) / 4);
    return framing ? text + 3 * messages + 3 : text;
  }
};

// Adds a string, or the "text" fields of an array of content parts.
void addContent(element content, PromptCount& count) {
  std::string_view text;
  if (content.get_string().get(text) == simdjson::SUCCESS) {
    count.bytes += text.size();
    return;
  }
  array parts;
  if (content.get_array().get(parts) != simdjson::SUCCESS) {
    return;
  }
  for (element part : parts) {
    if (part["text"].get_string().get(text) == simdjson::SUCCESS) {
      count.bytes += text.size();
    }
  }
}

// Adds content(s) of every element of doc[field], counting each element as a message.
void addMessages(object doc, std::string_view field, std::string_view content_key,
                 PromptCount& count) {
  array messages;
  if (doc[field].get_array().get(messages) != simdjson::SUCCESS) {
    return;
  }
  for (element message : messages) {
    ++count.messages;
    element content;
    if (message[content_key].get(content) == simdjson::SUCCESS) {
      addContent(content, count);
    }
  }
}

uint64_t fnv1a(uint64_t hash, const void* data, size_t size) {
  const auto* bytes = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < size; ++i) {
    hash = (hash ^ bytes[i]) * 0x100000001b3ULL;
  }
  return hash;
}
constexpr uint64_t kFnvBasis = 0xcbf29ce484222325ULL;

// One prompt / embedding input: a string or an array of token ids. Returns false otherwise.
bool addInput(element input, uint64_t& bytes, uint64_t& seed) {
  std::string_view text;
  if (input.get_string().get(text) == simdjson::SUCCESS) {
    bytes += text.size();
    seed = fnv1a(kFnvBasis, text.data(), text.size());
    return true;
  }
  array ids;
  if (input.get_array().get(ids) != simdjson::SUCCESS) {
    return false;
  }
  seed = fnv1a(kFnvBasis, "#ids", 4);
  for (element id : ids) {
    int64_t value = 0;
    if (id.get_int64().get(value) != simdjson::SUCCESS) {
      return false;
    }
    bytes += 4;
    seed = fnv1a(seed, &value, sizeof value);
  }
  return true;
}

// True for an array of integers: one input given as token ids.
bool isTokenIds(element field) {
  array items;
  if (field.get_array().get(items) != simdjson::SUCCESS) {
    return false;
  }
  element first;
  return items.at(0).get(first) == simdjson::SUCCESS && first.is_int64();
}

// A prompt / input field: a string, an array of strings, an array of token ids, or an array of
// arrays of token ids. Returns one seed per input.
std::vector<uint64_t> addInputs(element field, uint64_t& bytes) {
  std::vector<uint64_t> seeds;
  uint64_t seed = 0;
  if (field.is_string() || isTokenIds(field)) {
    if (addInput(field, bytes, seed)) {
      seeds.push_back(seed);
    }
    return seeds;
  }
  array items;
  if (field.get_array().get(items) != simdjson::SUCCESS) {
    return seeds;
  }
  for (element item : items) {
    if (addInput(item, bytes, seed)) {
      seeds.push_back(seed);
    }
  }
  return seeds;
}

}  // namespace

std::string inspectRequest(Api api, std::string_view body, RequestInfo& info) {
  thread_local simdjson::dom::parser parser;
  element root;
  if (auto error = parser.parse(body.data(), body.size()).get(root); error) {
    return std::string("request body is not valid JSON: ") + simdjson::error_message(error);
  }
  object doc;
  if (root.get_object().get(doc) != simdjson::SUCCESS) {
    return "request body must be a JSON object";
  }

  std::string_view model;
  if (doc["model"].get_string().get(model) == simdjson::SUCCESS) {
    info.model = std::string(model);
  }
  bool flag = false;
  if (doc["stream"].get_bool().get(flag) == simdjson::SUCCESS) {
    info.stream = flag;
  }
  if (doc["stream_options"]["include_usage"].get_bool().get(flag) == simdjson::SUCCESS) {
    info.include_usage = flag;
  }

  int64_t cap = 0;
  if (doc["max_tokens"].get_int64().get(cap) == simdjson::SUCCESS ||
      doc["max_completion_tokens"].get_int64().get(cap) == simdjson::SUCCESS ||
      doc["max_output_tokens"].get_int64().get(cap) == simdjson::SUCCESS ||
      doc["generationConfig"]["maxOutputTokens"].get_int64().get(cap) == simdjson::SUCCESS ||
      doc["options"]["num_predict"].get_int64().get(cap) == simdjson::SUCCESS) {
    info.max_tokens = cap;
  }

  PromptCount count;
  element field;
  switch (api) {
    case Api::OpenAiChat:
      addMessages(doc, "messages", "content", count);
      break;
    case Api::OpenAiCompletions:
      if (doc["prompt"].get(field) == simdjson::SUCCESS) {
        addInputs(field, count.bytes);
      }
      break;
    case Api::OpenAiResponses:
      if (doc["instructions"].get(field) == simdjson::SUCCESS) {
        addContent(field, count);
      }
      if (doc["input"].get(field) == simdjson::SUCCESS) {
        if (field.is_string()) {
          ++count.messages;
          addContent(field, count);
        } else {
          addMessages(doc, "input", "content", count);
        }
      }
      break;
    case Api::OpenAiEmbeddings: {
      std::string_view format;
      if (doc["encoding_format"].get_string().get(format) == simdjson::SUCCESS) {
        info.embeddings_base64 = format == "base64";
      }
      if (doc["input"].get(field) == simdjson::SUCCESS) {
        info.embedding_seeds = addInputs(field, count.bytes);
      }
      info.prompt_tokens = count.tokens(false);
      return {};
    }
    case Api::AnthropicMessages:
      if (doc["system"].get(field) == simdjson::SUCCESS) {
        addContent(field, count);
      }
      addMessages(doc, "messages", "content", count);
      break;
    case Api::GeminiGenerate:
    case Api::GeminiStream: {
      object system;
      if (doc["systemInstruction"].get_object().get(system) == simdjson::SUCCESS &&
          system["parts"].get(field) == simdjson::SUCCESS) {
        addContent(field, count);
      }
      addMessages(doc, "contents", "parts", count);
      break;
    }
    default:
      break;
  }
  info.prompt_tokens = count.tokens(true);
  return {};
}

}  // namespace tg::sim
