// SPDX-License-Identifier: MIT
#include "store/validate.h"

#include "mapper/dns/result.h"
#include "store/format.h"
#include "store/lmdb.h"

namespace amap::store {

std::string check_override(const Override& v, std::string& buffer, CheckedOverride& out) {
  out = {};
  switch (v.kind) {
    case OverrideKind::name: {
      auto n = dns::Name::from_text(v.target);
      if (!n) {
        return "override target \"" + v.target +
               "\" is not a valid DNS name: " + std::string(errc_message(n.error()));
      }
      if (n->is_root()) {
        return "override target must not be the root name";
      }
      buffer.resize(dns::Name::kMaxText);
      buffer.resize(n->to_text(buffer.data(), buffer.size(), true));
      out.target = buffer;
      out.name = *n;
      break;
    }
    case OverrideKind::name_template:
      if (v.target.empty()) {
        return "override template is empty";
      }
      out.target = v.target;
      break;
    case OverrideKind::none:
      break;
    default:
      return "override has an unknown kind";
  }
  if (out.target.size() > format::kMaxTargetText) {
    return "override target is longer than " + std::to_string(format::kMaxTargetText) +
           " characters";
  }
  if (v.ttl > kMaxTtl) {
    return "ttl " + std::to_string(v.ttl) + " is above " + std::to_string(kMaxTtl) +
           " (the RFC 2181 maximum)";
  }
  return {};
}

CheckedOverride checked_override(const Override& v, std::string& buffer) {
  CheckedOverride out;
  if (std::string why = check_override(v, buffer, out); !why.empty()) {
    throw StoreError(why);
  }
  return out;
}

std::string check_prefix(const dns::Prefix& p) {
  if (p.length > p.address.bits()) {
    return "prefix " + p.address.to_string() + "/" + std::to_string(p.length) + ": " +
           std::string(errc_message(Errc::bad_prefix_length));
  }
  if (p.address.masked(p.length) != p.address) {
    return "prefix " + p.to_string() + ": " + std::string(errc_message(Errc::host_bits_set));
  }
  return {};
}

void checked_prefix(const dns::Prefix& p) {
  if (std::string why = check_prefix(p); !why.empty()) {
    throw StoreError(why);
  }
}

}  // namespace amap::store
