# The lb example (tools/examples/lb): probe parser, config errors, the app over a real TCP
# probe, and its allocation-free query path (alloc_counter.h: a binary of its own).
if(TARGET amap::lb)
  amap_unit_test(lb_test
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/lb_test.cpp
    LIBS amap::lb)
endif()
