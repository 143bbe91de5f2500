# limiter: pure admission helpers (reservation sizing, too-large check, rate-limit headers).
# Rules, selectors and request-path wiring arrive later. Included from src/CMakeLists.txt.
tg_add_module(limiter
  SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/headers.cc
    ${CMAKE_CURRENT_LIST_DIR}/reservation.cc
  DEPS core store)
