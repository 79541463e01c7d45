amap_unit_test(store_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/store_test.cpp LIBS amap::store)
