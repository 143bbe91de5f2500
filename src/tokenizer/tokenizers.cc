// Tokenizers (both encodings) and the data-dir lookup.

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <system_error>

#include "tokenizer/tokenizer.h"

namespace tg::tokenizer {
namespace {

namespace fs = std::filesystem;

bool hasRankFiles(const fs::path& dir) {
  std::error_code ec;
  return fs::is_regular_file(dir / rankFileName(Encoding::O200kBase), ec);
}

}  // namespace

core::Result<std::string> findDataDir(std::string_view explicitDir) {
  if (!explicitDir.empty()) {
    return std::string(explicitDir);
  }
  if (const char* env = std::getenv("TOKENGATE_DATA_DIR"); env != nullptr && *env != '\0') {
    return std::string(env);
  }
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (ec) {
    return core::Error{"cannot find the tokenizer data dir: /proc/self/exe: " + ec.message() +
                       " (set TOKENGATE_DATA_DIR)"};
  }
  const fs::path exeDir = exe.parent_path();
  const fs::path candidates[] = {exeDir / "data", exeDir / ".." / "share" / "tokengate"};
  for (const fs::path& dir : candidates) {
    if (hasRankFiles(dir)) {
      return dir.lexically_normal().string();
    }
  }
  return core::Error{"cannot find the tokenizer data dir (looked in " + candidates[0].string() +
                     " and " + candidates[1].lexically_normal().string() +
                     "); set TOKENGATE_DATA_DIR or run scripts/fetch-tokenizer-data.sh"};
}

core::Result<std::unique_ptr<Tokenizers>> Tokenizers::load(std::string_view dataDir) {
  auto dir = findDataDir(dataDir);
  if (!dir) {
    return core::Error{dir.error()};
  }
  const fs::path base(*dir);
  auto o200k = Bpe::load(Encoding::O200kBase, (base / rankFileName(Encoding::O200kBase)).string());
  if (!o200k) {
    return core::Error{o200k.error()};
  }
  auto cl100k =
      Bpe::load(Encoding::Cl100kBase, (base / rankFileName(Encoding::Cl100kBase)).string());
  if (!cl100k) {
    return core::Error{cl100k.error()};
  }
  return std::make_unique<Tokenizers>(std::move(o200k).value(), std::move(cl100k).value());
}

const Bpe* Tokenizers::forModel(std::string_view model) const {
  const auto encoding = encodingForModel(model);
  return encoding ? &get(*encoding) : nullptr;
}

uint64_t Tokenizers::count(std::string_view model, std::string_view text) const {
  const Bpe* bpe = forModel(model);
  return bpe != nullptr ? bpe->count(text) : estimateTokens(text);
}

}  // namespace tg::tokenizer
