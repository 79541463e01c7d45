amap_unit_test(engine_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/engine_test.cpp
          ${CMAKE_CURRENT_LIST_DIR}/engine_overrides_test.cpp
  LIBS amap::engine)
target_compile_definitions(engine_test PRIVATE AMAP_CONF_DIR="${AMAP_SOURCE_ROOT}/conf")
amap_unit_test(engine_alloc_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/engine_alloc_test.cpp
  LIBS amap::engine amap::wire amap::pipe)
target_compile_definitions(engine_alloc_test PRIVATE AMAP_CONF_DIR="${AMAP_SOURCE_ROOT}/conf")
