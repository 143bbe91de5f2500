// encodingForModel(): tiktoken's model.py tables, as family prefixes.

#include <array>

#include "core/strings.h"
#include "tokenizer/tokenizer.h"

namespace tg::tokenizer {
namespace {

struct Family {
  std::string_view prefix;
  bool exactOnly;  // the name must equal `prefix` (no suffix allowed)
  Encoding encoding;
};

// Order matters only where one prefix extends another at a boundary ("gpt-4" is exact-only,
// so "gpt-4o" and "gpt-4.1" fall through to their own entries).
constexpr std::array kFamilies = {
    Family{"gpt-5", false, Encoding::O200kBase},
    Family{"gpt-4.1", false, Encoding::O200kBase},
    Family{"gpt-4.5", false, Encoding::O200kBase},
    Family{"gpt-4o", false, Encoding::O200kBase},
    Family{"chatgpt-4o", false, Encoding::O200kBase},
    Family{"o1", false, Encoding::O200kBase},
    Family{"o3", false, Encoding::O200kBase},
    Family{"o4-mini", false, Encoding::O200kBase},
    Family{"gpt-4", true, Encoding::Cl100kBase},
    Family{"gpt-4-", false, Encoding::Cl100kBase},
    Family{"gpt-3.5-turbo", false, Encoding::Cl100kBase},
    Family{"gpt-35-turbo", false, Encoding::Cl100kBase},
    Family{"text-embedding-ada-002", true, Encoding::Cl100kBase},
    Family{"text-embedding-3-", false, Encoding::Cl100kBase},
};

// A prefix match must end at a name boundary: end of name, or '-', '.', ':', '_' next
// (a prefix that itself ends in '-' is already at one).
bool matchesFamily(std::string_view name, const Family& f) {
  if (f.exactOnly) {
    return core::iequals(name, f.prefix);
  }
  if (!core::istartsWith(name, f.prefix)) {
    return false;
  }
  if (name.size() == f.prefix.size() || f.prefix.back() == '-') {
    return true;
  }
  const char next = name[f.prefix.size()];
  return next == '-' || next == '.' || next == ':' || next == '_';
}

}  // namespace

std::optional<Encoding> encodingForModel(std::string_view model) {
  // "ft:gpt-4o-mini-2024-07-18:org:name:id" -> "gpt-4o-mini-2024-07-18"
  if (core::istartsWith(model, "ft:")) {
    model.remove_prefix(3);
    model = model.substr(0, model.find(':'));
  }
  model = model.substr(0, model.find('@'));
  if (const size_t slash = model.rfind('/'); slash != std::string_view::npos) {
    model.remove_prefix(slash + 1);
  }
  model = core::trimOws(model);
  for (const Family& f : kFamilies) {
    if (matchesFamily(model, f)) {
      return f.encoding;
    }
  }
  return std::nullopt;
}

}  // namespace tg::tokenizer
