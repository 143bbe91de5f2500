#pragma once
// Parsing of the human units used in config files: durations ("250ms", "10s", "5m", "1h",
// "1d"; a bare number is seconds) and sizes ("512", "64KiB", "8MiB", "1GiB", also KB/MB/GB as
// powers of 1000; a bare number is bytes). Both reject negatives, overflow and junk.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>

namespace tg::core {

std::optional<std::chrono::milliseconds> parseDuration(std::string_view s);
std::optional<uint64_t> parseSize(std::string_view s);

}  // namespace tg::core
