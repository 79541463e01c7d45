amap_unit_test(server_watchdog_test SOURCES server_watchdog_test.cpp LIBS amap::server)
