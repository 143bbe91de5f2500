#pragma once
// ResponseTracker: reads one upstream response body as it is relayed and tells, at any point,
// how many tokens the request used: provider-reported when the provider said so, estimated
// from what was relayed otherwise. It also removes the usage chunk the gateway asked for on
// behalf of a client that did not (see injectIncludeUsage).
//
// Framing is chosen once, in the constructor:
//   status not 2xx                         pass-through; usage() is all zero, not estimated
//   Content-Type text/event-stream          SSE (SseFramer), one JSON document per event
//   Content-Type *ndjson* / jsonl, or an    NDJSON: every line's object (JsonPruner, Sequence)
//     Ollama stream without a JSON type
//   GeminiStream (no alt=sse)               streamed JSON array: each element (ArrayElements)
//   anything else                           one JSON body. Up to 1 MiB it is kept raw and
//                                           parsed whole (one simdjson parse, tried when a read
//                                           ends with '}', and at finish()); a body that is not
//                                           one JSON object (concatenated documents, cut, not
//                                           JSON) or grows past 1 MiB goes through the streaming
//                                           path (JsonPruner, Sequence), as if from its first
//                                           byte: no size cap for finding usage, since values
//                                           larger than 64 KiB are pruned on the fly
//
// Usage extraction works on every document regardless of the request's dialect (the field
// names do not collide), following wire-formats.md §1.7:
//   usage{prompt_tokens,...}           OpenAI chat/completions/embeddings, vLLM, llama.cpp, Ollama
//                                      /v1: cached_tokens and reasoning_tokens are subsets
//   usage{input_tokens,...}            Responses (response.usage) and Anthropic (message.usage,
//                                      usage of message_delta / the body): cache_creation and
//                                      cache_read_input_tokens are ADDED to input
//   usageMetadata                      Gemini: input = prompt + toolUsePrompt, output =
//                                      candidates + thoughts, cached = cachedContent
//   prompt_eval_count / eval_count     Ollama native (done:true object)
//   timings{prompt_n,cache_n,predicted_n}  llama.cpp, used only when no usage arrived
// Every observation overwrites the fields it carries and never adds to earlier ones: Anthropic
// message_delta and Gemini usageMetadata are cumulative, OpenAI's last non-null usage wins.
// Numbers are clamped to kMaxTokenCount; negative ones read as 0, numeric strings are accepted.
//
// usage() rules:
//   * reported: some usage arrived. If a *final* one arrived (OpenAI usage on a chunk with no
//     choices or with a finish_reason, a terminal Responses event, Anthropic message_delta,
//     Gemini usageMetadata on a chunk with finishReason, Ollama done:true, llama.cpp timings,
//     or any usage of a whole JSON body), or the response finished complete without an
//     in-stream error, it is taken as is.
//     Otherwise output is max(reported, estimated from the relayed text). Once finished
//     (finish(false): cut, client gone, upstream failed midway; or an in-stream error) the
//     figures that arrived were only running ones, so `estimated` is set whichever won, with
//     `reported` kept: both flags (wire-formats' "the record then says estimated"). While
//     still running, `estimated` is set only when the estimate won. A missing input count
//     (Ollama on a KV-cache hit) is the prompt estimate, also marked estimated.
//   * not reported: input = RequestInfo::promptEstimate, output = counter(relayed text), marked
//     estimated. The relayed text is what a client would read: delta content/text/reasoning
//     and tool-call arguments per dialect (SSE, NDJSON, Gemini array); for a single JSON body,
//     the answer text only (message content, text parts, tool arguments; AnswerTextScanner,
//     answer_text.h), read from the bytes received so that a cut body counts what it had (a
//     body that is not JSON counts whole); while the body is buffered it is scanned only
//     when an estimate is needed, so a body with usage is never scanned. It is kept up to
//     4 MiB (freed as soon as final usage arrives); bytes beyond count as bytes/4. Text that
//     was relayed is never estimated as 0 tokens.
//     Embeddings estimate no output.
//   * Dialect::Unknown without reported usage: zero, not estimated (nothing to estimate from).
//   * totalTokens = max(reported total, input + output).
//
// Stripping (stripInjectedUsage, honoured for OpenAIChat / OpenAICompletions over SSE only):
// the event whose JSON has a non-null "usage" object is removed, byte-exact, with its blank
// line, including a LF that follows its final CR in a later feed. Decision: an event that also
// carries choices is kept (vLLM's continuous usage, Ollama's zero-filled usage on content
// chunks, providers that put usage on the finish chunk): removing it would lose content, and a
// usage field on a content chunk is harmless to clients. Azure's first chunk (empty choices,
// no usage) is kept because it has no usage. While stripping, only the bytes of the current
// unfinished block are held back (at most 256 KiB, then released and that block is no longer
// strippable); everything else is appended to `out` at once.
// Once include_usage is set, OpenAI-compatible upstreams also add `"usage":null` to every
// other chunk; while stripping, that member is removed from each event (the comma before it,
// or for a first member the comma and blanks after it; any blanks around the colon), so the
// client's stream is byte-identical to the one it gets without include_usage. Only a member of
// the chunk's root object goes: nested members and text inside strings are content. The
// member is found where the text-only scan saw it (else searched from the end of the event's
// data, where servers put it), its depth checked on the bytes after it, and the edit mapped back to
// the event's raw `data` line (other fields, comments, CRLF/CR, a stream-start BOM kept byte for
// byte). A member split over two data lines, or an event released by the hold cap, passes
// unchanged.
//
// sawError(): an SSE `event: error`, a JSON "type":"error" or "response.failed", or a
// non-null top-level "error" object (OpenAI's and Gemini's in-stream errors) after the 2xx.
//
// Cost: an event that a byte scan shows can carry nothing but text (no "usage", "error",
// "failed", "eval_count", "timings" nor \u escape in it, a `"usage": null` member aside: most
// OpenAI chunks, Anthropic deltas, Responses text deltas) is not parsed: its data is kept raw
// (up to 4 MiB, then parsed) and parsed for its text only if an estimate is needed, dropped
// unparsed once final usage arrives (UsageExtractor::deferIfTextOnly). The scan tests rare
// byte pairs 32 bytes at a time (AVX2, else SSE2) and also locates the `"usage": null` member
// that stripping removes. Other events get one simdjson DOM parse (about 0.4 µs per 260-byte
// chunk). About 0.1 µs per event on the OpenAI and Anthropic streams of bench/usage, with or
// without stripping the usage chunk, 0.13 µs when "usage":null is removed from every chunk,
// 0.4 µs on Gemini (usage on every chunk, so every chunk is parsed). No allocation per event
// once buffers have grown. A JSON body of 800 bytes with usage costs about 0.65 µs (a copy and
// one parse); the answer-text scan (about 1.3 ns per byte) runs only for an estimate or on the
// streaming path. Not thread-safe: one tracker per response. The counter is copied; only usage()
// calls it (lazily, cached).

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "core/token_usage.h"
#include "usage/answer_text.h"
#include "usage/json_pruner.h"
#include "usage/request.h"
#include "usage/sse.h"
#include "usage/token_counter.h"

namespace tg::usage {

// The usage record is core's TokenUsage: the same type settles the limits and feeds metrics.
using Usage = core::TokenUsage;

class UsageExtractor;  // extract.h

class ResponseTracker {
 public:
  ResponseTracker(const RequestInfo& req, int status, std::string_view contentType,
                  bool stripInjectedUsage, const TokenCounter& counter);
  ~ResponseTracker();
  ResponseTracker(ResponseTracker&&) noexcept;
  ResponseTracker& operator=(ResponseTracker&&) noexcept;
  ResponseTracker(const ResponseTracker&) = delete;
  ResponseTracker& operator=(const ResponseTracker&) = delete;

  // Feeds decoded (de-chunked, uncompressed) body bytes, split anywhere. Appends to `out` the
  // bytes to forward: exactly the input, unless stripping (see above).
  void feed(std::string_view in, std::string& out);
  // End of the body. complete=false: cut, upstream failed, or the client left. Appends any
  // held-back bytes to `out`. Further feed() calls only forward their bytes.
  void finish(bool complete, std::string& out);

  Usage usage() const;
  bool sawError() const;

  // Diagnostics for tests and metrics.
  enum class Framing { PassThrough, Sse, Ndjson, JsonArray, JsonBody };
  Framing framing() const { return framing_; }
  uint64_t eventsSeen() const;  // SSE events dispatched / JSON documents completed
  bool usageChunkStripped() const { return stripped_ > 0; }
  uint64_t nullUsageMembersRemoved() const { return nullsRemoved_; }

 private:
  void feedSse(std::string_view in, std::string& out);
  void feedJson(std::string_view in);
  bool feedBufferedBody(std::string_view in);
  bool parseBody();
  void endBuffering();
  void scanAnswerText() const;
  void onSseEvent(const SseEvent& ev, bool& drop, bool& removeNull);
  void forwardWithoutNullUsage(std::string_view part, std::string& out);
  uint64_t estimateOutput() const;

  Dialect dialect_;
  uint64_t promptEstimate_;
  Framing framing_;
  bool strip_;
  TokenCounter counter_;
  std::unique_ptr<UsageExtractor> extractor_;
  SseFramer sse_;
  JsonPruner pruner_;
  // JsonBody: the answer text, for estimates; scanned lazily from body_ while buffering.
  mutable AnswerTextScanner answer_;
  mutable std::string answerText_;  // scratch
  // JsonBody: the raw body, kept up to kMaxBufferedBody and parsed whole (see above).
  static constexpr size_t kMaxBufferedBody = 1u << 20;
  static constexpr size_t kBodyPadding = 64;  // >= SIMDJSON_PADDING
  bool bufferBody_ = false;
  bool bodyParsed_ = false;     // body_ is one whole JSON object, already read
  size_t parseFailedAt_ = 0;    // body_ size at the last failed parse
  uint64_t bodyDocuments_ = 0;  // documents read by parseBody()
  std::string body_;
  mutable size_t answerScanned_ = 0;  // bytes of body_ given to answer_
  std::string padded_;                // an event's data copied for parsing (zero-copy framing)
  std::string held_;                  // stripping: bytes of the unfinished block
  bool heldReleased_ = false;  // the unfinished block outgrew the hold cap: it passes through
  bool lastBlockDropped_ = false;
  bool firstBlock_ = true;  // the block being read starts at stream offset 0
  uint64_t stripped_ = 0;
  uint64_t nullsRemoved_ = 0;
  size_t nullUsageHint_ = std::string_view::npos;  // the dispatched event's `"usage": null`
  bool finished_ = false;
  bool complete_ = false;
  // usage() is const and may be called repeatedly: the counter runs once per text size.
  mutable uint64_t cachedEstimateBytes_ = UINT64_MAX;
  mutable uint64_t cachedEstimate_ = 0;
};

}  // namespace tg::usage
