# Example apps: hello and whoami, as executables (PowerDNS pipe coprocesses) and as the
# amap_examples library that tests run in-process (same sources, built without main()).
set(_ex ${CMAKE_CURRENT_LIST_DIR}/examples)

add_library(amap_examples STATIC ${_ex}/hello.cpp ${_ex}/whoami.cpp)
add_library(amap::examples ALIAS amap_examples)
target_compile_definitions(amap_examples PRIVATE AMAP_EXAMPLES_NO_MAIN)
target_include_directories(amap_examples PUBLIC ${AMAP_SOURCE_ROOT})
target_link_libraries(amap_examples PUBLIC amap::app PRIVATE amap::warnings)

foreach(_name hello whoami)
  add_executable(${_name} ${_ex}/${_name}.cpp)
  target_link_libraries(${_name} PRIVATE amap::run amap::warnings)
endforeach()
