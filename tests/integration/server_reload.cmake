# automapd serve with an override store: SIGHUP reloads under UDP+TCP query load (nothing
# lost), a reload that changes listen: (rebinds; a failed bind keeps the old sockets).
add_test(NAME server_reload
         COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/server_reload_test.py
                 $<TARGET_FILE:automapd> $<TARGET_FILE:mapctl>)
set_tests_properties(server_reload PROPERTIES LABELS integration TIMEOUT 180)

# automapd serve start-up: --threads bound; SIGTERM/SIGINT while binding or loading stop it.
add_test(NAME server_startup
         COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/server_startup_test.py
                 $<TARGET_FILE:automapd>)
set_tests_properties(server_startup PROPERTIES LABELS integration TIMEOUT 180)

# automapd serve TCP fairness: per-client cap, shorter idle timeout under pressure, RSS back
# down after 256 connections close.
add_test(NAME server_tcp
         COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/server_tcp_test.py
                 $<TARGET_FILE:automapd>)
set_tests_properties(server_tcp PROPERTIES LABELS integration TIMEOUT 120)
