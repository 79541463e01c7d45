# Shared by the bench/ fragments (sorted first): the deterministic workloads library used by
# both the hot-path suite and the dnsperf query generator.
include_guard(GLOBAL)
add_library(amap_bench_workload STATIC ${CMAKE_CURRENT_LIST_DIR}/workload.cpp)
add_library(amap::bench_workload ALIAS amap_bench_workload)
target_include_directories(amap_bench_workload PUBLIC ${AMAP_SOURCE_ROOT})
target_link_libraries(amap_bench_workload PUBLIC amap::engine PRIVATE amap::warnings)
