amap_unit_test(app_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/app_routing_test.cpp
          ${CMAKE_CURRENT_LIST_DIR}/app_snapshot_test.cpp
          ${CMAKE_CURRENT_LIST_DIR}/app_background_test.cpp
          ${CMAKE_CURRENT_LIST_DIR}/app_worker_test.cpp
  LIBS amap::app)
