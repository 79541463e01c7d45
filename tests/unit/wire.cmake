amap_unit_test(wire_test SOURCES wire_test.cpp LIBS amap::wire)
amap_unit_test(wire_alloc_test SOURCES wire_alloc_test.cpp LIBS amap::wire)
