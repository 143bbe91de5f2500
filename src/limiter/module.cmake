# limiter: admission helpers (reservation sizing, too-large check, rate-limit headers), the
# pure rules layer: native policies and Higress ai-token-ratelimit configs (read from YAML by
# config/ into plain structs) compiled into a PolicySet (compile.h, higress.h), the matcher
# (rules.h) that turns a request's facts into store::BucketSpecs, bucket inspection for
# operators (inspect.h) and the limiter's metric families (stats.h). Request-path wiring lives
# in proxy/. Included from src/CMakeLists.txt; paths are relative to this file.
find_package(PkgConfig REQUIRED)
pkg_check_modules(RE2 REQUIRED IMPORTED_TARGET re2)
tg_add_module(limiter
  SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/admission.cc
    ${CMAKE_CURRENT_LIST_DIR}/admission_stream.cc
    ${CMAKE_CURRENT_LIST_DIR}/fair_queue.cc
    ${CMAKE_CURRENT_LIST_DIR}/headers.cc
    ${CMAKE_CURRENT_LIST_DIR}/rejection.cc
    ${CMAKE_CURRENT_LIST_DIR}/reservation.cc
    ${CMAKE_CURRENT_LIST_DIR}/policy.cc
    ${CMAKE_CURRENT_LIST_DIR}/rules.cc
    ${CMAKE_CURRENT_LIST_DIR}/inspect.cc
    ${CMAKE_CURRENT_LIST_DIR}/timezone.cc
    ${CMAKE_CURRENT_LIST_DIR}/higress.cc
    ${CMAKE_CURRENT_LIST_DIR}/compile.cc
    ${CMAKE_CURRENT_LIST_DIR}/stats.cc
  DEPS core config store metrics
  LIBS PkgConfig::RE2 OpenSSL::Crypto)
