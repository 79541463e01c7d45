// SPDX-License-Identifier: LicenseRef-GPL-2.0-only-with-OpenSSL-exception (LICENSE here)
#pragma once
// The version guard of the PowerDNS module. C++17, no PowerDNS header.

#include <string>

namespace amap::pdnsmod {

/// True when the running program is the pdns_server this module was built against: the same
/// ELF build-id (GNU build-id note of the main executable, read from its loaded image) as
/// recorded at build time. Otherwise false, with a sentence for the log in `why`.
bool host_matches(std::string& why);

}  // namespace amap::pdnsmod
