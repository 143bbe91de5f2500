# tg_add_module(NAME SOURCES a.cc b.cc DEPS core ... LIBS external...)
# One static library per folder under src/. DEPS are other tokengate modules: the module graph
# of docs/design.md lives in these calls. Headers are included as "module/file.h".
#
# Walls: src/ itself is on no include path. Each module gets its own include root,
# build/include/NAME/, holding one entry NAME -> src/NAME (a symlink), and exports it PUBLIC, so
# a module's sources see their own headers and those of the modules they reach through DEPS
# (transitively: a module's headers include its dependencies' headers), and nothing else.
# Including a module that is not linked fails to compile ("io/stream.h: No such file").
function(tg_add_module name)
  cmake_parse_arguments(M "" "" "SOURCES;DEPS;LIBS" ${ARGN})
  add_library(tg_${name} STATIC ${M_SOURCES})
  set(root ${CMAKE_BINARY_DIR}/include/${name})
  file(MAKE_DIRECTORY ${root})
  file(CREATE_LINK ${CMAKE_SOURCE_DIR}/src/${name} ${root}/${name} SYMBOLIC)
  target_include_directories(tg_${name} PUBLIC ${root})
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
