// injectIncludeUsage and clampMaxOutputTokens: byte-level edits of a validated JSON body.
// simdjson decides what to do (is there a stream_options? what is include_usage? which output
// caps are set, to what?); a small scanner finds where, so the rest of the body stays
// byte-identical (no re-serialisation, key order and spacing kept).

#include <algorithm>
#include <cstring>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

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

namespace {

// Member `key` of object `o` (its raw text at s[open] == '{'), as the scanner and simdjson
// both see it. False when they disagree (an escaped or duplicated key: do not guess).
bool memberOf(std::string_view s, size_t open, object o, std::string_view key, Member& m,
              element& v, bool& present) {
  size_t lastEnd = 0;
  m = findMember(s, open, key, lastEnd);
  present = json::field(o, key, v);
  return present == (m.matches == 1) && m.matches <= 1;
}

struct Edit {
  size_t begin, end;  // bytes replaced (begin == end: an insertion)
  std::string text;
};

// The caps of `o` (its raw text at s[open] == '{') named in `keys`: each present one whose
// value is an integer above `cap` (or negative: Ollama's "unlimited") is replaced by cap.
// `found` is set when any of them is present. False when the scanner and simdjson disagree
// (escaped or duplicate keys).
bool lowerCaps(std::string_view s, size_t open, object o,
               std::initializer_list<std::string_view> keys, uint64_t cap, std::vector<Edit>& edits,
               bool& found) {
  for (std::string_view key : keys) {
    Member m;
    element v;
    bool present = false;
    if (!memberOf(s, open, o, key, m, v, present)) {
      return false;
    }
    if (!present) {
      continue;
    }
    found = true;
    int64_t i = 0;
    uint64_t u = 0;
    const bool over =
        (v.get_uint64().get(u) == SUCCESS && u > cap) || (v.get_int64().get(i) == SUCCESS && i < 0);
    if (over) {
      edits.push_back({m.valueBegin, m.valueEnd, std::to_string(cap)});
    }
  }
  return true;
}

// The caps inside the first object member of the root named in `objects` (Gemini
// generationConfig, Ollama options). `at` is set to that object's '{' (0: none).
bool nestedCaps(std::string_view s, size_t rootOpen, object doc,
                std::initializer_list<std::string_view> objects,
                std::initializer_list<std::string_view> keys, uint64_t cap,
                std::vector<Edit>& edits, bool& found, size_t& at, size_t& members) {
  at = 0;
  for (std::string_view name : objects) {
    Member m;
    element v;
    bool present = false;
    if (!memberOf(s, rootOpen, doc, name, m, v, present)) {
      return false;
    }
    object inner;
    if (!present || v.get_object().get(inner) != SUCCESS) {
      continue;
    }
    at = m.valueBegin;
    members = inner.size();
    return lowerCaps(s, m.valueBegin, inner, keys, cap, edits, found);
  }
  return true;
}

// Adds `"key":cap` to the object at s[open] (with `members` members) as its first member, or,
// when open == 0, `"object":{"key":cap}` as the root's last member.
void addCap(std::string_view s, size_t rootOpen, size_t rootMembers, size_t open, size_t members,
            std::string_view object, std::string_view key, uint64_t cap, std::vector<Edit>& edits) {
  std::string member = "\"" + std::string(key) + "\":" + std::to_string(cap);
  if (open != 0) {
    edits.push_back({open + 1, open + 1, members > 0 ? member + "," : member});
    return;
  }
  size_t lastEnd = 0;
  findMember(s, rootOpen, "", lastEnd);
  std::string text = rootMembers > 0 ? "," : "";
  text += object.empty() ? member : "\"" + std::string(object) + "\":{" + member + "}";
  edits.push_back({lastEnd, lastEnd, text});
}

}  // namespace

bool clampMaxOutputTokens(std::string& body, Dialect dialect, uint64_t cap) {
  thread_local simdjson::dom::parser parser;
  element root;
  object doc;
  if (parser.parse(body.data(), body.size(), true).get(root) != SUCCESS ||
      root.get_object().get(doc) != SUCCESS) {
    return false;
  }
  const std::string_view s = body;
  const size_t open = skipWs(s, 0);
  if (open >= s.size() || s[open] != '{') {
    return false;
  }
  if (dialect == Dialect::Unknown || dialect == Dialect::OpenAIEmbeddings) {
    return false;  // no output to cap
  }
  // Every cap the inspector reads is lowered, whatever the dialect (it reads them all).
  std::vector<Edit> edits;
  bool found = false;
  size_t gen = 0, genMembers = 0, opts = 0, optsMembers = 0;
  if (!lowerCaps(s, open, doc, {"max_tokens", "max_completion_tokens", "max_output_tokens"}, cap,
                 edits, found) ||
      !nestedCaps(s, open, doc, {"generationConfig", "generation_config"},
                  {"maxOutputTokens", "max_output_tokens"}, cap, edits, found, gen, genMembers) ||
      !nestedCaps(s, open, doc, {"options"}, {"num_predict"}, cap, edits, found, opts,
                  optsMembers)) {
    return false;
  }
  if (!found) {  // none set: the dialect's own
    const size_t members = doc.size();
    switch (dialect) {
      case Dialect::GeminiGenerate:
      case Dialect::GeminiStream:
      case Dialect::GeminiStreamSse:
        addCap(s, open, members, gen, genMembers, "generationConfig", "maxOutputTokens", cap,
               edits);
        break;
      case Dialect::OllamaChat:
      case Dialect::OllamaGenerate:
        addCap(s, open, members, opts, optsMembers, "options", "num_predict", cap, edits);
        break;
      case Dialect::OpenAIChat:
        addCap(s, open, members, 0, 0, "", "max_completion_tokens", cap, edits);
        break;
      case Dialect::OpenAIResponses:
        addCap(s, open, members, 0, 0, "", "max_output_tokens", cap, edits);
        break;
      default:
        addCap(s, open, members, 0, 0, "", "max_tokens", cap, edits);
        break;
    }
  }
  if (edits.empty()) {
    return false;
  }
  std::sort(edits.begin(), edits.end(),
            [](const Edit& a, const Edit& b) { return a.begin > b.begin; });
  for (const Edit& e : edits) {
    body.replace(e.begin, e.end - e.begin, e.text);
  }
  return true;
}

}  // namespace tg::usage
