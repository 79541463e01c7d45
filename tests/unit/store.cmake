amap_unit_test(store_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/store_test.cpp LIBS amap::store)
amap_unit_test(store_sync_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/store_sync_test.cpp
               LIBS amap::store_sync)
