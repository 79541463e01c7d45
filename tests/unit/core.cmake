# mapper/core: templates, reverse names, prefix table.
amap_unit_test(core_test
  SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/core_template_test.cpp
    ${CMAKE_CURRENT_LIST_DIR}/core_reverse_name_test.cpp
    ${CMAKE_CURRENT_LIST_DIR}/core_prefix_table_test.cpp
  LIBS amap::mapper)
