#include "redis/cluster.h"

#include <array>
#include <charconv>

namespace tg::redis {

namespace {

constexpr std::array<uint16_t, 256> makeCrcTable() {
  std::array<uint16_t, 256> t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint16_t crc = static_cast<uint16_t>(i << 8);
    for (int b = 0; b < 8; ++b) {
      crc = (crc & 0x8000) ? static_cast<uint16_t>((crc << 1) ^ 0x1021)
                           : static_cast<uint16_t>(crc << 1);
    }
    t[i] = crc;
  }
  return t;
}

constexpr std::array<uint16_t, 256> kCrcTable = makeCrcTable();

bool parseU64(std::string_view s, uint64_t& out) {
  if (s.empty()) {
    return false;
  }
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

}  // namespace

uint16_t crc16(std::string_view data) {
  uint16_t crc = 0;
  for (unsigned char c : data) {
    crc = static_cast<uint16_t>((crc << 8) ^ kCrcTable[((crc >> 8) ^ c) & 0xff]);
  }
  return crc;
}

// Redis's keyHashSlot: when the key has a '{' followed later by a '}' with at least one byte
// between them, only the bytes between the first '{' and the first '}' after it are hashed.
uint16_t slotOf(std::string_view key) {
  size_t open = key.find('{');
  if (open != std::string_view::npos) {
    size_t close = key.find('}', open + 1);
    if (close != std::string_view::npos && close > open + 1) {
      key = key.substr(open + 1, close - open - 1);
    }
  }
  return crc16(key) & (kSlotCount - 1);
}

std::optional<Redirect> parseRedirect(std::string_view error) {
  Redirect r;
  if (error.starts_with("MOVED ")) {
    error.remove_prefix(6);
  } else if (error.starts_with("ASK ")) {
    r.ask = true;
    error.remove_prefix(4);
  } else {
    return std::nullopt;
  }
  size_t space = error.find(' ');
  uint64_t slot = 0;
  if (space == std::string_view::npos || !parseU64(error.substr(0, space), slot) ||
      slot >= kSlotCount) {
    return std::nullopt;
  }
  std::string_view addr = error.substr(space + 1);
  size_t colon = addr.rfind(':');  // the last one: an IPv6 host has colons too
  uint64_t port = 0;
  if (colon == std::string_view::npos || !parseU64(addr.substr(colon + 1), port) || port == 0 ||
      port > 65535) {
    return std::nullopt;
  }
  r.slot = static_cast<uint16_t>(slot);
  r.to.host = std::string(addr.substr(0, colon));
  r.to.port = static_cast<uint16_t>(port);
  return r;
}

std::optional<std::vector<SlotRange>> parseClusterSlots(const Reply& reply,
                                                        std::string_view askedHost) {
  if (reply.type != Reply::Type::Array) {
    return std::nullopt;
  }
  std::vector<SlotRange> out;
  for (const Reply& range : reply.elements) {
    if (range.type != Reply::Type::Array || range.elements.size() < 3) {
      return std::nullopt;
    }
    const Reply& first = range.elements[0];
    const Reply& last = range.elements[1];
    const Reply& node = range.elements[2];
    if (first.type != Reply::Type::Integer || last.type != Reply::Type::Integer ||
        first.integer < 0 || last.integer >= kSlotCount || first.integer > last.integer ||
        node.type != Reply::Type::Array || node.elements.size() < 2 ||
        node.elements[0].type != Reply::Type::String ||
        node.elements[1].type != Reply::Type::Integer || node.elements[1].integer <= 0 ||
        node.elements[1].integer > 65535) {
      return std::nullopt;
    }
    const std::string& host = node.elements[0].str;
    if (host == "?") {
      continue;
    }
    SlotRange r;
    r.first = static_cast<uint16_t>(first.integer);
    r.last = static_cast<uint16_t>(last.integer);
    r.master.host = host.empty() ? std::string(askedHost) : host;
    r.master.port = static_cast<uint16_t>(node.elements[1].integer);
    out.push_back(std::move(r));
  }
  return out;
}

std::string endpointKey(const Endpoint& e) {
  std::string k = e.host;
  k += ':';
  k += std::to_string(e.port);
  return k;
}

}  // namespace tg::redis
