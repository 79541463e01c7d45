# mapper/dnssec: keys, signer shapes and the allocation-free cache hit (alloc_counter.h: this
# binary replaces the global operator new).
amap_unit_test(dnssec_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/dnssec_test.cpp
               LIBS amap::dnssec amap::app amap::wire)
