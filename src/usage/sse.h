#pragma once
// SseFramer: the WHATWG event-stream parser (HTML §9.2.6, wire-formats.md §4) over raw bytes
// fed in any split, reporting where each block of lines ends so a caller can forward, hold or
// drop the exact bytes of one event.
//
// Rules implemented, all independent of how the input is split:
//   * Lines end at CRLF, LF or a lone CR. A CR at the end of one input is acted on at once (no
//     added latency) and a LF at the start of the next input is swallowed (the skip-LF flag of
//     the OpenAI SDK), so a CRLF split across reads is one line end, not two.
//   * One UTF-8 BOM is stripped at stream offset 0 only, even when its bytes arrive split.
//   * ":..." lines are comments; "field" without a colon has an empty value; one leading space
//     of a value is removed; fields are case-sensitive; unknown fields are ignored; `id` with a
//     NUL is ignored; `retry` is parsed but unused.
//   * `data` lines are joined with '\n'. An empty line dispatches the event unless no `data`
//     line was seen (a bare `data` line dispatches an event with empty data).
//   * At end of stream an unfinished event is not dispatched. pendingAtEof() still returns it
//     (including an unterminated last line) for accounting, never for forwarding.
//
// Blocks: every empty line ends a block (the bytes since the previous empty line, whether or
// not an event was dispatched). advance() stops at each block end, which is what lets
// ResponseTracker drop exactly one event's bytes.
//
// Resource limits: an event's data is capped at maxEventBytes (the rest is dropped and the
// event is marked truncated); a partial line is buffered up to the same cap.
//
// Not thread-safe; one framer per stream. No I/O, no allocation once the buffers have grown.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace tg::usage {

struct SseEvent {
  std::string_view type;  // the `event` field, or "message"
  // The `data` lines joined with '\n', without the final LF. When `padded`, at least
  // SseFramer::kPadding readable bytes follow it in memory (simdjson can parse it in place).
  std::string_view data;
  std::string_view lastEventId;
  bool truncated = false;  // data was longer than maxEventBytes and was cut
  uint32_t dataLines = 0;  // `data` lines joined into `data` (saturating)
  // False only in zero-copy mode, for an event whose single data line arrived whole in the
  // input of the advance() that dispatched it: `data` then points into that input.
  bool padded = true;
};

class SseFramer {
 public:
  static constexpr size_t kPadding = 64;  // >= SIMDJSON_PADDING
  static constexpr size_t kDefaultMaxEventBytes = 16u << 20;

  explicit SseFramer(size_t maxEventBytes = kDefaultMaxEventBytes);

  // Zero-copy mode: an event made of one data line that arrives whole within one advance()
  // input, blank line included (the usual SSE event), is not copied: its `data` points into
  // that input, valid until the caller's input buffer changes, and is not padded
  // (SseEvent::padded). Everything else is as in the default mode.
  void setZeroCopy(bool on) { zeroCopy_ = on; }

  enum class StepKind {
    NeedMore,      // all of the input was consumed inside an unfinished block
    BlockEnd,      // an empty line ended a block; `dispatched` says whether an event fired
    LfAfterBlock,  // one LF swallowed because the previous block ended with a CR
  };
  struct Step {
    size_t consumed = 0;  // bytes of the input this step covers (a prefix)
    StepKind kind = StepKind::NeedMore;
    bool dispatched = false;
  };

  // Consumes a prefix of `in` (non-empty input: at least one byte) up to and including the
  // next block end. Call again with the rest. event() is valid after a step with
  // dispatched == true until the next call.
  Step advance(std::string_view in);
  const SseEvent& event() const { return event_; }

  // End of stream: the event under construction, if it has data, including the value of an
  // unterminated final `data` line. Per the spec it must not be dispatched to a client.
  std::optional<SseEvent> pendingAtEof();

  uint64_t eventsDispatched() const { return dispatchedCount_; }

 private:
  void processLine(std::string_view line, bool truncated, bool inInput);
  bool dispatch();
  void appendData(std::string_view value, bool truncated, bool inInput);
  void keepView();
  void resetAfterDispatch();

  size_t maxEventBytes_;
  std::string line_;  // a line split across inputs
  bool lineTruncated_ = false;
  std::string data_;
  bool dataTruncated_ = false;
  uint32_t dataLines_ = 0;
  bool zeroCopy_ = false;
  bool viewActive_ = false;  // zero-copy: the event's one data line is view_ (in the input)
  std::string_view view_;
  std::string type_;
  std::string lastId_;
  uint64_t retryMs_ = 0;
  uint8_t bomMatched_ = 0;  // bytes of EF BB BF seen at offset 0
  bool bomDone_ = false;
  bool skipLf_ = false;         // the last line ended with CR: swallow one LF
  bool skipLfIsBlock_ = false;  // ... and that CR ended a block
  bool resetPending_ = false;   // event_ points into data_/type_: clear them on the next call
  uint64_t dispatchedCount_ = 0;
  SseEvent event_;
};

}  // namespace tg::usage
