#include "http/response_reader.h"

#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/error.hpp>

namespace tg::http {

namespace bhttp = boost::beast::http;
using bsv = boost::beast::string_view;
using boost::system::error_code;

class ResponseParser::Impl final : public bhttp::basic_parser<false> {
 public:
  explicit Impl(ResponseHead& head) : head_(head) {}
  std::string* out = nullptr;

 private:
  // See RequestReader: the arena is reserved for the whole head up front, so views stay
  // valid while the head arrives over several reads.
  std::string_view keep(std::string_view s, error_code& ec) {
    if (head_.arena.size() + s.size() > head_.arena.capacity()) {
      ec = bhttp::error::header_limit;
      return {};
    }
    size_t off = head_.arena.size();
    head_.arena.append(s);
    return {head_.arena.data() + off, s.size()};
  }
  void on_request_impl(bhttp::verb, bsv, bsv, int, error_code&) override {}
  void on_response_impl(int code, bsv reason, int version, error_code& ec) override {
    head_.status = code;
    head_.reason = keep(reason, ec);
    head_.version = version >= 11 ? 11 : 10;
  }
  void on_field_impl(bhttp::field, bsv name, bsv value, error_code& ec) override {
    if (is_header_done()) {
      return;  // a trailer: not part of the head (and never relayed: bodies are re-framed)
    }
    HeaderField f{keep(name, ec), keep(value, ec)};
    if (!ec) {
      head_.headers.push_back(f);
    }
  }
  void on_header_impl(error_code&) override {
    head_.keepAlive = keep_alive();
    head_.chunked = chunked();
    if (auto cl = content_length()) {
      head_.contentLength = *cl;
    }
  }
  void on_body_init_impl(const boost::optional<std::uint64_t>&, error_code&) override {}
  size_t on_body_impl(bsv body, error_code&) override {
    out->append(body);
    return body.size();
  }
  void on_chunk_header_impl(std::uint64_t, bsv, error_code&) override {}
  size_t on_chunk_body_impl(std::uint64_t, bsv body, error_code&) override {
    out->append(body);
    return body.size();
  }
  void on_finish_impl(error_code&) override {}

  ResponseHead& head_;
};

ResponseParser::ResponseParser(ResponseHead& head, bool headRequest, uint32_t maxHeadBytes)
    : head_(head), headRequest_(headRequest), maxHeadBytes_(maxHeadBytes) {
  head_.reset();
  head_.arena.reserve(maxHeadBytes_ + 64);
  impl_ = std::make_unique<Impl>(head_);
  impl_->header_limit(maxHeadBytes_);
  impl_->body_limit(boost::none);
  impl_->eager(true);
  impl_->skip(headRequest_);
}

ResponseParser::~ResponseParser() = default;

void ResponseHead::reset() {
  status = 0;
  reason = {};
  version = 11;
  headers.clear();
  contentLength.reset();
  chunked = false;
  keepAlive = true;
  arena.clear();  // keeps its capacity for the next response
}

size_t ResponseParser::put(std::string_view in, std::string* bodyOut, error_code& ec) {
  size_t total = 0;
  for (;;) {
    if (in.empty()) {
      ec = bhttp::error::need_more;
      return total;
    }
    impl_->out = bodyOut;
    size_t n = impl_->put(boost::asio::buffer(in.data(), in.size()), ec);
    total += n;
    in.remove_prefix(n);
    if (ec) {
      return total;
    }
    // Interim responses (100 Continue, 103 Early Hints) precede the real one: skip them.
    if (impl_->is_done() && head_.status >= 100 && head_.status < 200 && head_.status != 101) {
      impl_ = std::make_unique<Impl>(head_);
      head_.headers.clear();
      head_.arena.clear();  // capacity stays: views of the interim head are dropped with it
      impl_->header_limit(maxHeadBytes_);
      impl_->body_limit(boost::none);
      impl_->eager(true);
      impl_->skip(headRequest_);
      continue;
    }
    if (!impl_->is_done() && in.empty()) {
      ec = bhttp::error::need_more;
    }
    return total;
  }
}

void ResponseParser::putEof(error_code& ec) { impl_->put_eof(ec); }

bool ResponseParser::headerDone() const { return impl_->is_header_done(); }
bool ResponseParser::done() const { return impl_->is_done(); }
bool ResponseParser::reusable() const {
  return impl_->is_done() && impl_->keep_alive() && !impl_->need_eof();
}
bool ResponseParser::closeDelimited() const {
  return impl_->is_header_done() && !headRequest_ && !head_.chunked && !head_.contentLength &&
         impl_->need_eof();
}

bool isNeedMore(const error_code& ec) { return ec == bhttp::error::need_more; }

}  // namespace tg::http
