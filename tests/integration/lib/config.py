# SPDX-License-Identifier: MIT
"""The YAML the test configs start with: the SOA, the NS and the forward zone
pool.example.net., then the 10.0.0.0/8 prefix most tests synthesize from, and 2001:db8::/32.
Concatenate:

    CONFIG = HEAD + PREFIX_V4 + "store: { path: @DIR@/store, map_size: 64MiB }\\n"

The texts are fixed: tests that expect an error at a file:line count these lines.
"""

HEAD = """\
soa:  { mname: ns1.example.net., rname: hostmaster.example.net. }
ns:   [ns1.example.net.]
zones:
  - name: pool.example.net.
"""

# The same with every SOA timer set (two lines for the SOA).
HEAD_SOA_TIMERS = """\
soa:  { mname: ns1.example.net., rname: hostmaster.example.net., refresh: 10800,
        retry: 3600, expire: 604800, minimum: 3600, ttl: 3600 }
ns:   [ns1.example.net.]
zones:
  - name: pool.example.net.
"""

PREFIX_V4 = """\
prefixes:
  - prefix: 10.0.0.0/8
    name: "ip-{a}-{b}-{c}-{d}.pool.example.net."
"""

# A second list item, after PREFIX_V4 (and the keys added to its item, if any).
PREFIX_V6 = """\
  - prefix: 2001:db8::/32
    name: "{ip}.v6.pool.example.net."
"""
