amap_unit_test(config_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/config_test.cpp
  LIBS amap::config)
target_compile_definitions(config_test PRIVATE AMAP_CONF_DIR="${AMAP_SOURCE_ROOT}/conf")
