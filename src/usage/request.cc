#include "usage/request.h"

#include <algorithm>
#include <memory>

#include "usage/json_util.h"

namespace tg::usage {
namespace {

using json::arrayField;
using json::boolField;
using json::field;
using json::objectField;
using json::stringField;
using simdjson::SUCCESS;
using simdjson::dom::array;
using simdjson::dom::element;
using simdjson::dom::element_type;
using simdjson::dom::object;

constexpr size_t kThreadLocalParserMax = 1u << 20;

// Parses `body` with the thread's reusable parser when small, else with a temporary one that
// is freed on return (a worker must not keep megabytes for one large request).
class BodyParser {
 public:
  simdjson::error_code parse(std::string_view body, element& root) {
    thread_local simdjson::dom::parser shared;
    simdjson::dom::parser* p = &shared;
    if (body.size() > kThreadLocalParserMax) {
      large_ = std::make_unique<simdjson::dom::parser>();
      p = large_.get();
    }
    return p->parse(body.data(), body.size(), true).get(root);
  }

 private:
  std::unique_ptr<simdjson::dom::parser> large_;
};

// A non-negative integer (an output cap); anything else, negative numbers included, is none.
std::optional<uint64_t> readCap(element e) {
  switch (e.type()) {
    case element_type::INT64: {
      int64_t v = 0;
      if (e.get_int64().get(v) != SUCCESS || v < 0) {
        return std::nullopt;
      }
      return std::min(static_cast<uint64_t>(v), kMaxTokenCount);
    }
    case element_type::UINT64: {
      uint64_t v = 0;
      if (e.get_uint64().get(v) != SUCCESS) {
        return std::nullopt;
      }
      return std::min(v, kMaxTokenCount);
    }
    case element_type::DOUBLE: {
      double d = 0;
      if (e.get_double().get(d) != SUCCESS || !(d >= 0)) {
        return std::nullopt;
      }
      return d >= static_cast<double>(kMaxTokenCount) ? kMaxTokenCount : static_cast<uint64_t>(d);
    }
    default:
      return std::nullopt;
  }
}

// Accumulates the prompt estimate: counter(text) per piece, plus framing per message.
class PromptEstimate {
 public:
  explicit PromptEstimate(const TokenCounter& counter) : counter_(counter) {}

  void text(std::string_view s) { add(countTokens(counter_, s)); }
  void jsonText(element e) {
    if (!e.is_null()) {
      text(simdjson::minify(e));
    }
  }
  void message() { ++messages_; }
  void add(uint64_t n) {
    tokens_ = std::min(tokens_ + std::min(n, kMaxTokenCount), kMaxTokenCount);
  }

  // A content value: a string, or an array of parts / blocks. Text parts count; tool_use input
  // and tool_result content (Anthropic) count; images, audio and files do not.
  void content(element c, int depth = 0) {
    std::string_view s;
    if (c.get_string().get(s) == SUCCESS) {
      text(s);
      return;
    }
    array parts;
    if (depth > 2 || c.get_array().get(parts) != SUCCESS) {
      return;
    }
    for (element p : parts) {
      object part;
      if (p.get_object().get(part) != SUCCESS) {
        if (p.get_string().get(s) == SUCCESS) {
          text(s);
        }
        continue;
      }
      if (stringField(part, "text", s)) {
        text(s);
      }
      element inner;
      if (field(part, "input", inner) && !inner.is_string()) {
        jsonText(inner);  // Anthropic tool_use
      }
      if (field(part, "content", inner)) {
        content(inner, depth + 1);  // Anthropic tool_result
      }
    }
  }

  // A prompt / input value: a string, strings, token ids, or arrays of token ids.
  void inputs(element v) {
    std::string_view s;
    if (v.get_string().get(s) == SUCCESS) {
      text(s);
      return;
    }
    array items;
    if (v.get_array().get(items) != SUCCESS) {
      return;
    }
    for (element item : items) {
      array ids;
      if (item.get_string().get(s) == SUCCESS) {
        text(s);
      } else if (item.is_number()) {
        add(1);  // a token id is one token
      } else if (item.get_array().get(ids) == SUCCESS) {
        add(ids.size());
      }
    }
  }

  uint64_t total(bool framing) const {
    uint64_t frame = framing ? 3 * std::min<uint64_t>(messages_, kMaxTokenCount) + 3 : 0;
    return std::min(tokens_ + frame, kMaxTokenCount);
  }

 private:
  const TokenCounter& counter_;
  uint64_t tokens_ = 0;
  uint64_t messages_ = 0;
};

void estimateOpenAIChat(object doc, PromptEstimate& est) {
  array messages;
  if (arrayField(doc, "messages", messages)) {
    for (element m : messages) {
      est.message();
      object msg;
      if (m.get_object().get(msg) != SUCCESS) {
        continue;
      }
      element e;
      if (field(msg, "content", e)) {
        est.content(e);
      }
      std::string_view name;
      if (stringField(msg, "name", name)) {
        est.text(name);
        est.add(1);
      }
      array calls;
      if (arrayField(msg, "tool_calls", calls)) {
        for (element call : calls) {
          object c;
          object fn;
          std::string_view s;
          if (call.get_object().get(c) == SUCCESS && objectField(c, "function", fn)) {
            if (stringField(fn, "name", s)) {
              est.text(s);
            }
            if (stringField(fn, "arguments", s)) {
              est.text(s);
            }
          }
        }
      }
      object fc;
      std::string_view args;
      if (objectField(msg, "function_call", fc) && stringField(fc, "arguments", args)) {
        est.text(args);
      }
    }
  }
}

void estimateResponses(object doc, PromptEstimate& est) {
  element e;
  if (field(doc, "instructions", e)) {
    est.content(e);
  }
  if (!field(doc, "input", e)) {
    return;
  }
  if (e.is_string()) {
    est.message();
    est.content(e);
    return;
  }
  array items;
  if (e.get_array().get(items) != SUCCESS) {
    return;
  }
  for (element it : items) {
    est.message();
    object item;
    if (it.get_object().get(item) != SUCCESS) {
      continue;
    }
    element c;
    if (field(item, "content", c)) {
      est.content(c);
    }
    std::string_view s;
    if (stringField(item, "arguments", s)) {
      est.text(s);
    }
    if (stringField(item, "output", s)) {
      est.text(s);
    }
  }
}

void estimateAnthropic(object doc, PromptEstimate& est) {
  element e;
  if (field(doc, "system", e)) {
    est.content(e);
  }
  array messages;
  if (arrayField(doc, "messages", messages)) {
    for (element m : messages) {
      est.message();
      object msg;
      if (m.get_object().get(msg) == SUCCESS && field(msg, "content", e)) {
        est.content(e);
      }
    }
  }
}

void geminiParts(object holder, PromptEstimate& est) {
  array parts;
  if (!arrayField(holder, "parts", parts)) {
    return;
  }
  for (element p : parts) {
    object part;
    if (p.get_object().get(part) != SUCCESS) {
      continue;
    }
    std::string_view s;
    if (stringField(part, "text", s)) {
      est.text(s);
    }
    element call;
    if (field(part, "functionCall", call)) {
      est.jsonText(call);
    }
    if (field(part, "functionResponse", call)) {
      est.jsonText(call);
    }
  }
}

void estimateGemini(object doc, PromptEstimate& est) {
  object system;
  if (objectField(doc, "systemInstruction", system) ||
      objectField(doc, "system_instruction", system)) {
    geminiParts(system, est);
  }
  array contents;
  if (arrayField(doc, "contents", contents)) {
    for (element c : contents) {
      est.message();
      object content;
      if (c.get_object().get(content) == SUCCESS) {
        geminiParts(content, est);
      }
    }
  }
}

void estimateOllamaChat(object doc, PromptEstimate& est) {
  array messages;
  if (arrayField(doc, "messages", messages)) {
    for (element m : messages) {
      est.message();
      object msg;
      std::string_view s;
      if (m.get_object().get(msg) == SUCCESS && stringField(msg, "content", s)) {
        est.text(s);
      }
    }
  }
}

std::optional<uint64_t> maxOutput(object doc) {
  element e;
  for (std::string_view key : {"max_tokens", "max_completion_tokens", "max_output_tokens"}) {
    if (field(doc, key, e)) {
      if (auto v = readCap(e)) {
        return v;
      }
    }
  }
  object nested;
  if ((objectField(doc, "generationConfig", nested) ||
       objectField(doc, "generation_config", nested)) &&
      (field(nested, "maxOutputTokens", e) || field(nested, "max_output_tokens", e))) {
    if (auto v = readCap(e)) {
      return v;
    }
  }
  if (objectField(doc, "options", nested) && field(nested, "num_predict", e)) {
    return readCap(e);
  }
  return std::nullopt;
}

bool isOllama(Dialect d) { return d == Dialect::OllamaChat || d == Dialect::OllamaGenerate; }

}  // namespace

InspectResult inspectRequest(std::string_view method, std::string_view path, std::string_view query,
                             std::string_view body, const TokenCounter& counter) {
  InspectResult result;
  RequestInfo info;
  info.dialect = dialectFromPath(method, path, query);
  BodyParser parser;
  element root;
  object doc;

  if (info.dialect == Dialect::Unknown) {
    // Best effort only: an unknown path never fails inspection.
    size_t first = body.find_first_not_of(" \t\r\n");
    if (first != std::string_view::npos && body[first] == '{' &&
        parser.parse(body, root) == SUCCESS && root.get_object().get(doc) == SUCCESS) {
      std::string_view model;
      if (stringField(doc, "model", model)) {
        info.model.assign(model);
      }
      bool stream = false;
      if (boolField(doc, "stream", stream)) {
        info.stream = stream;
      }
    }
    result.info = std::move(info);
    return result;
  }

  if (body.empty()) {
    result.error = "request body is empty";
    return result;
  }
  if (auto err = parser.parse(body, root); err != SUCCESS) {
    result.error = std::string("request body is not valid JSON: ") + simdjson::error_message(err);
    return result;
  }
  if (root.get_object().get(doc) != SUCCESS) {
    result.error = "request body must be a JSON object";
    return result;
  }

  std::string_view model;
  if (isGemini(info.dialect)) {
    info.model = geminiModelFromPath(path);
  } else if (stringField(doc, "model", model)) {
    info.model.assign(model);
  }

  bool flag = false;
  if (isGemini(info.dialect)) {
    info.stream = info.dialect != Dialect::GeminiGenerate;
  } else if (isOllama(info.dialect)) {
    info.stream = !(boolField(doc, "stream", flag) && !flag);
  } else {
    info.stream = boolField(doc, "stream", flag) && flag;
  }
  object options;
  info.clientAskedUsage = objectField(doc, "stream_options", options) &&
                          boolField(options, "include_usage", flag) && flag;
  info.maxOutputTokens = maxOutput(doc);

  PromptEstimate est(counter);
  bool framing = true;
  element e;
  switch (info.dialect) {
    case Dialect::OpenAIChat:
      estimateOpenAIChat(doc, est);
      break;
    case Dialect::OpenAICompletions:
      framing = false;
      if (field(doc, "prompt", e)) {
        est.inputs(e);
      }
      if (field(doc, "suffix", e)) {
        est.inputs(e);
      }
      break;
    case Dialect::OpenAIResponses:
      estimateResponses(doc, est);
      break;
    case Dialect::OpenAIEmbeddings:
      framing = false;
      if (field(doc, "input", e)) {
        est.inputs(e);
      }
      break;
    case Dialect::Anthropic:
      estimateAnthropic(doc, est);
      break;
    case Dialect::GeminiGenerate:
    case Dialect::GeminiStream:
    case Dialect::GeminiStreamSse:
      estimateGemini(doc, est);
      break;
    case Dialect::OllamaChat:
      estimateOllamaChat(doc, est);
      break;
    case Dialect::OllamaGenerate:
      framing = false;
      for (std::string_view key : {"system", "prompt"}) {
        std::string_view s;
        if (stringField(doc, key, s)) {
          est.text(s);
        }
      }
      break;
    case Dialect::Unknown:
      break;
  }
  // Tool and function definitions are sent to the model as text.
  for (std::string_view key : {"tools", "functions"}) {
    if (field(doc, key, e)) {
      est.jsonText(e);
    }
  }
  info.promptEstimate = est.total(framing);
  result.info = std::move(info);
  return result;
}

}  // namespace tg::usage
