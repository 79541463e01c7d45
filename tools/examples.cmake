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

# lb: the stateful example (a least-loaded DNS balancer with background probes). Its app, config
# and probes are a library too, so unit tests can use them.
set(_lb ${_ex}/lb)
add_library(amap_lb STATIC ${_lb}/app.cpp ${_lb}/config.cpp ${_lb}/probe.cpp)
add_library(amap::lb ALIAS amap_lb)
target_include_directories(amap_lb PUBLIC ${AMAP_SOURCE_ROOT})
target_link_libraries(amap_lb PUBLIC amap::app amap::config Boost::headers Threads::Threads
                      PRIVATE yaml-cpp amap::warnings)
add_executable(lb ${_lb}/main.cpp)
target_link_libraries(lb PRIVATE amap_lb amap::run amap::warnings)
