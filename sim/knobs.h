#pragma once

// Knobs: the per-request behaviour switches of tokengate-sim.
//
// A request's effective knobs are built in layers, each overriding the one before:
//   built-in defaults  <  instance flags (--tokens ...)  <  model-name suffix  <  x-sim-* headers.
// The model-name suffix is everything after the first '@' in the model, written as
// "name@key=value,key=value" (e.g. "gpt-4o-mini@tokens=5,delay_ms=10"). Keys are the knob names
// below; headers use "x-sim-" plus the knob name with '_' spelled '-' (x-sim-delay-ms).
//
// All functions here are pure and thread-safe; they report bad input as an error string instead
// of throwing, so a malformed knob becomes a 400 answer rather than a crash.

#include <optional>
#include <string>
#include <string_view>

namespace tg::sim {

struct Knobs {
  // Number of output tokens generated.
  int tokens = 16;
  // Pause between two output tokens, in milliseconds.
  int delay_ms = 0;
  // Pause before the first output token (time to first token), in milliseconds.
  int ttft_ms = 0;
  // true: no usage object in any response or event.
  bool omit_usage = false;
  // Anything but 200 answers with this status and an error body in the request's dialect.
  int status = 200;
  // Streams: close the connection abruptly once this many tokens were sent (clamped to
  // `tokens`, so a cut always happens when set). Non-streams: send half of the body, then close.
  std::optional<int> cut_after;
  // true: gzip the response body (streams are flushed with Z_SYNC_FLUSH after every event).
  bool gzip = false;
};

// One knob's header name and knob name, e.g. {"x-sim-delay-ms", "delay_ms"}.
struct KnobHeader {
  std::string_view header;
  std::string_view knob;
};
inline constexpr KnobHeader kKnobHeaders[] = {
    {"x-sim-tokens", "tokens"},   {"x-sim-delay-ms", "delay_ms"},
    {"x-sim-ttft-ms", "ttft_ms"}, {"x-sim-omit-usage", "omit_usage"},
    {"x-sim-status", "status"},   {"x-sim-cut-after", "cut_after"},
    {"x-sim-gzip", "gzip"},
};

// Sets knob `name` from its textual `value`. Integers are decimal; booleans accept 0/1/true/false;
// cut_after also accepts "never" (or -1) to switch a default cut off. Returns an empty string on
// success, otherwise a message naming the knob and leaves `knobs` unchanged.
std::string applyKnob(Knobs& knobs, std::string_view name, std::string_view value);

// A model as sent by the client, split at the first '@'.
struct ModelSpec {
  std::string_view name;   // the part reported back in responses
  std::string_view knobs;  // "key=value,key=value", empty when there was no '@'
};
ModelSpec splitModel(std::string_view model);

// Applies a "key=value,key=value" list (the part after '@'). Returns "" or the first error.
std::string applyModelKnobs(Knobs& knobs, std::string_view list);

}  // namespace tg::sim
