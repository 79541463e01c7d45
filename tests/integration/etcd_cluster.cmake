# Several nodes with etcd as the source of truth (issue 15): 3 etcd members, 2 automapd nodes.
add_test(NAME etcd_cluster
         COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/etcd_cluster_test.py
                 $<TARGET_FILE:mapctl> $<TARGET_FILE:automapd>)
set_tests_properties(etcd_cluster PROPERTIES LABELS integration TIMEOUT 300)
