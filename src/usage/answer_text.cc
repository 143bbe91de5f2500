#include "usage/answer_text.h"

#include <cstring>

#include "core/strings.h"

namespace tg::usage {
namespace {

using Place = AnswerTextScanner::Place;
using Key = AnswerTextScanner::Key;

struct KeyName {
  std::string_view name;
  Key key;
};
constexpr KeyName kKeys[] = {
    {"choices", Key::Choices},
    {"message", Key::Message},
    {"content", Key::Content},
    {"text", Key::Text},
    {"refusal", Key::Refusal},
    {"reasoning_content", Key::ReasoningContent},
    {"reasoning", Key::Reasoning},
    {"tool_calls", Key::ToolCalls},
    {"function", Key::Function},
    {"function_call", Key::FunctionCall},
    {"arguments", Key::Arguments},
    {"output", Key::Output},
    {"summary", Key::Summary},
    {"thinking", Key::Thinking},
    {"input", Key::Input},
    {"candidates", Key::Candidates},
    {"parts", Key::Parts},
    {"functionCall", Key::GeminiFunctionCall},
    {"response", Key::Response},
};

Key lookupKey(std::string_view name) {
  for (const KeyName& k : kKeys) {
    if (k.name == name) {
      return k.key;
    }
  }
  return Key::None;
}

// The place of a container that is the value of member `key` of an object at `parent`.
Place childPlace(Place parent, Key key) {
  switch (parent) {
    case Place::Root:
      switch (key) {
        case Key::Choices:
          return Place::Choices;
        case Key::Output:
          return Place::Output;
        case Key::Content:
          return Place::Content;
        case Key::Candidates:
          return Place::Candidates;
        case Key::Message:
          return Place::Message;
        default:
          return Place::Other;
      }
    case Place::Choices:
      return key == Key::Message ? Place::ChoiceMessage : Place::Other;
    case Place::ChoiceMessage:
      if (key == Key::ToolCalls) {
        return Place::ChoiceToolCalls;
      }
      return key == Key::FunctionCall ? Place::ChoiceFunction : Place::Other;
    case Place::ChoiceToolCalls:
      return key == Key::Function ? Place::ChoiceFunction : Place::Other;
    case Place::Output:
      if (key == Key::Content) {
        return Place::OutputContent;
      }
      return key == Key::Summary ? Place::OutputSummary : Place::Other;
    case Place::Candidates:
      return key == Key::Content ? Place::CandidateContent : Place::Other;
    case Place::CandidateContent:
      return key == Key::Parts ? Place::CandidateParts : Place::Other;
    default:
      return Place::Other;
  }
}

// Is a string value of member `key` of an object at `place` answer text?
bool isText(Place place, Key key) {
  switch (place) {
    case Place::Root:
      return key == Key::Response || key == Key::Thinking;
    case Place::Choices:
      return key == Key::Text;
    case Place::ChoiceMessage:
      return key == Key::Content || key == Key::Refusal || key == Key::ReasoningContent ||
             key == Key::Reasoning;
    case Place::ChoiceFunction:
    case Place::Output:
      return key == Key::Arguments;
    case Place::OutputContent:
      return key == Key::Text || key == Key::Refusal;
    case Place::OutputSummary:
    case Place::CandidateParts:
      return key == Key::Text;
    case Place::Content:
      return key == Key::Text || key == Key::Thinking;
    case Place::Message:
      return key == Key::Content || key == Key::Thinking;
    default:
      return false;
  }
}

// Is an object/array value of member `key` of an object at `place` answer text (as JSON)?
bool isCapture(Place place, Key key) {
  return (place == Place::Content && key == Key::Input) ||
         (place == Place::CandidateParts && key == Key::GeminiFunctionCall) ||
         (place == Place::Message && key == Key::ToolCalls);
}

// The index of the first '"' or '\\' in in[i..], or in.size().
size_t findQuoteOrBackslash(std::string_view in, size_t i) {
  const char* p = in.data() + i;
  size_t rest = in.size() - i;
  const void* quote = std::memchr(p, '"', rest);
  size_t limit = quote != nullptr ? static_cast<size_t>(static_cast<const char*>(quote) - p) : rest;
  const void* backslash = std::memchr(p, '\\', limit);
  if (backslash != nullptr) {
    return i + static_cast<size_t>(static_cast<const char*>(backslash) - p);
  }
  return i + limit;
}

bool isBlank(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

}  // namespace

void AnswerTextScanner::feed(std::string_view in, std::string& out) {
  const size_t n = in.size();
  size_t i = 0;
  if (mode_ == Mode::Start) {
    while (i < n) {
      auto b = static_cast<unsigned char>(in[i]);
      if (isBlank(in[i]) || b == 0xEF || b == 0xBB || b == 0xBF) {  // blanks, a UTF-8 BOM
        ++i;
        continue;
      }
      mode_ = in[i] == '{' || in[i] == '[' ? Mode::Json : Mode::Raw;
      break;
    }
  }
  if (mode_ == Mode::Raw) {
    out.append(in.substr(i));
    return;
  }
  while (i < n) {
    if (str_ != Str::None) {
      i = str_ == Str::Collect ? collectBytes(in, i, out) : stringBytes(in, i, out);
      continue;
    }
    char c = in[i++];
    switch (c) {
      case ' ':
      case '\t':
      case '\n':
      case '\r':
        break;
      case '"':
        startString(out);
        break;
      case '{':
      case '[':
        openContainer(c, out);
        break;
      case '}':
      case ']':
        closeContainer(c, out);
        break;
      case ',':
        if (capturing_) {
          out.push_back(c);
        }
        valueKey_ = Key::None;
        expectKey_ = untracked_ == 0 && !stack_.empty() && !stack_.back().array;
        break;
      default:  // ':' and scalar bytes
        if (capturing_) {
          out.push_back(c);
        }
        break;
    }
  }
}

void AnswerTextScanner::openContainer(char c, std::string& out) {
  if (capturing_) {
    out.push_back(c);
  }
  if (untracked_ > 0 || stack_.size() >= kMaxTrackedDepth) {
    ++untracked_;
    expectKey_ = false;
    valueKey_ = Key::None;
    return;
  }
  Place place = Place::Root;
  if (!stack_.empty()) {
    const Frame& top = stack_.back();
    if (top.array) {
      place = top.place;  // arrays are transparent
    } else {
      place = childPlace(top.place, valueKey_);
      if (!capturing_ && isCapture(top.place, valueKey_)) {
        capturing_ = true;
        captureDepth_ = stack_.size();
        out.push_back(c);
      }
    }
  }
  stack_.push_back({place, c == '['});
  expectKey_ = c == '{';
  valueKey_ = Key::None;
}

void AnswerTextScanner::closeContainer(char c, std::string& out) {
  if (capturing_) {
    out.push_back(c);
  }
  expectKey_ = false;
  valueKey_ = Key::None;
  if (untracked_ > 0) {
    --untracked_;
    return;
  }
  if (stack_.empty()) {
    return;  // a stray closer
  }
  stack_.pop_back();
  if (capturing_ && stack_.size() == captureDepth_) {
    capturing_ = false;
  }
}

void AnswerTextScanner::startString(std::string& out) {
  escape_ = false;
  hexLeft_ = 0;
  highSurrogate_ = 0;
  if (capturing_) {
    out.push_back('"');
    str_ = Str::Capture;
    return;
  }
  if (untracked_ > 0 || stack_.empty() || stack_.back().array) {
    str_ = Str::Skip;
    return;
  }
  if (expectKey_) {
    str_ = Str::Key;
    keyLen_ = 0;
    expectKey_ = false;
    return;
  }
  str_ = isText(stack_.back().place, valueKey_) ? Str::Collect : Str::Skip;
  valueKey_ = Key::None;
}

size_t AnswerTextScanner::stringBytes(std::string_view in, size_t i, std::string& out) {
  const size_t n = in.size();
  const size_t start = i;
  while (i < n) {
    if (escape_) {
      escape_ = false;
      ++i;
      continue;
    }
    size_t end = findQuoteOrBackslash(in, i);
    i = end;
    if (i < n && in[i] == '\\') {
      escape_ = true;
      ++i;
      continue;
    }
    break;  // at the closing quote, or at the end of the input
  }
  if (str_ == Str::Capture) {
    out.append(in.data() + start, i - start);
  } else if (str_ == Str::Key) {
    size_t len = i - start;
    if (keyLen_ + len <= sizeof keyBuf_) {
      std::memcpy(keyBuf_ + keyLen_, in.data() + start, len);
      keyLen_ += len;
    } else {
      keyLen_ = sizeof keyBuf_ + 1;  // too long for any known name
    }
  }
  if (i < n) {  // the closing quote
    ++i;
    if (str_ == Str::Capture) {
      out.push_back('"');
    } else if (str_ == Str::Key) {
      endKey();
    }
    str_ = Str::None;
  }
  return i;
}

void AnswerTextScanner::endKey() {
  valueKey_ = keyLen_ <= sizeof keyBuf_ ? lookupKey(std::string_view(keyBuf_, keyLen_)) : Key::None;
}

size_t AnswerTextScanner::collectBytes(std::string_view in, size_t i, std::string& out) {
  const size_t n = in.size();
  while (i < n) {
    if (hexLeft_ > 0) {
      int d = core::hexDigitValue(in[i]);
      if (d < 0) {
        hexLeft_ = 0;  // not an escape after all: drop it, read this byte as text
        continue;
      }
      hex_ = hex_ * 16 + static_cast<uint32_t>(d);
      ++i;
      if (--hexLeft_ == 0) {
        uint32_t unit = hex_;
        if (unit >= 0xD800 && unit <= 0xDBFF) {
          flushHighSurrogate(out);
          highSurrogate_ = unit;
        } else if (unit >= 0xDC00 && unit <= 0xDFFF) {
          if (highSurrogate_ != 0) {
            emitCodePoint(0x10000 + ((highSurrogate_ - 0xD800) << 10) + (unit - 0xDC00), out);
            highSurrogate_ = 0;
          } else {
            emitCodePoint(0xFFFD, out);
          }
        } else {
          flushHighSurrogate(out);
          emitCodePoint(unit, out);
        }
      }
      continue;
    }
    if (escape_) {
      char c = in[i++];
      escape_ = false;
      if (c == 'u') {
        hexLeft_ = 4;
        hex_ = 0;
        continue;
      }
      flushHighSurrogate(out);
      switch (c) {
        case 'n':
          out.push_back('\n');
          break;
        case 't':
          out.push_back('\t');
          break;
        case 'r':
          out.push_back('\r');
          break;
        case 'b':
          out.push_back('\b');
          break;
        case 'f':
          out.push_back('\f');
          break;
        default:  // '"', '\\', '/', and anything a sloppy encoder escaped
          out.push_back(c);
          break;
      }
      continue;
    }
    size_t start = i;
    i = findQuoteOrBackslash(in, i);
    if (i > start) {
      flushHighSurrogate(out);
      out.append(in.data() + start, i - start);
    }
    if (i == n) {
      break;
    }
    if (in[i++] == '\\') {
      escape_ = true;
      continue;
    }
    flushHighSurrogate(out);  // the closing quote
    str_ = Str::None;
    return i;
  }
  return i;
}

void AnswerTextScanner::flushHighSurrogate(std::string& out) {
  if (highSurrogate_ != 0) {
    highSurrogate_ = 0;
    emitCodePoint(0xFFFD, out);
  }
}

void AnswerTextScanner::emitCodePoint(uint32_t cp, std::string& out) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

}  // namespace tg::usage
