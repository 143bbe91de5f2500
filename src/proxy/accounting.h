#pragma once
// Accounting: the token usage of one proxied request, from the request body to the final
// usage record. It wires the pure usage/ and tokenizer/ modules into the relay:
//   begin()    after the body is read: dialect, model, stream flag, output cap and a cheap
//              prompt estimate (bytes/4 per text piece, never the exact tokenizer: the
//              admission path must stay a small fraction of the proxying cost); for an
//              OpenAI-style stream whose client did not ask for usage, the body is rewritten
//              to ask for it (stream_options.include_usage) and the extra chunk is stripped
//              from the response again.
//   onResponse() with the upstream's head; relay() with every de-chunked body piece, returning
//              the bytes to forward; end() when the body ended, was cut, or the client left.
//   usage()    provider-reported figures when they arrived, else an estimate (the output
//              counted exactly with the tokenizer when the model's encoding is known).
// Compressed upstream bodies (the gateway asks for identity, but an upstream may ignore it)
// are forwarded untouched and decoded on the side for the tracker only. The exception is a
// stream whose usage chunk the gateway must strip: it is decoded for the client too and
// forwarded uncompressed (decodesForClient()), the only way to remove the chunk.
//
// One Accounting per request, used on the connection's thread only.

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "http/response_reader.h"
#include "proxy/inflate.h"
#include "tokenizer/tokenizer.h"
#include "usage/request.h"
#include "usage/response_tracker.h"

namespace tg::proxy {

class Accounting {
 public:
  // `tokenizers` may be null: estimates are then bytes/4 throughout.
  explicit Accounting(const tokenizer::Tokenizers* tokenizers) : tokenizers_(tokenizers) {}

  // Returns an error text when the body of an LLM request is not valid JSON (answer 400).
  std::string begin(std::string_view method, std::string_view path, std::string_view query,
                    std::string& body, bool injectUsage);
  // True for requests to a known LLM API (usage is tracked).
  bool active() const { return info_ && info_->dialect != usage::Dialect::Unknown; }
  const usage::RequestInfo* request() const { return info_ ? &*info_ : nullptr; }

  void onResponse(const http::ResponseHead& head);
  // The output token counter for the request's model: its exact tokenizer when there is one,
  // else bytes/4 with base64 runs excluded.
  usage::TokenCounter outputCounter() const;
  // True when relay() gets the body as the client receives it, unencoded (no
  // Content-Encoding from the upstream, or identity).
  bool plainBody() const { return inflater_ == nullptr; }
  // True when relay() may change the bytes (the injected usage chunk is removed), so the
  // client's framing cannot be the upstream's Content-Length.
  bool editsBody() const { return strip_; }
  // True when the client receives the decoded body: drop Content-Encoding from its head.
  bool decodesForClient() const { return decodeForClient_; }
  void relay(std::string_view decoded, std::string& out);
  void end(bool complete, std::string& out);

  // The usage record; nullopt when the request was not tracked or never got a response.
  std::optional<usage::Usage> usage() const;

 private:
  const tokenizer::Tokenizers* tokenizers_;
  std::optional<usage::RequestInfo> info_;
  bool injected_ = false;
  bool strip_ = false;
  bool decodeForClient_ = false;
  std::unique_ptr<usage::ResponseTracker> tracker_;
  std::unique_ptr<Inflater> inflater_;
  std::string inflated_;
  std::string sink_;
  bool ended_ = false;
};

}  // namespace tg::proxy
