# automap_dnssec_bench: online signing costs (bench/README.md, "DNSSEC").
find_package(benchmark REQUIRED)
add_executable(automap_dnssec_bench ${CMAKE_CURRENT_LIST_DIR}/dnssec_bench.cpp)
target_link_libraries(automap_dnssec_bench PRIVATE amap::dnssec amap::wire benchmark::benchmark_main
                                                   amap::warnings)
