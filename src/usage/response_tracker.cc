#include "usage/response_tracker.h"

#include <algorithm>
#include <cstring>

#include "core/strings.h"
#include "usage/extract.h"

namespace tg::usage {
namespace {

constexpr size_t kMaxHeldBytes = 256u << 10;

bool isBlank(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

bool allBlank(std::string_view s) {
  return s.find_first_not_of(" \t\r\n") == std::string_view::npos;
}

// True when d[from, close) (just after a member's value, `close` the root's closing brace)
// closes nothing it did not open: the member is directly in the root object. `d` is valid JSON
// (simdjson parsed it), so brackets inside strings are the only trap.
bool restIsBalanced(std::string_view d, size_t from, size_t close) {
  size_t depth = 0;
  bool inString = false;
  bool escape = false;
  for (size_t i = from; i < close; ++i) {
    char c = d[i];
    if (inString) {
      if (escape) {
        escape = false;
      } else if (c == '\\') {
        escape = true;
      } else if (c == '"') {
        inString = false;
      }
      continue;
    }
    if (c == '"') {
      inString = true;
    } else if (c == '{' || c == '[') {
      ++depth;
    } else if (c == '}' || c == ']') {
      if (depth == 0) {
        return false;
      }
      --depth;
    }
  }
  return depth == 0;
}

// Finds the top-level `"usage": null` member of the JSON object `d` (valid JSON whose root has
// that member) and the bytes to remove with it: the comma before it, or, for the first member,
// the comma and blanks after it. `hint`, when not npos, is where the text-only byte scan saw
// the opening quote of the last `"usage": null`: tried first, so the usual cost is the few
// bytes after it. Otherwise searched from the end, where OpenAI-style servers put it. In valid
// JSON a `"usage"` whose quote is not preceded by a backslash opens the string "usage", and
// followed by ':' it is a member name; the depth is then checked on the bytes after the value.
bool findNullUsageMember(std::string_view d, size_t hint, size_t& begin, size_t& end) {
  constexpr std::string_view kKey = "\"usage\"";
  size_t close = d.size();
  while (close > 0 && isBlank(d[close - 1])) {
    --close;
  }
  if (close-- == 0 || d[close] != '}') {
    return false;
  }
  const size_t n = d.size();
  // The member whose key starts at k, if it is a top-level `"usage": null`.
  auto memberAt = [&](size_t k) {
    if (k == 0 || k >= close || d.substr(k, kKey.size()) != kKey || d[k - 1] == '\\') {
      return false;  // not the key, or inside a string
    }
    size_t p = k + kKey.size();
    while (p < n && isBlank(d[p])) {
      ++p;
    }
    if (p >= n || d[p] != ':') {
      return false;  // the string "usage" as a value
    }
    ++p;
    while (p < n && isBlank(d[p])) {
      ++p;
    }
    if (d.substr(p, 4) != "null") {
      return false;
    }
    size_t q = p + 4;
    size_t next = q;
    while (next < n && isBlank(d[next])) {
      ++next;
    }
    if (next >= n || (d[next] != ',' && d[next] != '}') || !restIsBalanced(d, q, close)) {
      return false;  // nested deeper
    }
    size_t before = k;
    while (before > 0 && isBlank(d[before - 1])) {
      --before;
    }
    if (before > 0 && d[before - 1] == ',') {
      begin = before - 1;
      end = q;
    } else if (d[next] == ',') {  // the first member: take the comma and blanks after it
      begin = k;
      end = next + 1;
      while (end < n && isBlank(d[end])) {
        ++end;
      }
    } else {  // the only member
      begin = k;
      end = q;
    }
    return true;
  };
  if (hint != std::string_view::npos && memberAt(hint)) {
    return true;
  }
  size_t from = close;
  while (from > 0) {
    size_t k = d.rfind(kKey, from - 1);
    if (k == std::string_view::npos || k == 0) {
      return false;
    }
    from = k;
    if (memberAt(k)) {
      return true;
    }
  }
  return false;
}

// Maps the bytes [begin, end) of an event's data to their offset in the raw bytes of its block
// (the `data` lines as received, CR, LF or CRLF, other fields and comments in between; a BOM
// at the start of the stream). False when the range spans two data lines or the bytes differ.
bool mapDataRange(std::string_view block, bool streamStart, std::string_view data,
                  uint32_t dataLines, size_t begin, size_t end, size_t& raw) {
  const size_t n = block.size();
  if (dataLines == 1 && n > 5 && block.starts_with("data:")) {
    // The usual block: its first line is the event's only data line, whose value is `data`.
    raw = (block[5] == ' ' ? 6 : 5) + begin;
    return raw + (end - begin) <= n &&
           block.substr(raw, end - begin) == data.substr(begin, end - begin);
  }
  size_t pos = 0;
  if (streamStart && block.starts_with("\xEF\xBB\xBF")) {
    pos = 3;
  }
  size_t offset = 0;  // of the current data line's value in `data`
  bool firstData = true;
  while (pos < n) {
    const char* p = block.data() + pos;
    const void* lf = std::memchr(p, '\n', n - pos);
    size_t scan = lf != nullptr ? static_cast<size_t>(static_cast<const char*>(lf) - p) : n - pos;
    const void* cr = std::memchr(p, '\r', scan);
    size_t eol =
        pos + (cr != nullptr ? static_cast<size_t>(static_cast<const char*>(cr) - p) : scan);
    std::string_view line = block.substr(pos, eol - pos);
    if (line.empty()) {
      return false;  // the blank line ending the block
    }
    if (line.starts_with("data") && (line.size() == 4 || line[4] == ':')) {
      size_t value = pos + 4;
      if (line.size() > 4) {
        ++value;
        if (value < eol && block[value] == ' ') {
          ++value;
        }
      }
      if (!firstData) {
        ++offset;  // the '\n' joining data lines
      }
      firstData = false;
      size_t len = eol - value;
      if (begin >= offset && end <= offset + len) {
        raw = value + (begin - offset);
        return block.substr(raw, end - begin) == data.substr(begin, end - begin);
      }
      offset += len;
      if (offset >= end) {
        return false;
      }
    }
    pos = eol + 1;
    if (eol < n && block[eol] == '\r' && pos < n && block[pos] == '\n') {
      ++pos;
    }
  }
  return false;
}

ResponseTracker::Framing chooseFraming(const RequestInfo& req, int status,
                                       std::string_view contentType) {
  using Framing = ResponseTracker::Framing;
  if (status < 200 || status > 299) {
    return Framing::PassThrough;
  }
  // Lower-cased on the stack: a media type longer than this is no framing we know.
  const std::string_view raw = core::trimOws(contentType.substr(0, contentType.find(';')));
  char lower[64];
  const size_t n = std::min(raw.size(), sizeof lower);
  for (size_t i = 0; i < n; ++i) {
    const char c = raw[i];
    lower[i] = c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
  }
  const std::string_view mime(lower, raw.size() <= sizeof lower ? n : 0);
  if (mime == "text/event-stream") {
    return Framing::Sse;
  }
  if (mime.find("ndjson") != std::string_view::npos ||
      mime.find("jsonl") != std::string_view::npos || mime == "application/x-json-stream") {
    return Framing::Ndjson;
  }
  if (req.dialect == Dialect::GeminiStream) {
    return Framing::JsonArray;
  }
  if ((req.dialect == Dialect::OllamaChat || req.dialect == Dialect::OllamaGenerate) &&
      req.stream) {
    return Framing::Ndjson;
  }
  return Framing::JsonBody;
}

}  // namespace

ResponseTracker::ResponseTracker(const RequestInfo& req, int status, std::string_view contentType,
                                 bool stripInjectedUsage, const TokenCounter& counter)
    : dialect_(req.dialect),
      promptEstimate_(req.promptEstimate),
      framing_(chooseFraming(req, status, contentType)),
      strip_(stripInjectedUsage && framing_ == Framing::Sse &&
             (req.dialect == Dialect::OpenAIChat || req.dialect == Dialect::OpenAICompletions)),
      counter_(counter),
      pruner_(framing_ == Framing::JsonArray ? JsonPruner::Mode::ArrayElements
                                             : JsonPruner::Mode::Sequence) {
  if (framing_ != Framing::PassThrough) {
    extractor_ = std::make_unique<UsageExtractor>(framing_ != Framing::JsonBody);
  }
  bufferBody_ = framing_ == Framing::JsonBody;
  sse_.setZeroCopy(true);  // events are read within the feed() that completes them
}

ResponseTracker::~ResponseTracker() = default;
ResponseTracker::ResponseTracker(ResponseTracker&&) noexcept = default;
ResponseTracker& ResponseTracker::operator=(ResponseTracker&&) noexcept = default;

void ResponseTracker::feed(std::string_view in, std::string& out) {
  if (framing_ == Framing::PassThrough || finished_) {
    out.append(in);
    return;
  }
  if (framing_ == Framing::Sse) {
    feedSse(in, out);
    return;
  }
  out.append(in);
  if (framing_ == Framing::JsonBody) {
    if (bufferBody_ && feedBufferedBody(in)) {
      return;
    }
    if (!extractor_->finalUsage()) {
      answerText_.clear();
      answer_.feed(in, answerText_);
      extractor_->addText(answerText_);
    }
  }
  feedJson(in);
}

// JsonBody, buffered: keeps the raw bytes and parses them in one go when they may form a
// complete document (the last non-blank byte closes an object). False: `in` takes the
// streaming path (buffering has just ended; what it held was handed over to it).
bool ResponseTracker::feedBufferedBody(std::string_view in) {
  if (bodyParsed_) {
    if (allBlank(in)) {
      return true;  // blanks after the document
    }
    endBuffering();  // more after a whole document: the streaming path reads the rest
    return false;
  }
  if (body_.size() + in.size() > kMaxBufferedBody) {
    endBuffering();
    return false;
  }
  if (body_.empty()) {
    body_.reserve(in.size() + kBodyPadding);
  }
  body_.append(in);
  size_t last = in.find_last_not_of(" \t\r\n");
  // A failed attempt parses the bytes so far for nothing: attempts are spaced so that their
  // cost stays linear in the body size (one attempt for a body that arrives in one read).
  if (last != std::string_view::npos && in[last] == '}' && body_.size() >= 2 * parseFailedAt_) {
    parseBody();
  }
  return true;
}

// One simdjson parse of the buffered body: a single JSON object (blanks around it) is the
// whole body, read exactly as the pruner's unit would be (without the pruning).
bool ResponseTracker::parseBody() {
  if (body_.capacity() < body_.size() + kBodyPadding) {
    body_.reserve(body_.size() + kBodyPadding);
  }
  if (!extractor_->onDocument(body_, {}, true).parsed) {
    parseFailedAt_ = body_.size();
    return false;
  }
  bodyParsed_ = true;
  ++bodyDocuments_;
  return true;
}

// Hands the buffered body over to the streaming path (JsonPruner, AnswerTextScanner), as if
// it had taken every byte from the start: the part not parsed yet goes to the pruner, the
// answer text not scanned yet to the estimate (unless final usage made it moot).
void ResponseTracker::endBuffering() {
  if (!bufferBody_) {
    return;
  }
  scanAnswerText();
  if (!bodyParsed_) {
    feedJson(body_);
  }
  bufferBody_ = false;
  body_ = std::string();
}

// The answer text of the buffered bytes not scanned yet, for the estimate. Run only when an
// estimate is needed (usage() without final usage) or when buffering ends: a body whose
// provider reported usage is never scanned.
void ResponseTracker::scanAnswerText() const {
  if (answerScanned_ >= body_.size() || extractor_->finalUsage()) {
    return;
  }
  answerText_.clear();
  answer_.feed(std::string_view(body_).substr(answerScanned_), answerText_);
  answerScanned_ = body_.size();
  extractor_->addText(answerText_);
}

void ResponseTracker::feedJson(std::string_view in) {
  while (!in.empty()) {
    in.remove_prefix(pruner_.feed(in));
    if (pruner_.unitReady()) {
      extractor_->onDocument(pruner_.unit(), {}, framing_ == Framing::JsonBody);
    }
  }
}

void ResponseTracker::feedSse(std::string_view in, std::string& out) {
  if (!strip_) {
    out.append(in);
  }
  while (!in.empty()) {
    SseFramer::Step step = sse_.advance(in);
    std::string_view part = in.substr(0, step.consumed);
    in.remove_prefix(step.consumed);
    bool drop = false;
    bool removeNull = false;
    if (step.dispatched) {
      onSseEvent(sse_.event(), drop, removeNull);
    }
    if (!strip_) {
      continue;
    }
    switch (step.kind) {
      case SseFramer::StepKind::LfAfterBlock:
        if (!lastBlockDropped_) {
          out.append(part);
        }
        break;
      case SseFramer::StepKind::NeedMore:
        if (heldReleased_) {
          out.append(part);
        } else if (held_.size() + part.size() > kMaxHeldBytes) {
          out.append(held_);
          out.append(part);
          held_.clear();
          heldReleased_ = true;
        } else {
          held_.append(part);
        }
        break;
      case SseFramer::StepKind::BlockEnd:
        if (drop && !heldReleased_) {
          ++stripped_;
          lastBlockDropped_ = true;
        } else if (removeNull && !heldReleased_) {
          forwardWithoutNullUsage(part, out);
          lastBlockDropped_ = false;
        } else {
          out.append(held_);
          out.append(part);
          lastBlockDropped_ = false;
        }
        held_.clear();
        heldReleased_ = false;
        firstBlock_ = false;
        break;
    }
  }
}

// The block of the event just dispatched (held_ + part), minus its top-level "usage": null
// member, which the upstream added only because the gateway asked for include_usage.
void ResponseTracker::forwardWithoutNullUsage(std::string_view part, std::string& out) {
  std::string_view block = part;
  if (!held_.empty()) {
    held_.append(part);
    block = held_;
  }
  std::string_view data = sse_.event().data;
  size_t begin = 0;
  size_t end = 0;
  size_t raw = 0;
  if (!findNullUsageMember(data, nullUsageHint_, begin, end) ||
      !mapDataRange(block, firstBlock_, data, sse_.event().dataLines, begin, end, raw)) {
    out.append(block);
    return;
  }
  out.append(block.substr(0, raw));
  out.append(block.substr(raw + (end - begin)));
  ++nullsRemoved_;
}

void ResponseTracker::onSseEvent(const SseEvent& ev, bool& drop, bool& removeNull) {
  if (ev.type == "error") {
    extractor_->markError();
  }
  if (ev.truncated || ev.data.empty() || ev.data == "[DONE]") {
    return;
  }
  size_t first = ev.data.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos || (ev.data[first] != '{' && ev.data[first] != '[')) {
    return;  // not JSON: a provider's plain-text keep-alive or marker
  }
  // Most events only carry text (no usage member, nothing to strip): kept raw, parsed only
  // if an estimate is needed.
  nullUsageHint_ = std::string_view::npos;
  if (extractor_->deferIfTextOnly(ev.data, ev.type, &nullUsageHint_)) {
    // Text-only apart from a possible `"usage": null` member, which the scan located: when
    // stripping, remove it (forwardWithoutNullUsage proves it is a top-level member).
    removeNull = strip_ && nullUsageHint_ != std::string_view::npos;
    return;
  }
  std::string_view json = ev.data;
  if (!ev.padded) {  // zero-copy framing: simdjson wants padding after the document
    padded_.clear();
    padded_.reserve(json.size() + SseFramer::kPadding);
    padded_.append(json);
    json = padded_;
  }
  UsageExtractor::Facts facts = extractor_->onDocument(json, ev.type, false);
  drop = strip_ && facts.usageNoChoices;
  removeNull = strip_ && facts.usageNull;
}

void ResponseTracker::finish(bool complete, std::string& out) {
  if (finished_) {
    return;
  }
  finished_ = true;
  complete_ = complete;
  if (framing_ == Framing::JsonBody && bufferBody_ && !bodyParsed_ && !body_.empty() &&
      (parseFailedAt_ == body_.size() || !parseBody())) {
    // Not one JSON object: concatenated documents, a cut body, not JSON at all. The pruner
    // reads what it can, exactly as if it had streamed (the bytes stay for the estimate).
    feedJson(body_);
  }
  if (framing_ == Framing::Sse) {
    out.append(held_);
    held_.clear();
    // An event without its final blank line is not dispatched to the client (WHATWG), but it
    // was generated and relayed: it counts for accounting (wire-formats.md §4.2 item 8).
    if (auto pending = sse_.pendingAtEof()) {
      bool drop = false;
      bool removeNull = false;
      onSseEvent(*pending, drop, removeNull);
    }
  }
}

uint64_t ResponseTracker::estimateOutput() const {
  if (dialect_ == Dialect::OpenAIEmbeddings) {
    return 0;
  }
  extractor_->flushDeferred();
  if (bufferBody_) {
    scanAnswerText();
  }
  std::string_view text = extractor_->text();
  uint64_t overflow = extractor_->textOverflowBytes();
  uint64_t size = text.size() + overflow;
  if (size != cachedEstimateBytes_) {
    uint64_t n = countTokens(counter_, text) + (overflow + 3) / 4;
    cachedEstimate_ = std::min(n, kMaxTokenCount);
    cachedEstimateBytes_ = size;
  }
  return cachedEstimate_;
}

Usage ResponseTracker::usage() const {
  if (framing_ == Framing::PassThrough) {
    return {};
  }
  const UsageExtractor& x = *extractor_;
  // A stream that ended cleanly and without an in-stream error vouches for its last figures.
  bool settled = finished_ && complete_ && !x.sawError();
  // One that ended otherwise (cut, client gone, upstream failed midway) before its final
  // figure has only running figures: whatever wins below, the record is an estimate.
  bool broken = finished_ && !settled;
  Usage u;
  if (x.anyUsage()) {
    u = normalizeUsage(x.raw());
    if (!x.raw().hasInput()) {
      u.inputTokens = promptEstimate_;
      u.estimated = true;
    }
    if (!x.finalUsage() && !settled) {
      uint64_t estimate = estimateOutput();
      if (estimate > u.outputTokens) {
        u.outputTokens = estimate;
        u.estimated = true;
      }
      if (broken) {
        u.estimated = true;
      }
    }
  } else if (x.anyTimings()) {
    u = x.timingsUsage();
  } else {
    if (dialect_ == Dialect::Unknown) {
      return {};
    }
    u.inputTokens = promptEstimate_;
    u.outputTokens = estimateOutput();
    u.estimated = true;
  }
  u.totalTokens = std::min(std::max(u.totalTokens, u.inputTokens + u.outputTokens), kMaxTokenCount);
  return u;
}

bool ResponseTracker::sawError() const { return extractor_ != nullptr && extractor_->sawError(); }

uint64_t ResponseTracker::eventsSeen() const {
  if (framing_ == Framing::Sse) {
    return sse_.eventsDispatched();
  }
  return pruner_.unitsCompleted() + bodyDocuments_;
}

}  // namespace tg::usage
