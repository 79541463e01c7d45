amap_unit_test(server_test SOURCES server_test.cpp LIBS amap::server)
amap_unit_test(server_rrl_test SOURCES server_rrl_test.cpp LIBS amap::server)
amap_unit_test(config_rrl_test SOURCES config_rrl_test.cpp LIBS amap::config)
amap_unit_test(server_cookies_test SOURCES server_cookies_test.cpp LIBS amap::server)
