amap_unit_test(dns_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/dns_name_test.cpp
          ${CMAKE_CURRENT_LIST_DIR}/dns_types_test.cpp
  LIBS amap::dns)
