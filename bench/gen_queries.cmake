# automap_gen_queries: writes dnsperf query files ("name TYPE" lines) for bench/automap-bench.
include(${CMAKE_CURRENT_LIST_DIR}/common.cmake)
add_executable(automap_gen_queries ${CMAKE_CURRENT_LIST_DIR}/gen_queries.cpp)
target_link_libraries(automap_gen_queries PRIVATE amap::bench_workload amap::warnings)
