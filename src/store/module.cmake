# store: the Store seam, the embedded MemoryStore, quotas over any Store, and the backends'
# stats (no Asio, no sockets). Included from src/CMakeLists.txt; paths are relative to this file
# so any includer works.
tg_add_module(store
  SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/algorithm.cc
    ${CMAKE_CURRENT_LIST_DIR}/bucket_table.cc
    ${CMAKE_CURRENT_LIST_DIR}/key_hash.cc
    ${CMAKE_CURRENT_LIST_DIR}/leased_store.cc
    ${CMAKE_CURRENT_LIST_DIR}/memory_store.cc
    ${CMAKE_CURRENT_LIST_DIR}/quota.cc
    ${CMAKE_CURRENT_LIST_DIR}/stats.cc
  DEPS core metrics
  LIBS Threads::Threads)
