#pragma once
// The BPE encodings the tokenizer module implements exactly, and their file names.

#include <string_view>

namespace tg::tokenizer {

enum class Encoding {
  O200kBase,   // gpt-4o, gpt-4.1, gpt-4.5, gpt-5, o1, o3, o4-mini
  Cl100kBase,  // gpt-4, gpt-3.5-turbo, text-embedding-ada-002, text-embedding-3-*
};

// "o200k_base" / "cl100k_base", tiktoken's names.
std::string_view encodingName(Encoding encoding);
// The rank file's name inside the data dir: "o200k_base.tiktoken" / "cl100k_base.tiktoken".
std::string_view rankFileName(Encoding encoding);

}  // namespace tg::tokenizer
