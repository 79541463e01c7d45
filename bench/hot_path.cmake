# automap_bench: the Google Benchmark hot-path suite (see bench/README.md).
include(${CMAKE_CURRENT_LIST_DIR}/common.cmake)
find_package(benchmark REQUIRED)
add_executable(automap_bench ${CMAKE_CURRENT_LIST_DIR}/hot_path_bench.cpp)
target_link_libraries(automap_bench PRIVATE amap::bench_workload amap::pipe amap::server amap::wire
                                            benchmark::benchmark_main amap::warnings)
target_compile_definitions(automap_bench PRIVATE
  AMAP_BENCH_DEFAULT_CONFIG="${AMAP_SOURCE_ROOT}/conf/automap.yaml")
