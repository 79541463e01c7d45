# automap_null_pipe: the do-nothing and canned-answer PowerDNS pipe coprocesses (baselines of
# bench/automap-bench).
add_executable(automap_null_pipe ${CMAKE_CURRENT_LIST_DIR}/null_pipe.cpp)
target_link_libraries(automap_null_pipe PRIVATE amap::warnings)
