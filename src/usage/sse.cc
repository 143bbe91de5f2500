#include "usage/sse.h"

#include <cstring>

namespace tg::usage {
namespace {

constexpr unsigned char kBom[3] = {0xEF, 0xBB, 0xBF};

}  // namespace

SseFramer::SseFramer(size_t maxEventBytes) : maxEventBytes_(maxEventBytes) {}

void SseFramer::resetAfterDispatch() {
  data_.clear();
  type_.clear();
  dataTruncated_ = false;
  dataLines_ = 0;
  viewActive_ = false;
  resetPending_ = false;
}

SseFramer::Step SseFramer::advance(std::string_view in) {
  if (resetPending_) {
    resetAfterDispatch();
  }
  size_t pos = 0;
  const size_t n = in.size();
  if (skipLf_ && n > 0) {
    skipLf_ = false;
    bool block = skipLfIsBlock_;
    skipLfIsBlock_ = false;
    if (in[0] == '\n') {
      if (block) {
        return {1, StepKind::LfAfterBlock, false};
      }
      pos = 1;
    }
  }
  // A BOM only counts at offset 0 of the stream; a partial match that fails is line content.
  while (!bomDone_ && pos < n) {
    if (static_cast<unsigned char>(in[pos]) == kBom[bomMatched_]) {
      ++pos;
      if (++bomMatched_ == 3) {
        bomDone_ = true;
      }
    } else {
      line_.append(reinterpret_cast<const char*>(kBom), bomMatched_);
      bomDone_ = true;
    }
  }
  while (pos < n) {
    const char* p = in.data() + pos;
    size_t rest = n - pos;
    const char* lf = static_cast<const char*>(std::memchr(p, '\n', rest));
    size_t scan = lf != nullptr ? static_cast<size_t>(lf - p) : rest;
    const char* cr = static_cast<const char*>(std::memchr(p, '\r', scan));
    size_t eol;
    bool isCr = false;
    if (cr != nullptr) {
      eol = static_cast<size_t>(cr - p);
      isCr = true;
    } else if (lf != nullptr) {
      eol = scan;
    } else {
      // Unfinished line: keep it (up to the cap) for the next input.
      size_t room = maxEventBytes_ + 16 > line_.size() ? maxEventBytes_ + 16 - line_.size() : 0;
      if (rest > room) {
        lineTruncated_ = true;
      }
      line_.append(p, rest < room ? rest : room);
      keepView();
      return {n, StepKind::NeedMore, false};
    }
    // A line is cut at the same length whether it arrived whole or in pieces.
    const size_t maxLine = maxEventBytes_ + 16;
    std::string_view line;
    bool truncated = lineTruncated_;
    const bool inInput = line_.empty() && !lineTruncated_;
    if (inInput) {
      line = std::string_view(p, eol);
      if (line.size() > maxLine) {
        line = line.substr(0, maxLine);
        truncated = true;
      }
    } else {
      size_t room = maxLine > line_.size() ? maxLine - line_.size() : 0;
      if (eol > room) {
        truncated = true;
      }
      line_.append(p, eol < room ? eol : room);
      line = line_;
    }
    pos += eol + 1;
    if (isCr) {
      if (pos < n) {
        if (in[pos] == '\n') {
          ++pos;
        }
      } else {
        skipLf_ = true;
      }
    }
    bool blank = line.empty() && !truncated;
    if (blank) {
      bool fired = dispatch();
      if (skipLf_) {
        skipLfIsBlock_ = true;
      }
      return {pos, StepKind::BlockEnd, fired};
    }
    processLine(line, truncated, inInput);
    line_.clear();
    lineTruncated_ = false;
  }
  keepView();
  return {pos, StepKind::NeedMore, false};
}

// The input is about to go: a data line still viewed in it is copied.
void SseFramer::keepView() {
  if (viewActive_) {
    viewActive_ = false;
    data_.append(view_);
    data_.push_back('\n');
  }
}

void SseFramer::appendData(std::string_view value, bool truncated, bool inInput) {
  if (zeroCopy_ && inInput && !truncated && dataLines_ == 0 && data_.empty() &&
      value.size() + 1 <= maxEventBytes_) {
    view_ = value;  // the first data line: viewed until a second one or the input's end
    viewActive_ = true;
    dataLines_ = 1;
    return;
  }
  keepView();
  if (dataLines_ != UINT32_MAX) {
    ++dataLines_;
  }
  size_t room = maxEventBytes_ > data_.size() ? maxEventBytes_ - data_.size() : 0;
  if (value.size() + 1 > room || truncated) {
    dataTruncated_ = true;
  }
  if (value.size() + 1 <= room) {
    data_.append(value);
    data_.push_back('\n');
  } else {
    data_.append(value.substr(0, room));
  }
}

void SseFramer::processLine(std::string_view line, bool truncated, bool inInput) {
  if (line.empty() || line.front() == ':') {
    return;  // comment
  }
  std::string_view field = line;
  std::string_view value;
  size_t colon = line.find(':');
  if (colon != std::string_view::npos) {
    field = line.substr(0, colon);
    value = line.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') {
      value.remove_prefix(1);
    }
  }
  if (field == "data") {
    appendData(value, truncated, inInput);
  } else if (field == "event") {
    type_.assign(value);
  } else if (field == "id") {
    if (value.find('\0') == std::string_view::npos) {
      lastId_.assign(value);
    }
  } else if (field == "retry") {
    uint64_t ms = 0;
    bool digits = !value.empty();
    for (char c : value) {
      if (c < '0' || c > '9' || ms > (UINT64_MAX - 9) / 10) {
        digits = false;
        break;
      }
      ms = ms * 10 + static_cast<uint64_t>(c - '0');
    }
    if (digits) {
      retryMs_ = ms;
    }
  }
}

bool SseFramer::dispatch() {
  if (viewActive_) {
    event_.type = type_.empty() ? std::string_view("message") : std::string_view(type_);
    event_.data = view_;
    event_.lastEventId = lastId_;
    event_.truncated = false;
    event_.dataLines = 1;
    event_.padded = false;
    resetPending_ = true;
    ++dispatchedCount_;
    return true;
  }
  if (data_.empty()) {
    type_.clear();
    dataTruncated_ = false;
    dataLines_ = 0;
    return false;
  }
  if (data_.back() == '\n') {
    data_.pop_back();
  }
  if (data_.capacity() < data_.size() + kPadding) {
    data_.reserve(data_.size() + kPadding);
  }
  event_.type = type_.empty() ? std::string_view("message") : std::string_view(type_);
  event_.data = data_;
  event_.lastEventId = lastId_;
  event_.truncated = dataTruncated_;
  event_.dataLines = dataLines_;
  event_.padded = true;
  resetPending_ = true;
  ++dispatchedCount_;
  return true;
}

std::optional<SseEvent> SseFramer::pendingAtEof() {
  if (resetPending_) {
    resetAfterDispatch();
  }
  if (!line_.empty() || lineTruncated_) {
    std::string line = std::move(line_);
    line_.clear();
    processLine(line, lineTruncated_, false);
    lineTruncated_ = false;
  }
  if (data_.empty()) {
    return std::nullopt;
  }
  if (!dispatch()) {
    return std::nullopt;
  }
  --dispatchedCount_;  // not a real dispatch
  return event_;
}

}  // namespace tg::usage
