// SPDX-License-Identifier: MIT
// mapctl key: the DNSSEC keys of dnssec.keys (mapper/dnssec/key.h), in BIND's file format.
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <stdexcept>

#include "mapper/config/config.h"
#include "mapper/dnssec/key.h"
#include "mapper/engine/load.h"
#include "tools/mapctl/commands.h"
#include "tools/mapctl/json.h"

namespace amap::mapctl {

namespace {

struct KeyConfig {
  config::Config config;
  std::shared_ptr<const mapper::Mapper> mapper;
};

std::optional<KeyConfig> load_key_config(const Options& o) {
  config::Diagnostics diagnostics;
  auto m = mapper::load_and_build(o.config, {}, diagnostics);
  if (!m) {
    diagnostics.print([](const std::string& line) {
      std::fprintf(stderr, "%s\n", json::printable(line).c_str());
    });
    std::fprintf(stderr, "mapctl: the configuration %s has errors (listed above)\n",
                 o.config.c_str());
    return std::nullopt;
  }
  if (!m->config().dnssec.present) {
    std::fprintf(stderr, "mapctl key: no dnssec: block in %s (dnssec: { keys: DIR })\n",
                 o.config.c_str());
    return std::nullopt;
  }
  return KeyConfig{m->config(), m};
}

/// Every apex automap serves: the forward zones, then the derived reverse zones.
std::vector<dns::Name> apexes(const mapper::Mapper& m) {
  std::vector<dns::Name> out = m.forward_zones();
  for (const dns::Name& z : m.reverse_zones()) {
    out.push_back(z);
  }
  return out;
}

const char* role(const dnssec::Key& k, const std::vector<dnssec::Key>& all) {
  const bool zsk_exists =
      std::any_of(all.begin(), all.end(), [](const dnssec::Key& x) { return !x.sep(); });
  return !k.sep() ? "ZSK" : zsk_exists ? "KSK" : "CSK";
}

std::string when(std::int64_t t) {
  return t == 0 ? "-" : dnssec::timestamp(t);
}

}  // namespace

int cmd_key_generate(const Options& o) {
  auto kc = load_key_config(o);
  if (!kc) {
    return kExitError;
  }
  dnssec::Algorithm alg = static_cast<dnssec::Algorithm>(kc->config.dnssec.algorithm);
  if (o.algorithm == "ed25519") {
    alg = dnssec::Algorithm::ed25519;
  } else if (o.algorithm == "ecdsap256sha256") {
    alg = dnssec::Algorithm::ecdsap256sha256;
  }
  const std::string& dir = kc->config.dnssec.keys;
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    std::fprintf(stderr, "mapctl key generate: %s: cannot create: %s\n", dir.c_str(),
                 std::strerror(errno));
    return kExitError;
  }
  const auto all = apexes(*kc->mapper);
  try {
    dnssec::Key k = dnssec::Key::generate(alg, o.zsk ? dnssec::kFlagsZsk : dnssec::kFlagsKsk);
    if (o.publish_only) {
      // Pre-publication: the DNSKEY is served from now on; `mapctl key activate` later.
      k.timing.publish = k.timing.created;
      k.timing.activate = 0x7FFFFFFF;
    }
    const std::string base = k.save(dir, all.empty() ? dns::Name() : all.front());
    std::printf("%s\t%u\t%s\t%s\n", base.c_str(), static_cast<unsigned>(k.tag()),
                dnssec::algorithm_name(k.algorithm()),
                o.zsk ? "ZSK" : (o.publish_only ? "KSK/CSK published, not active" : "CSK"));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mapctl key generate: %s\n", e.what());
    return kExitError;
  }
  return kExitOk;
}

int cmd_key_list(const Options& o) {
  auto kc = load_key_config(o);
  if (!kc) {
    return kExitError;
  }
  try {
    const auto keys = dnssec::load_keys(kc->config.dnssec.keys);
    const auto now = static_cast<std::int64_t>(std::time(nullptr));
    std::printf("tag\talgorithm\trole\tstate\tpublish\tactivate\tinactive\tdelete\tfile\n");
    for (const auto& k : keys) {
      const char* state = k.timing.active(now)      ? "active"
                          : k.timing.published(now) ? "published"
                                                    : "inactive";
      std::printf("%u\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", static_cast<unsigned>(k.tag()),
                  dnssec::algorithm_name(k.algorithm()), role(k, keys), state,
                  when(k.timing.publish).c_str(), when(k.timing.activate).c_str(),
                  when(k.timing.inactive).c_str(), when(k.timing.remove).c_str(), k.base.c_str());
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mapctl key list: %s\n", e.what());
    return kExitError;
  }
  return kExitOk;
}

int cmd_key_ds(const Options& o) {
  auto kc = load_key_config(o);
  if (!kc) {
    return kExitError;
  }
  std::vector<dns::Name> zones = apexes(*kc->mapper);
  if (!o.zone.empty()) {
    auto z = dns::Name::from_text(o.zone);
    if (!z || std::find(zones.begin(), zones.end(), *z) == zones.end()) {
      std::fprintf(stderr,
                   "mapctl key ds: %s is not a zone automap serves (a forward zone or a derived "
                   "reverse zone)\n",
                   json::printable(o.zone).c_str());
      return kExitError;
    }
    zones = {*z};
  }
  try {
    const auto keys = dnssec::load_keys(kc->config.dnssec.keys);
    const auto now = static_cast<std::int64_t>(std::time(nullptr));
    for (const dns::Name& z : zones) {
      for (const auto& k : keys) {
        if (!k.sep() || (k.timing.remove != 0 && k.timing.remove <= now)) {
          continue;
        }
        std::string hex;
        for (const std::uint8_t b : k.ds_sha256(z)) {
          char buf[3];
          std::snprintf(buf, sizeof buf, "%02X", b);
          hex += buf;
        }
        std::printf("%s\tIN\tDS\t%u %u 2 %s\n", z.to_string().c_str(),
                    static_cast<unsigned>(k.tag()), static_cast<unsigned>(k.algorithm()),
                    hex.c_str());
      }
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mapctl key ds: %s\n", e.what());
    return kExitError;
  }
  return kExitOk;
}

int cmd_key_import(const Options& o) {
  auto kc = load_key_config(o);
  if (!kc) {
    return kExitError;
  }
  const std::string& dir = kc->config.dnssec.keys;
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    std::fprintf(stderr, "mapctl key import: %s: cannot create: %s\n", dir.c_str(),
                 std::strerror(errno));
    return kExitError;
  }
  try {
    dnssec::Key k = dnssec::import_key(o.file);
    if (k.timing.created == 0) {
      k.timing.created = static_cast<std::int64_t>(std::time(nullptr));
    }
    const auto all = apexes(*kc->mapper);
    const std::string base = k.save(dir, all.empty() ? dns::Name() : all.front());
    std::printf("%s\t%u\t%s\n", base.c_str(), static_cast<unsigned>(k.tag()),
                dnssec::algorithm_name(k.algorithm()));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mapctl key import: %s\n", e.what());
    return kExitError;
  }
  return kExitOk;
}

namespace {

/// The key of `tag` in the keys directory, or nullopt after printing why not.
std::optional<dnssec::Key> find_key(const std::vector<dnssec::Key>& keys, std::uint32_t tag,
                                    const char* verb) {
  const auto it =
      std::find_if(keys.begin(), keys.end(), [&](const dnssec::Key& k) { return k.tag() == tag; });
  if (it == keys.end()) {
    std::fprintf(stderr, "mapctl key %s: no key with tag %u (mapctl key list)\n", verb, tag);
    return std::nullopt;
  }
  return *it;
}

}  // namespace

/// publish, activate, retire: the rollover steps, each a timing field of the key's .private
/// file, with the checks that keep a validating resolver from ever seeing a signature whose
/// DNSKEY it cannot have, or a zone without signatures. --force skips the checks.
int cmd_key_step(const Options& o, std::string_view verb) {
  auto kc = load_key_config(o);
  if (!kc) {
    return kExitError;
  }
  const std::string v(verb);
  try {
    const auto keys = dnssec::load_keys(kc->config.dnssec.keys);
    auto key = find_key(keys, o.tag, v.c_str());
    if (!key) {
      return kExitError;
    }
    const auto now = static_cast<std::int64_t>(std::time(nullptr));
    // A resolver may hold the old DNSKEY RRset for its TTL (the SOA TTL here) and needs the
    // new one before the first signature by the new key.
    const std::int64_t wait = std::int64_t{kc->config.soa.ttl} + o.propagation_delay;
    auto refuse = [&](const std::string& why) {
      std::fprintf(stderr, "mapctl key %s: refused: %s (--force to do it anyway)\n", v.c_str(),
                   why.c_str());
      return kExitError;
    };
    if (verb == "publish") {
      if (key->timing.published(now)) {
        return refuse("key " + std::to_string(key->tag()) + " is already published");
      }
      key->timing.publish = now;
      key->timing.remove = 0;
    } else if (verb == "activate") {
      if (key->timing.active(now)) {
        return refuse("key " + std::to_string(key->tag()) + " is already active");
      }
      // A KSK beside an active ZSK signs only the DNSKEY RRset, which carries its own DNSKEY:
      // no resolver can meet its signature without the key, so it may publish and sign at
      // once (RFC 6781 4.1.2, the double-signature KSK rollover). A ZSK or a CSK signs other
      // RRsets too and waits for its DNSKEY to reach the caches.
      const bool signs_dnskey_only =
          key->sep() && std::any_of(keys.begin(), keys.end(), [&](const dnssec::Key& k) {
            return !k.sep() && k.timing.active(now);
          });
      if (!o.force && !signs_dnskey_only) {
        if (!key->timing.published(now)) {
          return refuse("key " + std::to_string(key->tag()) +
                        " is not published: mapctl key publish it, reload, and wait");
        }
        const std::int64_t since =
            key->timing.publish == 0 ? key->timing.created : key->timing.publish;
        if (now < since + wait) {
          return refuse("the DNSKEY of key " + std::to_string(key->tag()) + " was published at " +
                        dnssec::timestamp(since) + "; resolvers may not have it before " +
                        dnssec::timestamp(since + wait) + " (the DNSKEY TTL " +
                        std::to_string(kc->config.soa.ttl) + " s plus " +
                        std::to_string(o.propagation_delay) + " s of propagation)");
        }
      }
      if (key->timing.publish == 0 || key->timing.publish > now) {
        key->timing.publish = now;
      }
      key->timing.activate = now;
      key->timing.inactive = 0;
      key->timing.remove = 0;
    } else {  // retire
      if (!key->timing.active(now)) {
        return refuse("key " + std::to_string(key->tag()) + " is not active");
      }
      const bool other = std::any_of(keys.begin(), keys.end(), [&](const dnssec::Key& k) {
        return k.tag() != key->tag() && k.timing.active(now) && k.sep() == key->sep();
      });
      if (!o.force && !other) {
        return refuse("key " + std::to_string(key->tag()) +
                      " is the only active key of its role: activate its successor first");
      }
      key->timing.inactive = now;
      // Its DNSKEY stays while signatures it made may sit in caches (the longest TTL served,
      // a day at most in the shipped configs) plus the propagation delay.
      key->timing.remove =
          now + std::max<std::int64_t>(86400, kc->config.default_ttl) + o.propagation_delay;
    }
    key->save_timing();
    std::printf("%s: key %u %s (%s); reload automapd (SIGHUP) to apply\n", key->base.c_str(),
                static_cast<unsigned>(key->tag()),
                verb == "publish"    ? "published"
                : verb == "activate" ? "active"
                                     : "retired",
                dnssec::timestamp(now).c_str());
    if (verb == "activate" && key->sep()) {
      std::printf(
          "a new SEP key: give the parent its DS (mapctl key ds) and remove the old DS "
          "only after retiring the old key\n");
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mapctl key %s: %s\n", v.c_str(), e.what());
    return kExitError;
  }
  return kExitOk;
}

}  // namespace amap::mapctl
