# Sources of the usage module (tg_usage, src/CMakeLists.txt): pure, incremental, no I/O.
set(TG_USAGE_SOURCES
  usage/dialect.cc
  usage/request.cc
  usage/inject.cc
  usage/sse.cc
  usage/json_pruner.cc
  usage/answer_text.cc
  usage/extract.cc
  usage/response_tracker.cc
  usage/stream_cut.cc
)
