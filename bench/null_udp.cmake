# automap_null_udp: the do-nothing UDP responder (the UDP floor target of bench/automap-bench).
add_executable(automap_null_udp ${CMAKE_CURRENT_LIST_DIR}/null_udp.cpp)
target_link_libraries(automap_null_udp PRIVATE amap::warnings)
