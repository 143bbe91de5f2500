// injectIncludeUsage: a byte-level edit of a validated JSON body. simdjson decides what to do
// (is there a stream_options? what is include_usage?); a small scanner finds where, so the rest
// of the body stays byte-identical (no re-serialisation, key order and spacing kept).

#include <cstring>
#include <string>
#include <string_view>

#include "usage/json_util.h"
#include "usage/request.h"

namespace tg::usage {
namespace {

using simdjson::SUCCESS;
using simdjson::dom::element;
using simdjson::dom::object;

size_t skipWs(std::string_view s, size_t i) {
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) {
    ++i;
  }
  return i;
}

// s[i] is '"': returns the index after the closing quote. Jumps from quote to quote with
// memchr (most of a chat body is message text); a quote preceded by an odd run of backslashes
// is escaped. A run never reaches back before `i`: the byte before `i` is always a quote.
size_t skipString(std::string_view s, size_t i) {
  const char* b = s.data();
  const size_t n = s.size();
  for (++i; i < n;) {
    const void* q = std::memchr(b + i, '"', n - i);
    if (q == nullptr) {
      return n;
    }
    const size_t j = static_cast<size_t>(static_cast<const char*>(q) - b);
    size_t k = j;
    while (k > i && b[k - 1] == '\\') {
      --k;
    }
    if (((j - k) & 1) == 0) {
      return j + 1;
    }
    i = j + 1;
  }
  return n;
}

// s[i] starts a value: returns the index after it.
size_t skipValue(std::string_view s, size_t i) {
  if (i >= s.size()) {
    return s.size();
  }
  if (s[i] == '"') {
    return skipString(s, i);
  }
  if (s[i] == '{' || s[i] == '[') {
    size_t depth = 0;
    while (i < s.size()) {
      char c = s[i];
      if (c == '"') {
        i = skipString(s, i);
        continue;
      }
      if (c == '{' || c == '[') {
        ++depth;
      } else if (c == '}' || c == ']') {
        if (--depth == 0) {
          return i + 1;
        }
      }
      ++i;
    }
    return s.size();
  }
  while (i < s.size() && s[i] != ',' && s[i] != '}' && s[i] != ']' && s[i] != ' ' && s[i] != '\t' &&
         s[i] != '\n' && s[i] != '\r') {
    ++i;
  }
  return i;
}

struct Member {
  size_t valueBegin = 0;
  size_t valueEnd = 0;
  int matches = 0;  // members whose raw key equals the wanted key
};

// Scans the object starting at s[open] == '{' for the raw key `key`. Also returns the end of
// the last member's value (or open + 1 when the object is empty) in `lastEnd`.
Member findMember(std::string_view s, size_t open, std::string_view key, size_t& lastEnd) {
  Member m;
  lastEnd = open + 1;
  size_t i = skipWs(s, open + 1);
  while (i < s.size() && s[i] == '"') {
    size_t keyEnd = skipString(s, i);
    std::string_view raw = s.substr(i + 1, keyEnd - i - 2);
    i = skipWs(s, keyEnd);
    if (i >= s.size() || s[i] != ':') {
      break;
    }
    i = skipWs(s, i + 1);
    size_t end = skipValue(s, i);
    if (raw == key) {
      ++m.matches;
      m.valueBegin = i;
      m.valueEnd = end;
    }
    lastEnd = end;
    i = skipWs(s, end);
    if (i < s.size() && s[i] == ',') {
      i = skipWs(s, i + 1);
    } else {
      break;
    }
  }
  return m;
}

}  // namespace

bool injectIncludeUsage(std::string& body) {
  thread_local simdjson::dom::parser parser;
  element root;
  object doc;
  if (parser.parse(body.data(), body.size(), true).get(root) != SUCCESS ||
      root.get_object().get(doc) != SUCCESS) {
    return false;
  }
  std::string_view s = body;
  size_t open = skipWs(s, 0);
  if (open >= s.size() || s[open] != '{') {
    return false;
  }
  size_t lastEnd = 0;
  Member options = findMember(s, open, "stream_options", lastEnd);
  element value;
  bool present = json::field(doc, "stream_options", value);
  if (present != (options.matches == 1) || options.matches > 1) {
    return false;  // an escaped or duplicated key: do not guess
  }
  constexpr std::string_view kObject = R"({"include_usage":true})";
  if (!present) {
    std::string insert = doc.size() > 0 ? "," : "";
    insert += R"("stream_options":)";
    insert += kObject;
    body.insert(lastEnd, insert);
    return true;
  }
  if (value.is_null()) {
    body.replace(options.valueBegin, options.valueEnd - options.valueBegin, kObject);
    return true;
  }
  object opts;
  if (value.get_object().get(opts) != SUCCESS) {
    return false;
  }
  size_t innerEnd = 0;
  Member include = findMember(s, options.valueBegin, "include_usage", innerEnd);
  element flag;
  bool has = json::field(opts, "include_usage", flag);
  if (has != (include.matches == 1) || include.matches > 1) {
    return false;
  }
  if (!has) {
    std::string insert = R"("include_usage":true)";
    if (opts.size() > 0) {
      insert += ",";
    }
    body.insert(options.valueBegin + 1, insert);
    return true;
  }
  bool current = false;
  if (flag.get_bool().get(current) == SUCCESS && current) {
    return false;
  }
  body.replace(include.valueBegin, include.valueEnd - include.valueBegin, "true");
  return true;
}

}  // namespace tg::usage
