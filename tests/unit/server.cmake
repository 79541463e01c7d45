amap_unit_test(server_test SOURCES server_test.cpp LIBS amap::server)
