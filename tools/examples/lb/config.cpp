// SPDX-License-Identifier: MIT
#include "tools/examples/lb/config.h"

#include <yaml-cpp/yaml.h>

#include <charconv>
#include <set>
#include <string_view>

namespace amap::lb {
namespace {

class Loader {
 public:
  explicit Loader(std::string file) : file_(std::move(file)) {}

  void error(const YAML::Node& node, const std::string& path, const std::string& message) {
    const YAML::Mark m = node.Mark();
    errors.error(file_, config::Mark{m.line + 1, m.column + 1}, path, message);
  }

  /// Checks that `node` is a map with only `allowed` keys, each once.
  bool map(const YAML::Node& node, const std::string& path,
           const std::vector<std::string_view>& allowed) {
    if (!node.IsMap()) {
      error(node, path, "expected a map");
      return false;
    }
    std::set<std::string> seen;
    for (const auto& kv : node) {
      const std::string key = kv.first.Scalar();
      const std::string at = path.empty() ? key : path + "." + key;
      bool known = false;
      for (std::string_view a : allowed) {
        known = known || a == key;
      }
      if (!known) {
        std::string msg = "unknown key";
        if (const std::string near = config::closest_match(key, allowed); !near.empty()) {
          msg += "; did you mean '" + near + "'?";
        }
        error(kv.first, at, msg);
      } else if (!seen.insert(key).second) {
        error(kv.first, at, "duplicate key");
      }
    }
    return true;
  }

  bool scalar(const YAML::Node& node, const std::string& path, std::string& out) {
    if (!node.IsScalar()) {
      error(node, path, "expected a scalar");
      return false;
    }
    out = node.Scalar();
    return true;
  }

  bool uint(const YAML::Node& node, const std::string& path, std::uint32_t min, std::uint32_t max,
            std::uint32_t& out) {
    std::string s;
    if (!scalar(node, path, s)) {
      return false;
    }
    std::uint32_t v = 0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc{} || end != s.data() + s.size() || v < min || v > max) {
      error(node, path,
            "expected an integer from " + std::to_string(min) + " to " + std::to_string(max));
      return false;
    }
    out = v;
    return true;
  }

  /// "250ms", "2s" or a bare number of milliseconds.
  bool duration(const YAML::Node& node, const std::string& path, std::chrono::milliseconds& out) {
    std::string s;
    if (!scalar(node, path, s)) {
      return false;
    }
    std::uint64_t v = 0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    const std::string_view unit(end, static_cast<std::size_t>(s.data() + s.size() - end));
    std::uint64_t ms = 0;
    if (ec == std::errc{} && (unit.empty() || unit == "ms")) {
      ms = v;
    } else if (ec == std::errc{} && unit == "s") {
      ms = v * 1000;
    }
    if (ms == 0 || ms > 3600ULL * 1000) {
      error(node, path, "expected a duration from 1ms to 3600s, as 500ms or 2s");
      return false;
    }
    out = std::chrono::milliseconds(ms);
    return true;
  }

  bool address(const YAML::Node& node, const std::string& path, dns::IpAddress& out) {
    std::string s;
    if (!scalar(node, path, s)) {
      return false;
    }
    auto a = dns::IpAddress::parse(s);
    if (!a) {
      error(node, path,
            "'" + config::printable(s) + "': " + std::string(amap::errc_message(a.error())));
      return false;
    }
    out = *a;
    return true;
  }

  bool name(const YAML::Node& node, const std::string& path, dns::Name& out) {
    std::string s;
    if (!scalar(node, path, s)) {
      return false;
    }
    auto n = dns::Name::from_text(s);
    if (!n) {
      error(node, path,
            "'" + config::printable(s) + "': " + std::string(amap::errc_message(n.error())));
      return false;
    }
    out = *n;
    return true;
  }

  void probe(const YAML::Node& node, const std::string& path, ProbeConfig& p) {
    if (!map(node, path, {"type", "path", "interval", "timeout"})) {
      return;
    }
    if (const auto t = node["type"]) {
      std::string s;
      if (scalar(t, path + ".type", s)) {
        if (s == "tcp") {
          p.kind = ProbeKind::tcp;
        } else if (s == "http") {
          p.kind = ProbeKind::http;
        } else {
          error(t, path + ".type", "expected tcp or http");
        }
      }
    }
    if (const auto v = node["path"]) {
      std::string s;
      if (scalar(v, path + ".path", s)) {
        if (s.empty() || s.front() != '/' || s.find_first_of(" \r\n\t") != std::string::npos) {
          error(v, path + ".path", "expected an HTTP path starting with / and without spaces");
        } else {
          p.path = s;
        }
      }
      if (p.kind != ProbeKind::http) {
        error(v, path + ".path", "only for type: http");
      }
    }
    if (const auto v = node["interval"]) {
      duration(v, path + ".interval", p.interval);
    }
    if (const auto v = node["timeout"]) {
      duration(v, path + ".timeout", p.timeout);
    }
    if (p.timeout > p.interval) {
      error(node, path + ".timeout", "must not be longer than the interval");
    }
  }

  void backend(const YAML::Node& node, const std::string& path, const ServiceConfig& svc,
               BackendConfig& b) {
    if (!map(node, path, {"address", "port", "regions"})) {
      return;
    }
    if (const auto v = node["address"]) {
      if (address(v, path + ".address", b.address) &&
          b.address.is_v4() != (svc.type == dns::rrtype::A)) {
        error(v, path + ".address",
              std::string("the service is of type ") +
                  (svc.type == dns::rrtype::A ? "A: expected IPv4" : "AAAA: expected IPv6"));
      }
    } else {
      error(node, path + ".address", "missing");
    }
    if (const auto v = node["port"]) {
      std::uint32_t port = 0;
      if (uint(v, path + ".port", 1, 65535, port)) {
        b.port = static_cast<std::uint16_t>(port);
      }
    }
    if (const auto v = node["regions"]) {
      if (!v.IsSequence()) {
        error(v, path + ".regions", "expected a list of CIDR prefixes");
        return;
      }
      for (std::size_t i = 0; i < v.size(); ++i) {
        const std::string at = path + ".regions[" + std::to_string(i) + "]";
        std::string s;
        if (scalar(v[i], at, s)) {
          auto p = dns::Prefix::parse(s);
          if (!p) {
            error(v[i], at,
                  "'" + config::printable(s) + "': " + std::string(amap::errc_message(p.error())));
          } else {
            b.regions.push_back(*p);
          }
        }
      }
    }
  }

  void service(const YAML::Node& node, const std::string& path, const dns::Name& zone,
               ServiceConfig& svc) {
    svc.path = path;
    if (!map(node, path, {"name", "type", "count", "ttl", "probe", "backends", "fallback"})) {
      return;
    }
    if (const auto v = node["name"]) {
      if (name(v, path + ".name", svc.name) && !zone.is_root() && !svc.name.is_subdomain_of(zone)) {
        error(v, path + ".name", "not inside the zone " + zone.to_string());
      }
    } else {
      error(node, path + ".name", "missing");
    }
    if (const auto v = node["type"]) {
      std::string s;
      if (scalar(v, path + ".type", s)) {
        if (s == "A") {
          svc.type = dns::rrtype::A;
        } else if (s == "AAAA") {
          svc.type = dns::rrtype::AAAA;
        } else {
          error(v, path + ".type", "expected A or AAAA");
        }
      }
    }
    if (const auto v = node["count"]) {
      uint(v, path + ".count", 1, 64, svc.count);
    }
    if (const auto v = node["ttl"]) {
      uint(v, path + ".ttl", 0, 86400, svc.ttl);
    }
    if (const auto v = node["probe"]) {
      probe(v, path + ".probe", svc.probe);
    }
    const auto backends = node["backends"];
    if (!backends || !backends.IsSequence() || backends.size() == 0) {
      error(backends ? backends : node, path + ".backends", "expected a non-empty list");
    } else {
      for (std::size_t i = 0; i < backends.size(); ++i) {
        BackendConfig b;
        backend(backends[i], path + ".backends[" + std::to_string(i) + "]", svc, b);
        svc.backends.push_back(std::move(b));
      }
    }
    if (const auto v = node["fallback"]) {
      if (!v.IsSequence()) {
        error(v, path + ".fallback", "expected a list of addresses");
        return;
      }
      for (std::size_t i = 0; i < v.size(); ++i) {
        const std::string at = path + ".fallback[" + std::to_string(i) + "]";
        dns::IpAddress a;
        if (address(v[i], at, a)) {
          if (a.is_v4() != (svc.type == dns::rrtype::A)) {
            error(v[i], at, "not of the service's address family");
          } else {
            svc.fallback.push_back(a);
          }
        }
      }
    }
  }

  void root(const YAML::Node& node, Config& cfg) {
    if (!map(node, "", {"zone", "services"})) {
      return;
    }
    if (const auto v = node["zone"]) {
      name(v, "zone", cfg.zone);
    } else {
      error(node, "zone", "missing");
    }
    const auto services = node["services"];
    if (!services || !services.IsSequence() || services.size() == 0) {
      error(services ? services : node, "services", "expected a non-empty list");
      return;
    }
    std::vector<dns::Name> names;
    for (std::size_t i = 0; i < services.size(); ++i) {
      ServiceConfig svc;
      const std::string path = "services[" + std::to_string(i) + "]";
      service(services[i], path, cfg.zone, svc);
      if (!svc.name.is_root()) {
        for (const dns::Name& n : names) {
          if (n == svc.name) {
            error(services[i]["name"], path + ".name", "a service of that name is already defined");
          }
        }
        names.push_back(svc.name);
      }
      cfg.services.push_back(std::move(svc));
    }
  }

  config::Diagnostics errors;

 private:
  std::string file_;
};

}  // namespace

LoadResult load_text(const std::string& text, const std::string& file) {
  LoadResult r;
  Loader loader(file);
  try {
    const YAML::Node root = YAML::Load(text);
    loader.root(root, r.config);
  } catch (const YAML::Exception& e) {
    loader.errors.error(file, config::Mark{e.mark.line + 1, e.mark.column + 1}, "", e.msg);
  }
  r.errors = std::move(loader.errors);
  return r;
}

LoadResult load_file(const std::string& path) {
  std::string text;
  LoadResult r;
  if (!config::read_config_file(path, config::LoadOptions{}, text, r.errors)) {
    return r;
  }
  return load_text(text, path);
}

}  // namespace amap::lb
