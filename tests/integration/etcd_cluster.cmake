# Several nodes with etcd as the source of truth (issue 15): 3 etcd members, 2 automapd nodes.
add_test(NAME etcd_cluster
         COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/etcd_cluster_test.py
                 $<TARGET_FILE:mapctl> $<TARGET_FILE:automapd>)
set_tests_properties(etcd_cluster PROPERTIES LABELS integration TIMEOUT 300)

# TLS (client certificate) and user/password to etcd: one https-only member made here.
add_test(NAME etcd_tls
         COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/etcd_tls_test.py
                 $<TARGET_FILE:mapctl> $<TARGET_FILE:automapd>)
set_tests_properties(etcd_tls PROPERTIES LABELS integration TIMEOUT 120)

# A member up but cut off from the quorum (peer traffic through proxies the test cuts): the
# node watching it moves to another member; prints the detection time.
add_test(NAME etcd_partition
         COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/etcd_partition_test.py
                 $<TARGET_FILE:mapctl> $<TARGET_FILE:automapd>)
set_tests_properties(etcd_partition PROPERTIES LABELS integration TIMEOUT 120)

# automapd sync + pdns_server with the pipe backend on the store it keeps.
add_test(NAME etcd_sync_pipe
         COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/etcd_sync_pipe_test.py
                 $<TARGET_FILE:mapctl> $<TARGET_FILE:automapd>)
set_tests_properties(etcd_sync_pipe PROPERTIES LABELS integration TIMEOUT 120)
