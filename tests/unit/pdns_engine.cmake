# backend/pdns's C++17 facade over the engine (only when the module is built).
if(TARGET amap_pdns_engine)
  amap_unit_test(pdns_engine_test
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/pdns_engine_test.cpp
    LIBS amap_pdns_engine)
endif()
