#include "http/request_reader.h"

#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/error.hpp>

#include "core/strings.h"

namespace tg::http {

namespace bhttp = boost::beast::http;
using bsv = boost::beast::string_view;

void Request::reset() {
  method = target = {};
  version = 11;
  headers.clear();
  if (body.capacity() > (1u << 20)) {
    std::string().swap(body);  // do not keep a huge body's memory for the next request
  } else {
    body.clear();
  }
  contentLength.reset();
  chunked = false;
  keepAlive = true;
  expectContinue = false;
  wireBytes = 0;
  arena.clear();
}

// Beast's callback parser, writing into a Request. Field bytes are copied into the
// request's arena, which is reserved to the size of the whole buffered head before parsing,
// so the views taken into it stay valid.
class RequestReader::Parser final : public bhttp::basic_parser<true> {
 public:
  Parser(Request& req, unsigned maxHeaders) : req_(req), maxHeaders_(maxHeaders) {}
  bool tooManyFields() const { return tooMany_; }

 private:
  // Copies `s` into the arena. The arena was reserved for the whole head before parsing
  // began and never grows past that (Beast's header_limit bounds the head), so views taken
  // earlier stay valid even when the head arrives over several reads.
  std::string_view keep(std::string_view s, error_code& ec) {
    if (req_.arena.size() + s.size() > req_.arena.capacity()) {
      ec = bhttp::error::header_limit;
      return {};
    }
    size_t off = req_.arena.size();
    req_.arena.append(s);
    return {req_.arena.data() + off, s.size()};
  }

  void on_request_impl(bhttp::verb, bsv method, bsv target, int version, error_code& ec) override {
    req_.method = keep(method, ec);
    req_.target = keep(target, ec);
    req_.version = version >= 11 ? 11 : 10;
  }
  void on_response_impl(int, bsv, int, error_code&) override {}
  void on_field_impl(bhttp::field, bsv name, bsv value, error_code& ec) override {
    if (is_header_done()) {
      return;  // a trailer of a chunked body: the body is forwarded de-chunked, without it
    }
    if (req_.headers.size() >= maxHeaders_) {
      tooMany_ = true;
      ec = bhttp::error::header_limit;
      return;
    }
    HeaderField f{keep(name, ec), keep(value, ec)};
    if (ec) {
      return;
    }
    if (core::iequals(f.name, "expect") && core::iequals(f.value, "100-continue")) {
      req_.expectContinue = true;
    }
    req_.headers.push_back(f);
  }
  void on_header_impl(error_code&) override {
    req_.keepAlive = keep_alive();
    req_.chunked = chunked();
    if (auto cl = content_length()) {
      req_.contentLength = *cl;
    }
  }
  void on_body_init_impl(const boost::optional<std::uint64_t>& len, error_code&) override {
    if (len) {
      req_.body.reserve(static_cast<size_t>(*len));
    }
  }
  size_t on_body_impl(bsv body, error_code&) override {
    req_.body.append(body);
    return body.size();
  }
  void on_chunk_header_impl(std::uint64_t, bsv, error_code&) override {}
  size_t on_chunk_body_impl(std::uint64_t, bsv body, error_code&) override {
    req_.body.append(body);
    return body.size();
  }
  void on_finish_impl(error_code&) override {}

  Request& req_;
  unsigned maxHeaders_;
  bool tooMany_ = false;
};

RequestReader::RequestReader(io::ByteStream& stream, ReadBuffer& buf, io::Deadline& deadline,
                             const RequestLimits& limits)
    : stream_(stream), buf_(buf), deadline_(deadline), limits_(limits) {}

RequestReader::~RequestReader() = default;

namespace {
ReadResult classify(const error_code& ec, bool tooMany) {
  if (ec == bhttp::error::header_limit || tooMany) {
    return {ReadStatus::HeadTooLarge,
            tooMany ? "too many header fields" : "request head too large"};
  }
  if (ec == bhttp::error::body_limit) {
    return {ReadStatus::BodyTooLarge, "request body too large"};
  }
  return {ReadStatus::BadRequest, "malformed HTTP request: " + ec.message()};
}
}  // namespace

Task<ReadResult> RequestReader::readHead(Request& req) {
  req.reset();
  // Every byte of the head may end up in the arena (method, target, names, values), and views
  // into it are taken while the head is still arriving: reserve it whole, once.
  req.arena.reserve(static_cast<size_t>(limits_.maxHeaderBytes) + 64);
  parser_ = std::make_unique<Parser>(req, limits_.maxHeaders);
  parser_->header_limit(
      static_cast<std::uint32_t>(std::min<uint64_t>(limits_.maxHeaderBytes, UINT32_MAX)));
  parser_->body_limit(limits_.maxBodyBytes);
  parser_->eager(false);

  idle_ = buf_.empty();
  if (idle_) {
    deadline_.expiresAfter(limits_.idleTimeout);
  } else {
    deadline_.expiresAfter(limits_.headerTimeout);
  }
  for (;;) {
    if (!buf_.empty()) {
      error_code ec;
      size_t n = parser_->put(net::buffer(buf_.view().data(), buf_.size()), ec);
      buf_.consume(n);
      req.wireBytes += n;
      if (!ec && parser_->is_header_done()) {
        co_return ReadResult{};
      }
      if (ec && ec != bhttp::error::need_more) {
        co_return classify(ec, parser_->tooManyFields());
      }
      if (buf_.size() > limits_.maxHeaderBytes) {
        co_return ReadResult{ReadStatus::HeadTooLarge, "request head too large"};
      }
    }
    error_code ec;
    size_t n = co_await stream_.readSome(buf_.prepare(4096), ec);
    if (ec) {
      bool nothing = buf_.empty() && req.wireBytes == 0;
      if (deadline_.expired()) {
        co_return ReadResult{nothing ? ReadStatus::Closed : ReadStatus::Timeout,
                             "request head not received in time"};
      }
      co_return ReadResult{nothing ? ReadStatus::Closed : ReadStatus::IoError, ec.message()};
    }
    buf_.commit(n);
    if (idle_) {
      idle_ = false;
      deadline_.expiresAfter(limits_.headerTimeout);
    }
  }
}

Task<ReadResult> RequestReader::readBody(Request& req) {
  if (parser_->is_done()) {
    co_return ReadResult{};
  }
  deadline_.expiresAfter(limits_.bodyTimeout);
  if (req.expectContinue && buf_.empty()) {
    static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
    error_code ec;
    co_await stream_.write(net::buffer(kContinue.data(), kContinue.size()), ec);
    if (ec) {
      co_return ReadResult{ReadStatus::IoError, ec.message()};
    }
  }
  parser_->eager(true);
  for (;;) {
    if (!buf_.empty()) {
      error_code ec;
      size_t n = parser_->put(net::buffer(buf_.view().data(), buf_.size()), ec);
      buf_.consume(n);
      req.wireBytes += n;
      if (ec && ec != bhttp::error::need_more) {
        co_return classify(ec, false);
      }
      if (parser_->is_done()) {
        co_return ReadResult{};
      }
    }
    error_code ec;
    size_t n = co_await stream_.readSome(buf_.prepare(4096), ec);
    if (ec) {
      if (deadline_.expired()) {
        co_return ReadResult{ReadStatus::Timeout, "request body not received in time"};
      }
      co_return ReadResult{ReadStatus::IoError, ec.message()};
    }
    buf_.commit(n);
  }
}

}  // namespace tg::http
