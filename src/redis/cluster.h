#pragma once
// Redis Cluster's pure parts: the key -> slot function (slotOf, declared in client.h), the
// parsing of MOVED / ASK error replies and of CLUSTER SLOTS. No I/O; unit-tested on their own.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "redis/client.h"

namespace tg::redis {

inline constexpr uint16_t kSlotCount = 16384;

// CRC16-CCITT (XMODEM: polynomial 0x1021, initial value 0), as in Redis's crc16.c.
uint16_t crc16(std::string_view data);

// "MOVED <slot> <host>:<port>" or "ASK <slot> <host>:<port>". An empty host (a node that
// does not know its own address) is returned empty: the caller substitutes the host of the
// node that answered.
struct Redirect {
  bool ask = false;
  uint16_t slot = 0;
  Endpoint to;
};
std::optional<Redirect> parseRedirect(std::string_view error);

// One contiguous slot range and the master that serves it.
struct SlotRange {
  uint16_t first = 0;
  uint16_t last = 0;
  Endpoint master;
};
// The reply of CLUSTER SLOTS: [[first, last, [host, port, id, ...], replicas...], ...].
// An empty host means "the node you asked" (`askedHost` is used); a range whose master's
// address is unknown ("?") is left out. nullopt when the reply does not have this shape.
std::optional<std::vector<SlotRange>> parseClusterSlots(const Reply& reply,
                                                        std::string_view askedHost);

// "host:port" (the key of a node in the client's node table).
std::string endpointKey(const Endpoint& e);

}  // namespace tg::redis
