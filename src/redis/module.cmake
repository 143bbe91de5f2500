# redis: the Redis side of tokengate. An asynchronous client on Asio (hiredis's RESP reader as the
# parser; pipelined connections per worker thread; AUTH, SELECT, TLS; timeouts, reconnect with
# backoff, health; Redis Cluster slot routing with MOVED/ASK), the Lua scripts that run the
# store algorithms atomically (scripts.h: pure, no I/O), and RedisStore, the store::Store backed
# by them. Included from src/CMakeLists.txt; paths are relative to this file.
# Each source file is listed on its own line (several people add files here).
find_package(PkgConfig REQUIRED)
pkg_check_modules(HIREDIS REQUIRED IMPORTED_TARGET hiredis)
set(TG_REDIS_SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/client.cc
  ${CMAKE_CURRENT_LIST_DIR}/cluster.cc
  ${CMAKE_CURRENT_LIST_DIR}/connection.cc
  ${CMAKE_CURRENT_LIST_DIR}/resp.cc
  ${CMAKE_CURRENT_LIST_DIR}/scripts.cc
  ${CMAKE_CURRENT_LIST_DIR}/redis_store.cc
  ${CMAKE_CURRENT_LIST_DIR}/redis_quota.cc
)
tg_add_module(redis SOURCES ${TG_REDIS_SOURCES}
  DEPS core http store
  LIBS PkgConfig::HIREDIS)
