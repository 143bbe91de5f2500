#pragma once
// AnswerTextScanner: the answer text of a non-streamed JSON response body, read from the bytes
// as they arrive (split anywhere), so that a body without usage, or cut midway, is estimated
// from what the model wrote and not from the JSON around it (ids, roles, logprobs, echoed
// instructions, tool schemas).
//
// Why a scanner and not the DOM: the body may never close (the upstream cut it), and a complete
// one is only seen pruned (JsonPruner empties values > 64 KiB, which is exactly where a long
// answer is). The scanner is tolerant: it tracks strings, escapes and bracket depth, never
// validates, and takes the string values found at the paths below up to the last byte
// received, so a cut answer counts as far as it went.
//
// Paths (from the root object; arrays are transparent, "[]" marks one):
//   choices[].message.content | refusal | reasoning_content | reasoning   OpenAI chat
//   choices[].message.tool_calls[].function.arguments, .function_call.arguments
//   choices[].text                                                         OpenAI completions
//   output[].content[].text | refusal, output[].arguments (function_call), Responses
//   output[].summary[].text (reasoning summary)
//   content[].text | thinking, content[].input (tool_use: its JSON)        Anthropic
//   candidates[].content.parts[].text, parts[].functionCall (its JSON)     Gemini
//   message.content | thinking, message.tool_calls (their JSON)            Ollama chat
//   response | thinking                                                    Ollama generate
// Only string values are taken (null, numbers, objects are not text), except the three object
// values marked "its JSON", which are copied minified (whitespace outside strings dropped),
// as the streaming paths count them. Strings are unescaped (\n, \", \uXXXX with surrogate
// pairs; a lone surrogate becomes U+FFFD) so the counter sees the text a client would read.
// Several top-level values in a row (concatenated documents) are each read from their root.
//
// A body whose first non-blank byte is neither '{' nor '[' is not JSON: all of it is text.
//
// Cost: one pass, a few instructions per byte; no allocation beyond `out`. Memory: a depth
// stack capped at kMaxTrackedDepth frames (deeper values are skipped, depth still counted).
// Not thread-safe.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tg::usage {

class AnswerTextScanner {
 public:
  static constexpr size_t kMaxTrackedDepth = 64;

  // Appends to `out` the answer text found in `in` (the next bytes of the body).
  void feed(std::string_view in, std::string& out);

  // Where a value sits, as far as answer text goes (a tiny automaton over the key path).
  enum class Place : uint8_t {
    Other,
    Root,
    Choices,
    ChoiceMessage,
    ChoiceToolCalls,
    ChoiceFunction,
    Output,
    OutputContent,
    OutputSummary,
    Content,
    Candidates,
    CandidateContent,
    CandidateParts,
    Message,
  };
  // Known member names; everything else is Key::None.
  enum class Key : uint8_t {
    None,
    Choices,
    Message,
    Content,
    Text,
    Refusal,
    ReasoningContent,
    Reasoning,
    ToolCalls,
    Function,
    FunctionCall,
    Arguments,
    Output,
    Summary,
    Thinking,
    Input,
    Candidates,
    Parts,
    GeminiFunctionCall,
    Response,
  };

 private:
  enum class Mode : uint8_t { Start, Json, Raw };
  enum class Str : uint8_t { None, Key, Collect, Skip, Capture };
  struct Frame {
    Place place;
    bool array;
  };

  void openContainer(char c, std::string& out);
  void closeContainer(char c, std::string& out);
  void startString(std::string& out);
  // Consumes string bytes from in[i..]; returns the new index (past the closing quote if any).
  size_t stringBytes(std::string_view in, size_t i, std::string& out);
  size_t collectBytes(std::string_view in, size_t i, std::string& out);
  void endKey();
  void emitCodePoint(uint32_t cp, std::string& out);
  void flushHighSurrogate(std::string& out);

  Mode mode_ = Mode::Start;
  std::vector<Frame> stack_;
  size_t untracked_ = 0;   // open containers deeper than kMaxTrackedDepth
  bool expectKey_ = false;  // the next string in the current object is a member name
  Key valueKey_ = Key::None;
  Str str_ = Str::None;
  bool escape_ = false;
  uint8_t hexLeft_ = 0;  // \uXXXX digits still to read (Collect strings)
  uint32_t hex_ = 0;
  uint32_t highSurrogate_ = 0;
  char keyBuf_[24] = {};
  size_t keyLen_ = 0;  // > sizeof keyBuf_: too long to be a known key
  bool capturing_ = false;
  size_t captureDepth_ = 0;  // stack depth (tracked + untracked) outside the captured value
};

}  // namespace tg::usage
