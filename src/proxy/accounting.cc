#include "proxy/accounting.h"

#include "core/strings.h"

namespace tg::proxy {

namespace {
constexpr size_t kMaxInflated = 64u << 20;

// The admission-path prompt estimate: UTF-8 bytes / 4 per text piece. Images and files are
// already left out by the inspector (they are not text pieces), so no base64 scan is needed.
usage::TokenCounter cheapCounter() {
  return [](std::string_view text) { return usage::estimateTokensByBytes(text); };
}
}  // namespace

std::string Accounting::begin(std::string_view method, std::string_view path,
                              std::string_view query, std::string& body, bool injectUsage) {
  usage::InspectResult r = usage::inspectRequest(method, path, query, body, cheapCounter());
  if (!r.error.empty()) {
    return r.error;
  }
  info_ = std::move(r.info);
  if (!active()) {
    return "";
  }
  bool openaiStyle = info_->dialect == usage::Dialect::OpenAIChat ||
                     info_->dialect == usage::Dialect::OpenAICompletions;
  if (injectUsage && openaiStyle && info_->stream && !info_->clientAskedUsage) {
    injected_ = usage::injectIncludeUsage(body);
  }
  return "";
}

usage::TokenCounter Accounting::outputCounter() const {
  if (tokenizers_ != nullptr && info_) {
    if (const tokenizer::Bpe* bpe = tokenizers_->forModel(info_->model)) {
      return [bpe](std::string_view text) { return static_cast<uint64_t>(bpe->count(text)); };
    }
  }
  return [](std::string_view text) {
    return tokenizer::estimateTokens(text);  // bytes/4, base64 runs excluded
  };
}

void Accounting::onResponse(const http::ResponseHead& head) {
  if (!active()) {
    return;
  }
  usage::TokenCounter counter = outputCounter();
  std::string_view encoding = head.header("content-encoding");
  if (!encoding.empty() && !core::iequals(encoding, "identity")) {
    inflater_ = Inflater::create(encoding, kMaxInflated);
  }
  bool ok = head.status >= 200 && head.status < 300;
  bool plain = encoding.empty() || core::iequals(encoding, "identity");
  strip_ = injected_ && ok && (plain || inflater_ != nullptr);
  decodeForClient_ = strip_ && inflater_ != nullptr;
  tracker_ = std::make_unique<usage::ResponseTracker>(
      *info_, head.status, head.header("content-type"), strip_, std::move(counter));
}

void Accounting::relay(std::string_view decoded, std::string& out) {
  if (!tracker_ || ended_) {
    out.append(decoded);
    return;
  }
  if (!inflater_) {
    tracker_->feed(decoded, out);
    return;
  }
  inflated_.clear();
  bool okInflate = inflater_->feed(decoded, inflated_);
  if (decodeForClient_) {
    tracker_->feed(inflated_, out);  // the client gets the decoded, stripped stream
    return;
  }
  // Otherwise the client gets the original bytes; the tracker reads the decoded ones.
  out.append(decoded);
  if (okInflate || !inflated_.empty()) {
    sink_.clear();
    tracker_->feed(inflated_, sink_);
  }
}

void Accounting::end(bool complete, std::string& out) {
  if (!tracker_ || ended_) {
    return;
  }
  ended_ = true;
  if (inflater_ && !decodeForClient_) {
    sink_.clear();
    tracker_->finish(complete && !inflater_->failed(), sink_);
  } else {
    tracker_->finish(complete, out);
  }
}

std::optional<usage::Usage> Accounting::usage() const {
  if (!tracker_) {
    return std::nullopt;
  }
  return tracker_->usage();
}

}  // namespace tg::proxy
