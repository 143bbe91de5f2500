#pragma once
// Small helpers over simdjson's DOM API for the usage module: typed field lookups that report
// absence and type mismatch alike as `false`, so extraction code reads as a list of paths.
// Internal to src/usage (includes simdjson.h).

#include <simdjson.h>

#include <string_view>

namespace tg::usage::json {

using simdjson::dom::array;
using simdjson::dom::element;
using simdjson::dom::object;

inline bool field(object o, std::string_view key, element& out) {
  return o.at_key(key).get(out) == simdjson::SUCCESS;
}
inline bool objectField(object o, std::string_view key, object& out) {
  return o.at_key(key).get_object().get(out) == simdjson::SUCCESS;
}
inline bool arrayField(object o, std::string_view key, array& out) {
  return o.at_key(key).get_array().get(out) == simdjson::SUCCESS;
}
inline bool stringField(object o, std::string_view key, std::string_view& out) {
  return o.at_key(key).get_string().get(out) == simdjson::SUCCESS;
}
inline bool boolField(object o, std::string_view key, bool& out) {
  return o.at_key(key).get_bool().get(out) == simdjson::SUCCESS;
}

}  // namespace tg::usage::json
