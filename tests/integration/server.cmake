# Standalone server: a test binary serving the wire test App, driven by a dnspython suite.
add_executable(server_test_app ${CMAKE_CURRENT_LIST_DIR}/server_test_app.cpp)
target_link_libraries(server_test_app PRIVATE amap::server amap::warnings)

# dnspython is installed for the system interpreter, not for a pyenv python3 on PATH.
set(AMAP_SYSTEM_PYTHON /usr/bin/python3)
add_test(NAME server_wire_integration
         COMMAND ${AMAP_SYSTEM_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/server_wire_test.py
                 $<TARGET_FILE:server_test_app>)
set_tests_properties(server_wire_integration PROPERTIES LABELS integration TIMEOUT 180)

# Response rate limiting in automapd serve: a flood from one /24, a quiet /24, a whitelist.
if(TARGET automapd)
  add_test(NAME server_rrl_integration
           COMMAND ${AMAP_SYSTEM_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/server_rrl_test.py
                   $<TARGET_FILE:automapd>)
  set_tests_properties(server_rrl_integration PROPERTIES LABELS integration TIMEOUT 120)
endif()

# DNS Cookies in automapd serve, with dig +cookie: a valid server cookie exempts from RRL.
if(TARGET automapd)
  add_test(NAME server_cookies_integration
           COMMAND ${AMAP_SYSTEM_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/server_cookies_test.py
                   $<TARGET_FILE:automapd>)
  set_tests_properties(server_cookies_integration PROPERTIES LABELS integration TIMEOUT 120)
endif()
