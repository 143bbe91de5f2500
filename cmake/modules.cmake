# tg_add_module(NAME SOURCES a.cc b.cc DEPS core ... LIBS external...)
# One static library per folder under src/. DEPS are other tokengate modules: the module graph
# of docs/design.md lives in these calls. Headers are included as "module/file.h" from src/,
# and a module only sees the headers of the modules it names (include dirs are per module).
function(tg_add_module name)
  cmake_parse_arguments(M "" "" "SOURCES;DEPS;LIBS" ${ARGN})
  add_library(tg_${name} STATIC ${M_SOURCES})
  target_include_directories(tg_${name} PUBLIC ${CMAKE_SOURCE_DIR}/src)
  foreach(dep ${M_DEPS})
    target_link_libraries(tg_${name} PUBLIC tg_${dep})
  endforeach()
  if(M_LIBS)
    target_link_libraries(tg_${name} PUBLIC ${M_LIBS})
  endif()
endfunction()

# tg_add_test(path/to/foo_test.cc DEPS module...): one gtest executable per file, run by CTest.
function(tg_add_test src)
  cmake_parse_arguments(T "" "" "DEPS" ${ARGN})
  get_filename_component(name ${src} NAME_WE)
  add_executable(${name} ${src})
  foreach(dep ${T_DEPS})
    target_link_libraries(${name} PRIVATE tg_${dep})
  endforeach()
  target_link_libraries(${name} PRIVATE GTest::gtest GTest::gtest_main)
  set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
  add_test(NAME ${name} COMMAND ${name})
endfunction()
