#pragma once
// StreamCut: enforces an output-token budget inside a streaming (SSE) LLM response. The caller
// feeds the decoded upstream body, looks at the complete SSE blocks one at a time with the
// output tokens each carries (next), takes and forwards those the budget allows (take), and
// at the cut appends ending(): the bytes that end the stream in the caller's dialect, so that
// the official SDKs (openai, @anthropic-ai/sdk, Gemini clients) read a normal end with a
// length finish reason. Only taken blocks count, in relayedOutput() as in ending().
//
// Blocks (SseFramer does the framing, so the rules of sse.h hold):
//   * A block is the exact upstream bytes up to and including the empty line that ends it:
//     an event, a comment-only / keep-alive block, or a blank line. Concatenated, the blocks
//     are the input minus the unfinished tail; they and their counts do not depend on how the
//     input was split.
//   * A block whose empty line ends with a CR at the end of the buffered bytes is held until
//     the next byte shows whether a LF belongs to it (or until finish()).
//   * A block that grows past maxBlockBytes without ending is handed out in pieces of exactly
//     maxBlockBytes bytes with 0 tokens (its data is cut at that size too, so it parses as no
//     JSON and counts 0). A partial event is never handed out otherwise: at end of stream it
//     is in rest().
// Output tokens per event: the sum of countTokens(counter, text) over the event's texts:
//   OpenAIChat        choices[].delta content, refusal, reasoning_content, reasoning,
//                     tool_calls[].function name and arguments, function_call name/arguments
//   OpenAICompletions choices[].text
//   OpenAIResponses   "delta" of response.{output_text,refusal,function_call_arguments,
//                     reasoning_summary_text,reasoning_text}.delta
//   Anthropic         content_block_delta delta text, partial_json, thinking
//   GeminiStreamSse   candidates[].content.parts[] text, and functionCall as minified JSON
// Data that is not a JSON object (`[DONE]`, cut JSON) carries 0 tokens.
//
// ending() builds on what the taken blocks showed (ids, model, created time, open Anthropic
// content block, OpenAI choice indexes, Responses sequence numbers, the line end of the first
// block: "\n" by default, CRLF as Gemini sends it) and falls back to tokengate ids, req.model
// and the construction time. Per dialect:
//   OpenAIChat / OpenAICompletions  a finish_reason "length" chunk per choice index seen ({0}
//                       by default) that has not finished yet; the usage chunk (choices: [])
//                       only if req.clientAskedUsage and none was taken; `data: [DONE]`
//   OpenAIResponses     response.incomplete, reason max_output_tokens, with usage
//   Anthropic           message_start if none was taken, content_block_stop for an open block,
//                       message_delta (stop_reason max_tokens, usage), message_stop
//   GeminiStreamSse     one chunk with finishReason MAX_TOKENS and usageMetadata
// Once a taken block ended the stream ([DONE], message_stop, a terminal Responses event, a
// Gemini finishReason), ending() is empty: the client already has a complete stream.
//
// Counts written by ending() are clamped to kMaxTokenCount; ids and models are re-escaped.
//
// Cost: one simdjson DOM parse per event (a thread-local parser, when next() first returns
// the block), the framer's copy of each event's data, a copy of the fed bytes (only the
// unfinished block is moved by the next feed()) and a copy of the few facts above per event;
// no allocation per event once buffers have grown. No I/O. Not thread-safe: one StreamCut
// per response. The counter is copied.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "usage/dialect.h"
#include "usage/request.h"
#include "usage/sse.h"
#include "usage/token_counter.h"

namespace tg::usage {

// What the blocks taken so far showed about the stream (first value seen wins, except where
// noted). Updated by StreamCut::take().
struct StreamFacts {
  std::optional<uint64_t> reportedInput;   // the last provider input count (see reportedInput())
  std::optional<std::string> id;           // chunk / response / message id; Gemini responseId
  std::optional<std::string> model;        // model; Gemini modelVersion
  std::optional<std::string> fingerprint;  // OpenAI system_fingerprint
  std::optional<int64_t> created;          // OpenAI created, Responses created_at
  struct Choice {
    uint64_t index;
    bool finished;  // a non-null finish_reason was taken
  };
  std::vector<Choice> choices;  // OpenAI choice indexes, sorted (at most kMaxChoices)
  static constexpr size_t kMaxChoices = 256;
  bool usageChunkTaken = false;       // OpenAI: a chunk with usage and no choices
  std::optional<uint64_t> sequence;   // Responses: the last sequence_number
  bool messageStarted = false;        // Anthropic message_start
  std::optional<uint64_t> openBlock;  // Anthropic: the content block started and not stopped
  bool ended = false;                 // the stream's own end was taken
  std::string eol;                    // the line end of the first block with one ("" unknown)
};

class StreamCut {
 public:
  static constexpr size_t kDefaultMaxBlockBytes = 16u << 20;

  // `req`: the request's inspection (dialect, model, clientAskedUsage); a dialect that
  // supports() rejects still gets blocks, with 0 tokens and an empty ending(). `counter`:
  // counts text tokens (countTokens; empty: bytes/4). `nowUnixSeconds`: the fallback
  // `created` time of ending(); 0 reads the system clock once, here. `maxBlockBytes`: the cap
  // on a buffered block (and on an event's data, SseFramer's maxEventBytes).
  StreamCut(const RequestInfo& req, TokenCounter counter, int64_t nowUnixSeconds = 0,
            size_t maxBlockBytes = kDefaultMaxBlockBytes);

  // True for the dialects whose SSE streams can be cut: OpenAIChat, OpenAICompletions,
  // OpenAIResponses, Anthropic, GeminiStreamSse.
  static bool supports(Dialect d);

  // Appends decoded body bytes (any split). Invalidates the last Block's bytes.
  void feed(std::string_view in);
  // No more input: a block held for a possible LF after its final CR is handed out as is.
  void finish() { finished_ = true; }

  struct Block {
    std::string_view bytes;  // the exact upstream bytes of one block
    uint64_t outputTokens;   // output tokens this block adds (0 for blocks without output text)
  };
  // The next complete block, NOT taken yet: next() returns the same block until take(), so
  // the caller can decide on its outputTokens before it counts. nullopt when the buffered
  // bytes hold no complete block (a partial event stays buffered). `bytes` is valid until the
  // next feed() or next() (take() does not move it).
  std::optional<Block> next();
  // Takes the block next() returned (no-op if none): the caller relays it. It is added to
  // relayedOutput() and to the state ending() uses; a block never taken leaves no trace.
  void take();

  // Sum of outputTokens of the blocks taken.
  uint64_t relayedOutput() const { return relayed_; }
  // The bytes that end the stream after the last taken block, reporting `inputTokens` prompt
  // tokens and `outputTokens` output tokens (see above; empty when the stream already ended
  // or the dialect is not supported).
  std::string ending(uint64_t inputTokens, uint64_t outputTokens) const;
  // Input tokens the provider reported in the taken blocks, in the dialect's own terms (the
  // last one seen): Anthropic message.usage.input_tokens (cache counts not added), OpenAI
  // usage.prompt_tokens, Responses response.usage.input_tokens, Gemini promptTokenCount.
  std::optional<uint64_t> reportedInput() const { return facts_.reportedInput; }
  // True once a taken block ended the stream (ending() is then empty).
  bool streamEnded() const { return facts_.ended; }
  // What the taken blocks showed, for ending() (and tests, logs).
  const StreamFacts& facts() const { return facts_; }
  // The bytes fed and not taken (a block next() returned, then the unfinished tail), e.g. to
  // forward an unfinished last event as is. Valid like Block::bytes.
  std::string_view rest() const { return std::string_view(buf_).substr(start_); }
  size_t bufferedBytes() const { return buf_.size() - start_; }

 private:
  Block pend(size_t end, uint64_t tokens, bool event);

  Dialect dialect_;
  std::string reqModel_;
  bool clientAskedUsage_;
  TokenCounter counter_;
  int64_t now_;
  size_t maxBlock_;
  SseFramer framer_;
  std::string buf_;          // fed bytes; [start_, size) not taken yet
  size_t start_ = 0;         // the first byte not taken
  size_t scan_ = 0;          // bytes given to the framer
  bool blockEnded_ = false;  // [start_, scan_) is a block held for a possible LF...
  bool heldEvent_ = false;   // ... that dispatched this event (copied: the framer moves on)
  std::string heldType_;
  std::string heldData_;
  bool finished_ = false;
  // The block next() returned: [start_, pendingEnd_) and its tokens. When it has an event,
  // pendingFacts_ is facts_ with that event read in (copied, so no allocation once the
  // strings have grown): take() swaps them.
  std::optional<size_t> pendingEnd_;
  uint64_t pendingTokens_ = 0;
  bool pendingEvent_ = false;
  StreamFacts pendingFacts_;
  uint64_t relayed_ = 0;
  StreamFacts facts_;
};

}  // namespace tg::usage
