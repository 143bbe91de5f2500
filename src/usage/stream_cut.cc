#include "usage/stream_cut.h"

#include <simdjson.h>

#include <algorithm>
#include <chrono>
#include <initializer_list>
#include <iterator>
#include <utility>

#include "core/log.h"
#include "usage/extract.h"

namespace tg::usage {
namespace {

using simdjson::SUCCESS;
using simdjson::dom::array;
using simdjson::dom::element;

// Token sums saturate: a counter's figure is clamped, the running total cannot wrap.
uint64_t addClamped(uint64_t a, uint64_t b) {
  b = std::min(b, kMaxTokenCount);
  return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

// Calls f on every value at `path` under e: object keys separated by '/', "*" for each
// element of an array ("choices/*/delta"). Missing keys and wrong types reach nothing.
template <class F>
void forEachAt(element e, std::string_view path, const F& f) {
  if (path.empty()) {
    f(e);
    return;
  }
  const size_t slash = path.find('/');
  const std::string_view key = path.substr(0, slash);
  const std::string_view rest = slash == std::string_view::npos ? "" : path.substr(slash + 1);
  array list;
  element child;
  if (key == "*" && e.get_array().get(list) == SUCCESS) {
    for (element item : list) {
      forEachAt(item, rest, f);
    }
  } else if (key != "*" && e.at_key(key).get(child) == SUCCESS) {
    forEachAt(child, rest, f);
  }
}

// Reads one event: counts its texts into `tokens` and records in `facts` what ending() needs.
struct Reader {
  const TokenCounter& counter;
  StreamFacts& facts;
  uint64_t tokens = 0;

  void text(element e, std::string_view path) {
    forEachAt(e, path, [this](element v) {
      std::string_view s;
      if (v.get_string().get(s) == SUCCESS) {
        tokens = addClamped(tokens, countTokens(counter, s));
      }
    });
  }
  // A string remembered the first time it is seen.
  void first(element e, std::string_view path, std::optional<std::string>& slot) {
    forEachAt(e, path, [&slot](element v) {
      std::string_view s;
      if (!slot && v.get_string().get(s) == SUCCESS) {
        slot.emplace(s);
      }
    });
  }
  std::optional<uint64_t> count(element e, std::string_view path) {
    std::optional<uint64_t> n;
    forEachAt(e, path, [&n](element v) { n = readCount(v); });
    return n;
  }
  void input(element e, std::string_view path) {
    if (auto n = count(e, path)) {
      facts.reportedInput = n;
    }
  }
  void created(element e, std::string_view path) {
    forEachAt(e, path, [this](element v) {
      int64_t t = 0;
      if (!facts.created && v.get_int64().get(t) == SUCCESS) {
        facts.created = t;
      }
    });
  }
};

void noteChoice(StreamFacts& facts, uint64_t index, bool finished) {
  auto& list = facts.choices;
  auto it = std::lower_bound(list.begin(), list.end(), index,
                             [](const StreamFacts::Choice& c, uint64_t i) { return c.index < i; });
  if (it != list.end() && it->index == index) {
    it->finished = it->finished || finished;
  } else if (list.size() < StreamFacts::kMaxChoices) {
    list.insert(it, {index, finished});
  }
}

void readOpenAI(Reader& r, element root, bool chat) {
  r.first(root, "id", r.facts.id);
  r.first(root, "model", r.facts.model);
  r.first(root, "system_fingerprint", r.facts.fingerprint);
  r.created(root, "created");
  array choices;
  const bool hasChoices = root["choices"].get_array().get(choices) == SUCCESS && choices.size() > 0;
  if (root["usage"].is_object()) {
    r.input(root, "usage/prompt_tokens");
    r.facts.usageChunkTaken = r.facts.usageChunkTaken || !hasChoices;
  }
  forEachAt(root, "choices/*", [&](element choice) {
    if (!choice.is_object()) {
      return;
    }
    element reason;
    const bool finished = choice["finish_reason"].get(reason) == SUCCESS && !reason.is_null();
    noteChoice(r.facts, r.count(choice, "index").value_or(0), finished);
    if (!chat) {
      r.text(choice, "text");
      return;
    }
    for (std::string_view path :
         {"delta/content", "delta/refusal", "delta/reasoning_content", "delta/reasoning",
          "delta/tool_calls/*/function/name", "delta/tool_calls/*/function/arguments",
          "delta/function_call/name", "delta/function_call/arguments"}) {
      r.text(choice, path);
    }
  });
}

void readResponses(Reader& r, element root, std::string_view type) {
  static constexpr std::string_view kTextDeltas[] = {
      "response.output_text.delta", "response.refusal.delta",
      "response.function_call_arguments.delta", "response.reasoning_summary_text.delta",
      "response.reasoning_text.delta"};
  if (auto n = r.count(root, "sequence_number")) {
    r.facts.sequence = n;
  }
  r.first(root, "response/id", r.facts.id);
  r.first(root, "response/model", r.facts.model);
  r.created(root, "response/created_at");
  r.input(root, "response/usage/input_tokens");
  if (type == "response.completed" || type == "response.incomplete" || type == "response.failed") {
    r.facts.ended = true;
  } else if (std::find(std::begin(kTextDeltas), std::end(kTextDeltas), type) !=
             std::end(kTextDeltas)) {
    r.text(root, "delta");
  }
}

void readAnthropic(Reader& r, element root, std::string_view type) {
  if (type == "message_start") {
    r.facts.messageStarted = true;
    r.first(root, "message/id", r.facts.id);
    r.first(root, "message/model", r.facts.model);
    r.input(root, "message/usage/input_tokens");
  } else if (type == "content_block_start") {
    r.facts.openBlock = r.count(root, "index").value_or(0);
  } else if (type == "content_block_stop") {
    r.facts.openBlock.reset();
  } else if (type == "content_block_delta") {
    for (std::string_view path : {"delta/text", "delta/partial_json", "delta/thinking"}) {
      r.text(root, path);
    }
  } else if (type == "message_delta") {
    r.input(root, "usage/input_tokens");
  } else if (type == "message_stop") {
    r.facts.ended = true;
  }
}

void readGemini(Reader& r, element root) {
  r.first(root, "modelVersion", r.facts.model);
  r.first(root, "responseId", r.facts.id);
  r.input(root, "usageMetadata/promptTokenCount");
  forEachAt(root, "candidates/*/finishReason", [&r](element v) {
    std::string_view reason;
    if (v.get_string().get(reason) == SUCCESS && !reason.empty()) {
      r.facts.ended = true;
    }
  });
  r.text(root, "candidates/*/content/parts/*/text");
  forEachAt(root, "candidates/*/content/parts/*/functionCall", [&r](element call) {
    if (!call.is_null()) {
      r.tokens = addClamped(r.tokens, countTokens(r.counter, simdjson::minify(call)));
    }
  });
}

// Reads one event: its output tokens, its facts folded into `facts`. `data` is followed by
// SseFramer::kPadding readable bytes.
uint64_t readEvent(Dialect d, std::string_view sseType, std::string_view data,
                   const TokenCounter& counter, StreamFacts& facts) {
  const bool openAI = d == Dialect::OpenAIChat || d == Dialect::OpenAICompletions;
  if (data == "[DONE]") {
    facts.ended = facts.ended || openAI;
    return 0;
  }
  thread_local simdjson::dom::parser parser;
  element root;
  if (!StreamCut::supports(d) ||
      parser.parse(data.data(), data.size(), false).get(root) != SUCCESS || !root.is_object()) {
    return 0;
  }
  std::string_view type;
  if (root["type"].get_string().get(type) != SUCCESS && sseType != "message") {
    type = sseType;
  }
  Reader r{counter, facts};
  if (openAI) {
    readOpenAI(r, root, d == Dialect::OpenAIChat);
  } else if (d == Dialect::OpenAIResponses) {
    readResponses(r, root, type);
  } else if (d == Dialect::Anthropic) {
    readAnthropic(r, root, type);
  } else {
    readGemini(r, root);
  }
  return r.tokens;
}

// `s` as a JSON string. Upstream strings were valid UTF-8 (simdjson checked them); a model
// from a request path may not be, and its non-ASCII bytes then become '?'.
std::string jsonString(std::string_view s) {
  std::string out = "\"";
  if (simdjson::validate_utf8(s.data(), s.size())) {
    core::appendJsonEscaped(out, s);
  } else {
    std::string ascii(s);
    std::replace_if(
        ascii.begin(), ascii.end(), [](char c) { return (c & 0x80) != 0; }, '?');
    core::appendJsonEscaped(out, ascii);
  }
  return out += '"';
}

// Appends one SSE event: `event: name` (if any), `data: ` + `tmpl` with each '$' replaced by
// the next of `args` (JSON text), and the blank line.
void appendEvent(std::string& out, std::string_view eol, std::string_view name,
                 std::string_view tmpl, std::initializer_list<std::string_view> args = {}) {
  if (!name.empty()) {
    out.append("event: ").append(name).append(eol);
  }
  out.append("data: ");
  auto arg = args.begin();
  for (char c : tmpl) {
    if (c == '$' && arg != args.end()) {
      out.append(*arg++);
    } else {
      out.push_back(c);
    }
  }
  out.append(eol).append(eol);
}

}  // namespace

StreamCut::StreamCut(const RequestInfo& req, TokenCounter counter, int64_t nowUnixSeconds,
                     size_t maxBlockBytes)
    : dialect_(req.dialect),
      reqModel_(req.model),
      clientAskedUsage_(req.clientAskedUsage),
      counter_(std::move(counter)),
      now_(nowUnixSeconds),
      maxBlock_(std::max<size_t>(maxBlockBytes, 1)),
      framer_(maxBlock_) {
  if (now_ == 0) {
    now_ = std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
               .count();
  }
}

bool StreamCut::supports(Dialect d) {
  return d == Dialect::OpenAIChat || d == Dialect::OpenAICompletions ||
         d == Dialect::OpenAIResponses || d == Dialect::Anthropic || d == Dialect::GeminiStreamSse;
}

void StreamCut::feed(std::string_view in) {
  if (start_ > 0) {  // the taken blocks go; only the bytes not taken are moved
    buf_.erase(0, start_);
    scan_ -= start_;
    if (pendingEnd_) {
      *pendingEnd_ -= start_;
    }
    start_ = 0;
  }
  buf_.append(in);
}

std::optional<StreamCut::Block> StreamCut::next() {
  if (pendingEnd_) {
    return Block{std::string_view(buf_).substr(start_, *pendingEnd_ - start_), pendingTokens_};
  }
  if (start_ == buf_.size()) {
    buf_.clear();
    start_ = scan_ = 0;
  }
  auto takeLf = [this] {
    if (scan_ < buf_.size() && buf_[scan_] == '\n') {
      framer_.advance(std::string_view(buf_).substr(scan_, 1));  // LfAfterBlock
      ++scan_;
    }
  };
  if (blockEnded_) {
    if (scan_ == buf_.size() && !finished_) {
      return std::nullopt;
    }
    takeLf();
    blockEnded_ = false;
    uint64_t tokens = 0;
    const bool event = heldEvent_;
    if (event) {
      heldEvent_ = false;
      pendingFacts_ = facts_;
      tokens = readEvent(dialect_, heldType_, heldData_, counter_, pendingFacts_);
    }
    return pend(scan_, tokens, event);
  }
  while (scan_ < buf_.size()) {
    // The framer sees at most the rest of maxBlock_ bytes, so the pieces of an overlong
    // block are the same for every split.
    const size_t room = maxBlock_ - std::min(maxBlock_, scan_ - start_);
    const SseFramer::Step step = framer_.advance(std::string_view(buf_).substr(scan_, room));
    scan_ += step.consumed;
    if (step.kind == SseFramer::StepKind::NeedMore) {
      if (scan_ - start_ >= maxBlock_) {
        return pend(scan_, 0, false);
      }
      continue;
    }
    if (step.kind == SseFramer::StepKind::LfAfterBlock) {
      continue;  // fed after finish(): the LF starts the next block
    }
    const bool crEnd = buf_[scan_ - 1] == '\r';
    if (crEnd && scan_ == buf_.size() && !finished_) {
      blockEnded_ = true;  // a LF may follow: hold the block and a copy of its event
      heldEvent_ = step.dispatched;
      if (heldEvent_) {
        heldType_.assign(framer_.event().type);
        heldData_.assign(framer_.event().data);
        heldData_.reserve(heldData_.size() + SseFramer::kPadding);
      }
      return std::nullopt;
    }
    uint64_t tokens = 0;
    if (step.dispatched) {
      const SseEvent& ev = framer_.event();
      pendingFacts_ = facts_;
      tokens = readEvent(dialect_, ev.type, ev.data, counter_, pendingFacts_);
    }
    if (crEnd) {
      takeLf();
    }
    return pend(scan_, tokens, step.dispatched);
  }
  return std::nullopt;
}

// [start_, end) becomes the pending block; `event`: pendingFacts_ holds its event's facts.
StreamCut::Block StreamCut::pend(size_t end, uint64_t tokens, bool event) {
  pendingEvent_ = event;
  pendingEnd_ = end;
  pendingTokens_ = tokens;
  return Block{std::string_view(buf_).substr(start_, end - start_), tokens};
}

void StreamCut::take() {
  if (!pendingEnd_) {
    return;
  }
  if (pendingEvent_) {
    std::swap(facts_, pendingFacts_);
  }
  const std::string_view bytes = std::string_view(buf_).substr(start_, *pendingEnd_ - start_);
  const size_t eol = facts_.eol.empty() ? bytes.find_first_of("\r\n") : std::string_view::npos;
  if (eol != std::string_view::npos) {  // a final CR had its LF check: it is a lone CR
    facts_.eol = bytes.substr(eol, 2) == "\r\n" ? std::string_view("\r\n") : bytes.substr(eol, 1);
  }
  relayed_ = addClamped(relayed_, pendingTokens_);
  start_ = *pendingEnd_;
  pendingEnd_.reset();
}

std::string StreamCut::ending(uint64_t inputTokens, uint64_t outputTokens) const {
  if (!supports(dialect_) || facts_.ended) {
    return {};
  }
  const uint64_t inTokens = std::min(inputTokens, kMaxTokenCount);
  const uint64_t outTokens = std::min(outputTokens, kMaxTokenCount);
  const std::string in = std::to_string(inTokens);
  const std::string out = std::to_string(outTokens);
  const std::string total = std::to_string(inTokens + outTokens);
  const std::string_view eol = facts_.eol.empty() ? std::string_view("\n") : facts_.eol;
  const std::string model = jsonString(facts_.model ? *facts_.model : reqModel_);
  const std::string created = std::to_string(facts_.created.value_or(now_));
  std::string r;
  switch (dialect_) {
    case Dialect::OpenAIChat:
    case Dialect::OpenAICompletions: {
      const bool chat = dialect_ == Dialect::OpenAIChat;
      const std::string id = jsonString(facts_.id ? *facts_.id
                                        : chat    ? "chatcmpl-tokengate"
                                                  : "cmpl-tokengate");
      const std::string head =
          "{\"id\":" + id +
          ",\"object\":" + (chat ? "\"chat.completion.chunk\"" : "\"text_completion\"") +
          ",\"created\":" + created + ",\"model\":" + model +
          (facts_.fingerprint ? ",\"system_fingerprint\":" + jsonString(*facts_.fingerprint)
                              : std::string()) +
          ",\"choices\":[";
      std::vector<StreamFacts::Choice> choices = facts_.choices;
      if (choices.empty()) {
        choices.push_back({0, false});
      }
      for (const StreamFacts::Choice& c : choices) {
        if (!c.finished) {
          appendEvent(r, eol, {},
                      chat ? R"(${"index":$,"delta":{},"finish_reason":"length"}]})"
                           : R"(${"index":$,"text":"","logprobs":null,"finish_reason":"length"}]})",
                      {head, std::to_string(c.index)});
        }
      }
      if (clientAskedUsage_ && !facts_.usageChunkTaken) {
        appendEvent(r, eol, {},
                    R"($],"usage":{"prompt_tokens":$,"completion_tokens":$,"total_tokens":$}})",
                    {head, in, out, total});
      }
      appendEvent(r, eol, {}, "[DONE]");
      return r;
    }
    case Dialect::OpenAIResponses: {
      const std::string seq =
          facts_.sequence ? "\"sequence_number\":" + std::to_string(*facts_.sequence + 1) + ","
                          : std::string();
      appendEvent(r, eol, "response.incomplete",
                  R"({"type":"response.incomplete",$"response":{"id":$,"object":"response",)"
                  R"("created_at":$,"status":"incomplete","incomplete_details":)"
                  R"({"reason":"max_output_tokens"},"model":$,"output":[],)"
                  R"("usage":{"input_tokens":$,"output_tokens":$,"total_tokens":$}}})",
                  {seq, jsonString(facts_.id ? *facts_.id : "resp_tokengate"), created, model, in,
                   out, total});
      return r;
    }
    case Dialect::Anthropic:
      if (!facts_.messageStarted) {
        appendEvent(r, eol, "message_start",
                    R"({"type":"message_start","message":{"id":"msg_tokengate","type":"message",)"
                    R"("role":"assistant","model":$,"content":[],"stop_reason":null,)"
                    R"("stop_sequence":null,"usage":{"input_tokens":$,"output_tokens":0}}})",
                    {model, in});
      }
      if (facts_.openBlock) {
        appendEvent(r, eol, "content_block_stop", R"({"type":"content_block_stop","index":$})",
                    {std::to_string(*facts_.openBlock)});
      }
      appendEvent(r, eol, "message_delta",
                  R"({"type":"message_delta","delta":{"stop_reason":"max_tokens",)"
                  R"("stop_sequence":null},"usage":{"input_tokens":$,"output_tokens":$}})",
                  {in, out});
      appendEvent(r, eol, "message_stop", R"({"type":"message_stop"})");
      return r;
    default:  // GeminiStreamSse
      appendEvent(
          r, eol, {},
          R"({"candidates":[{"content":{"parts":[{"text":""}],"role":"model"},)"
          R"("finishReason":"MAX_TOKENS","index":0}],"usageMetadata":{"promptTokenCount":$,)"
          R"("candidatesTokenCount":$,"totalTokenCount":$},"modelVersion":$$})",
          {in, out, total, model,
           facts_.id ? ",\"responseId\":" + jsonString(*facts_.id) : std::string()});
      return r;
  }
}

}  // namespace tg::usage
