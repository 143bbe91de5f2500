#pragma once
// The usage module: everything the gateway needs to know about the tokens of one LLM call,
// computed from bytes it already has. Pure and incremental: no I/O, no Asio, no clock; the
// proxy session feeds it request and response bytes and reads the results.
//
//   inspectRequest()      dialect, model, stream, output cap, prompt estimate  (request.h)
//   injectIncludeUsage()  ask an OpenAI-style upstream for streaming usage      (request.h)
//   ResponseTracker       usage while relaying (reported or estimated), strip (response_tracker.h)
//   SseFramer             WHATWG event-stream framing                           (sse.h)
//   AnswerTextScanner     answer text of a JSON body, complete or cut           (answer_text.h)
//   JsonPruner            bounded incremental scan of JSON bodies and arrays    (json_pruner.h)
//
// Typical use in a session:
//   auto inspected = usage::inspectRequest(method, path, query, body, counter);
//   if (!inspected.error.empty()) -> 400
//   bool strip = false;
//   if (openAiChatOrCompletions && info.stream && !info.clientAskedUsage)
//     strip = usage::injectIncludeUsage(body);
//   usage::ResponseTracker tracker(info, status, contentType, strip, counter);
//   per upstream read:  out.clear(); tracker.feed(bytes, out); write(out);
//   at the end:         tracker.finish(complete, out); write(out); settle(tracker.usage());
//
// Decisions (each explained where it is implemented):
//   * Usage is extracted from any document by field names, whatever the dialect, so a route
//     with an unexpected upstream still gets reported usage (response_tracker.h).
//   * Figures are overwritten, never summed (cumulative Anthropic/Gemini semantics); reported
//     usage that is final wins over any estimate; a cut stream is charged at least what was
//     relayed (response_tracker.h).
//   * The stripped event is the one with a non-null usage and no choices; the `"usage":null`
//     the upstream then adds to every other chunk is removed from it (response_tracker.h).
//   * A stream that ends cut (or with an in-stream error) before its final usage figure is
//     marked estimated, even when running provider figures arrived (response_tracker.h).
//   * include_usage:false from the client is overridden and the chunk stripped (request.h).
//   * A trailing SSE event without its blank line is not forwarded as an event (the bytes are
//     forwarded; clients discard it) but counts for accounting (response_tracker.cc).
//   * JSON bodies are not buffered whole: JsonPruner keeps a pruned copy (values > 64 KiB
//     become ""/{}/[]), so usage is found in bodies of any size with bounded memory; the text
//     kept for estimates is the answer text only (AnswerTextScanner, answer_text.h, tolerant
//     of bodies cut midway), capped at 4 MiB, bytes beyond count as bytes/4.
//   * Only POST on a known path is an LLM call; everything else is Dialect::Unknown, which
//     never fails inspection and is never estimated (dialect.h).
//   * Token counts come from an injected TokenCounter (default: bytes/4), so the module does
//     not depend on the tokenizer at compile time (token_counter.h).

#include "usage/dialect.h"
#include "usage/request.h"
#include "usage/response_tracker.h"
#include "usage/token_counter.h"
