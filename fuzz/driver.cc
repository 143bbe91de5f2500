// A stand-in for libFuzzer's main(), so the fuzz targets build and run with g++ (and under
// ASan/UBSan) as ordinary CTest programs. It links with exactly one file that defines
// LLVMFuzzerTestOneInput and:
//   * runs the target once on every file named on the command line (a directory means every
//     regular file below it, in sorted order): the seed corpus and any saved crash inputs;
//   * with --random N, runs N pseudo-random inputs derived from --seed S only, so a run is
//     reproducible: a quarter are random bytes, the rest are stacked mutations (bit flips,
//     byte edits, inserted tokens, deleted/duplicated ranges, splices) of the built-in seeds
//     below and of the files given.
//
//   fuzz_config --random 20000 --seed 1 fuzz/corpus/config
//   fuzz_config --random 1 --skip 4711 --seed 1          # only the input that failed
//   fuzz_config crash-input.bin                          # replay a saved input
//
// When an input crashes the process (a signal, or an ASan/UBSan report), the input is written
// to ./fuzz-crash-<program>.bin and the command that reproduces it is printed. There is no
// coverage feedback: for guided fuzzing build with clang and -DTG_LIBFUZZER=ON instead.

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

// Small valid inputs of every parser under test; mutations of these reach deeper than
// random bytes do.
// clang-format off
const char* const kSeeds[] = {
    // HTTP responses (fuzz_response_parser skips the first byte: the split control byte).
    "\x11HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n"
    "{\"ok\":true}",
    "\x2aHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;x=y\r\n world\r\n"
    "0\r\nX-Trailer: 1\r\n\r\n",
    "\x40HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\nX-A: b\r\n\r\n",
    "\x90HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\nuntil close",
    // Config YAML.
    "listeners:\n  - address: 127.0.0.1:8080\nupstreams:\n  - name: up\n    url: "
    "https://api.example.com/v1/\n    headers:\n      set: {Authorization: \"Bearer "
    "${KEY:-x}\"}\nroutes:\n  - match: {host: \"*.example.com\", path_prefix: /v1/}\n    "
    "upstream: up\n    rewrite_prefix: \"\"\n    dialect: anthropic\n",
    "server: {workers: 2, drain_timeout: 250ms, trusted_proxies: 1}\nlimits: {max_body_bytes: "
    "8MiB, header_timeout: 10s}\nlisteners: [{address: \"[::1]:0\"}]\nupstreams: [{name: a, "
    "url: \"http://[::1]:9000\", pool: {max_idle: 0}}]\nroutes: [{upstream: a}]\n",
    // Environment references and units.
    "Bearer ${OPENAI_API_KEY:-sk-not-set} $${LITERAL} ${A}${B:-}",
    "250ms", "1.5KiB", " 10 s ", "8MiB", "5m", "1GiB",
};

// Fragments that are meaningful to at least one parser.
const char* const kTokens[] = {
    "\r\n", "\r\n\r\n", "\n", " ", ":", ": ", "HTTP/1.1 ", "HTTP/1.0 ", "200 OK", "100 Continue",
    "Content-Length: ", "Transfer-Encoding: chunked", "Connection: close", "0\r\n\r\n", ";ext",
    "ffffffffffffffff", "18446744073709551616", "-1", "0", ".", "..", "${", "$${", "}", ":-",
    "${A}", "${A:-", "ms", "s", "m", "h", "d", "KiB", "MiB", "GiB", "KB", "b", "- ", "  ", "[",
    "]", "{", "}", ",", "\"", "'", "&a ", "*a", "!!str ", "? ", "|\n", ">\n", "#", "~", "---\n",
    "...\n", "\t", "\x00", "\xff", "listeners:", "upstreams:", "routes:", "url: ", "http://",
    "https://", "[::1]:", "@", "?", "%",
};
// clang-format on

struct Rng {
  uint64_t s;
  uint64_t next() {  // splitmix64: tiny, fast and the same everywhere
    uint64_t z = (s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  size_t below(size_t n) { return n == 0 ? 0 : static_cast<size_t>(next() % n); }
};

std::string mutate(std::string s, Rng& rng, const std::vector<std::string>& bases, size_t maxLen) {
  size_t rounds = 1 + rng.below(6);
  for (size_t r = 0; r < rounds; ++r) {
    size_t pos = rng.below(s.size() + 1);
    switch (rng.below(8)) {
      case 0:  // flip a bit
        if (!s.empty()) {
          s[rng.below(s.size())] ^= static_cast<char>(1u << rng.below(8));
        }
        break;
      case 1:  // set a byte
        if (!s.empty()) {
          s[rng.below(s.size())] = static_cast<char>(rng.below(256));
        }
        break;
      case 2:  // insert random bytes
        s.insert(pos, std::string(1 + rng.below(4), static_cast<char>(rng.below(256))));
        break;
      case 3:
      case 4: {  // insert a token
        const char* t = kTokens[rng.below(std::size(kTokens))];
        s.insert(pos, t, std::max<size_t>(1, std::strlen(t)));  // "\x00" inserts one NUL
        break;
      }
      case 5:  // delete a range
        if (!s.empty()) {
          s.erase(rng.below(s.size()), 1 + rng.below(16));
        }
        break;
      case 6:  // duplicate a range
        if (!s.empty()) {
          size_t from = rng.below(s.size());
          std::string piece = s.substr(from, 1 + rng.below(32));
          s.insert(pos, piece);
        }
        break;
      case 7: {  // splice in part of another base
        const std::string& other = bases[rng.below(bases.size())];
        size_t from = rng.below(other.size() + 1);
        s.insert(pos, other.substr(from, rng.below(64)));
        break;
      }
    }
  }
  if (s.size() > maxLen) {
    s.resize(maxLen);
  }
  return s;
}

// What is running now, for the crash reporters. Plain globals: read from signal handlers.
const uint8_t* gData = nullptr;
size_t gSize = 0;
char gReproduce[512] = "";
char gCrashFile[256] = "fuzz-crash.bin";

void writeAll(int fd, const void* p, size_t n) {
  const char* c = static_cast<const char*>(p);
  while (n > 0) {
    ssize_t w = ::write(fd, c, n);
    if (w <= 0) {
      return;
    }
    c += w;
    n -= static_cast<size_t>(w);
  }
}

// Async-signal-safe: open/write/close only.
void dumpCurrentInput() {
  if (gData == nullptr) {
    return;
  }
  int fd = ::open(gCrashFile, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd >= 0) {
    writeAll(fd, gData, gSize);
    ::close(fd);
  }
  const char* msg = "\n== fuzz driver: the crashing input was saved to ";
  writeAll(2, msg, std::strlen(msg));
  writeAll(2, gCrashFile, std::strlen(gCrashFile));
  writeAll(2, "\n== reproduce with: ", 20);
  writeAll(2, gReproduce, std::strlen(gReproduce));
  writeAll(2, "\n", 1);
  gData = nullptr;
}

void onSignal(int sig) {
  dumpCurrentInput();
  ::signal(sig, SIG_DFL);
  ::raise(sig);
}

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_UNDEFINED__)
#define TG_HAVE_SANITIZER_CALLBACK 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(undefined_behavior_sanitizer)
#define TG_HAVE_SANITIZER_CALLBACK 1
#endif
#endif

#ifdef TG_HAVE_SANITIZER_CALLBACK
extern "C" void __sanitizer_set_death_callback(void (*callback)(void));
#endif

void installCrashReporters(const char* argv0) {
  std::string name = std::filesystem::path(argv0).filename().string();
  std::snprintf(gCrashFile, sizeof gCrashFile, "fuzz-crash-%s.bin", name.c_str());
  for (int sig : {SIGSEGV, SIGABRT, SIGBUS, SIGFPE, SIGILL}) {
    ::signal(sig, onSignal);
  }
#ifdef TG_HAVE_SANITIZER_CALLBACK
  __sanitizer_set_death_callback(dumpCurrentInput);
#endif
}

void runOne(const std::string& input) {
  gData = reinterpret_cast<const uint8_t*>(input.data());
  gSize = input.size();
  LLVMFuzzerTestOneInput(gData, gSize);
  gData = nullptr;
}

bool readFile(const std::filesystem::path& p, std::string& out) {
  std::ifstream in(p, std::ios::binary);
  if (!in) {
    return false;
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  out = ss.str();
  return true;
}

int usage(const char* argv0) {
  std::fprintf(stderr, "usage: %s [--random N] [--seed S] [--skip K] [--max-len L] [file|dir...]\n",
               argv0);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t runs = 0;
  uint64_t seed = 1;
  uint64_t skip = 0;
  size_t maxLen = 4096;
  std::vector<std::filesystem::path> paths;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    auto number = [&](uint64_t& out) {
      if (i + 1 >= argc) {
        return false;
      }
      char* end = nullptr;
      out = std::strtoull(argv[++i], &end, 10);
      return end != nullptr && *end == '\0';
    };
    uint64_t v = 0;
    if (a == "--random") {
      if (!number(runs)) {
        return usage(argv[0]);
      }
    } else if (a == "--seed") {
      if (!number(seed)) {
        return usage(argv[0]);
      }
    } else if (a == "--skip") {
      if (!number(skip)) {
        return usage(argv[0]);
      }
    } else if (a == "--max-len") {
      if (!number(v) || v == 0) {
        return usage(argv[0]);
      }
      maxLen = static_cast<size_t>(v);
    } else if (a.starts_with("--")) {
      return usage(argv[0]);
    } else {
      paths.emplace_back(argv[i]);
    }
  }
  installCrashReporters(argv[0]);
  std::string pathArgs;  // for the reproduce line: random inputs also mutate the files
  for (const auto& p : paths) {
    pathArgs += " " + p.string();
  }
  auto start = std::chrono::steady_clock::now();

  // Files first: the seed corpus and saved crashes, in a stable order.
  std::vector<std::filesystem::path> files;
  for (const auto& p : paths) {
    std::error_code ec;
    if (std::filesystem::is_directory(p, ec)) {
      for (const auto& e : std::filesystem::recursive_directory_iterator(p, ec)) {
        if (e.is_regular_file()) {
          files.push_back(e.path());
        }
      }
    } else if (std::filesystem::exists(p, ec)) {
      files.push_back(p);
    } else {
      std::fprintf(stderr, "%s: no such file or directory: %s\n", argv[0], p.c_str());
      return 2;
    }
  }
  std::sort(files.begin(), files.end());
  std::vector<std::string> bases(std::begin(kSeeds), std::end(kSeeds));
  for (const auto& f : files) {
    std::string data;
    if (!readFile(f, data)) {
      std::fprintf(stderr, "%s: cannot read %s\n", argv[0], f.c_str());
      return 2;
    }
    std::snprintf(gReproduce, sizeof gReproduce, "%s %s", argv[0], f.c_str());
    runOne(data);
    if (!data.empty()) {
      bases.push_back(std::move(data));
    }
  }

  // Then the pseudo-random inputs: input i depends only on the seed and i.
  Rng rng{seed};
  uint64_t executed = 0;
  for (uint64_t i = 0; i < skip + runs; ++i) {
    std::string input;
    if (rng.below(4) == 0) {
      size_t len = rng.below(std::min<size_t>(maxLen, 512) + 1);
      input.resize(len);
      for (char& c : input) {
        c = static_cast<char>(rng.below(256));
      }
    } else {
      input = mutate(bases[rng.below(bases.size())], rng, bases, maxLen);
    }
    if (i < skip) {
      continue;
    }
    std::snprintf(gReproduce, sizeof gReproduce, "%s --random 1 --skip %llu --seed %llu%s", argv[0],
                  static_cast<unsigned long long>(i), static_cast<unsigned long long>(seed),
                  pathArgs.c_str());
    runOne(input);
    ++executed;
  }

  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                  start)
                .count();
  std::printf("%s: %zu file(s), %llu random input(s) from seed %llu: ok in %lld ms\n", argv[0],
              files.size(), static_cast<unsigned long long>(executed),
              static_cast<unsigned long long>(seed), static_cast<long long>(ms));
  return 0;
}
