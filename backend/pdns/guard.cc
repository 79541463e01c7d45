// SPDX-License-Identifier: LicenseRef-GPL-2.0-only-with-OpenSSL-exception (LICENSE here)
// Compiled once per module copy with the recorded host: AMAP_PDNS_VERSION_TEXT (the Debian
// version of pdns-server) and AMAP_PDNS_BUILD_IDS ("pdns_server=<hex> pdnsutil=<hex>": the
// programs of that package that load backend modules), so the test copy with a wrong
// recorded id differs from the real module in this file only.
#include "backend/pdns/guard.h"

#include <elf.h>
#include <link.h>

#include <cstdint>
#include <cstring>

namespace amap::pdnsmod {
namespace {

/// The GNU build-id of the main program (the first object dl_iterate_phdr reports), in hex.
int find_build_id(struct dl_phdr_info* info, std::size_t /*size*/, void* data) {
  auto* out = static_cast<std::string*>(data);
  for (ElfW(Half) i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_NOTE) {
      continue;
    }
    const auto* p = reinterpret_cast<const unsigned char*>(info->dlpi_addr + ph.p_vaddr);
    const unsigned char* end = p + ph.p_memsz;
    while (p + sizeof(ElfW(Nhdr)) <= end) {
      ElfW(Nhdr) nh;
      std::memcpy(&nh, p, sizeof nh);
      const unsigned char* name = p + sizeof nh;
      const unsigned char* desc = name + ((nh.n_namesz + 3U) & ~3U);
      const unsigned char* next = desc + ((nh.n_descsz + 3U) & ~3U);
      if (next > end) {
        break;
      }
      if (nh.n_type == NT_GNU_BUILD_ID && nh.n_namesz == 4 && std::memcmp(name, "GNU", 4) == 0) {
        static const char hex[] = "0123456789abcdef";
        for (ElfW(Word) k = 0; k < nh.n_descsz; ++k) {
          *out += hex[desc[k] >> 4];
          *out += hex[desc[k] & 15];
        }
        return 1;
      }
      p = next;
    }
  }
  return 1;  // only the main program
}

}  // namespace

bool host_matches(std::string& why) {
  std::string running;
  dl_iterate_phdr(find_build_id, &running);
  const std::string recorded = AMAP_PDNS_BUILD_IDS;
  // Each entry is "<program>=<hex>", separated by spaces: match "=<hex>" at an entry's end.
  const std::string needle = "=" + running;
  for (std::size_t at = recorded.find(needle); !running.empty() && at != std::string::npos;
       at = recorded.find(needle, at + 1)) {
    const std::size_t end = at + needle.size();
    if (end == recorded.size() || recorded[end] == ' ') {
      return true;
    }
  }
  why = "built for pdns-server " AMAP_PDNS_VERSION_TEXT " (ELF build-ids " + recorded +
        "), but this program has build-id " + (running.empty() ? "(none)" : running) +
        "; rebuild automap's PowerDNS module against the installed pdns-server (another "
        "build's headers and class layouts may differ)";
  return false;
}

}  // namespace amap::pdnsmod
