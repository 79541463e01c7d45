// SPDX-License-Identifier: MIT
#include "tools/api/api.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <optional>
#include <stdexcept>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "mapper/app/log.h"
#include "mapper/dns/hex.h"
#include "mapper/engine/load.h"
#include "store/writer.h"
#include "tools/mapctl/api_keys.h"
#include "tools/mapctl/json.h"
#include "tools/mapctl/ops.h"
#include "tools/mapctl/records.h"

namespace amap::api {

namespace keys = mapctl::api_keys;
using mapctl::Json;
using mapctl::OpResult;
using mapctl::Outcome;

namespace {

constexpr std::size_t kDefaultLimit = 100;
constexpr std::size_t kMaxLimit = 10000;
constexpr std::size_t kMaxRemembered = 64;  // keys checked once, remembered by their SHA-256

http::Response json_response(unsigned status, const Json& body) {
  return http::Response{status, "application/json", mapctl::json::dump(body) + "\n", {}};
}

http::Response error_response(unsigned status, const std::string& message) {
  Json j;
  j["error"] = message;
  return json_response(status, j);
}

unsigned status_of(Outcome o) {
  switch (o) {
    case Outcome::ok:
      return 200;
    case Outcome::created:
      return 201;
    case Outcome::bad_request:
      return 400;
    case Outcome::not_found:
      return 404;
    case Outcome::conflict:
      return 409;
    case Outcome::unavailable:
      return 503;
    case Outcome::failed:
      break;
  }
  return 500;
}

/// An OpResult as the API answers it: the body on success, else {"error", "errors", "lines"}.
http::Response result_response(const OpResult& r) {
  if (r.ok()) {
    Json body = r.body;
    if (!r.warnings.empty()) {
      body["warnings"] = r.warnings;
    }
    return json_response(status_of(r.outcome), body);
  }
  Json j;
  j["error"] = r.errors.empty() ? std::string("failed") : r.errors.back();
  if (r.errors.size() > 1) {
    j["errors"] = r.errors;
  }
  if (!r.lines.empty()) {
    Json lines = Json::array();
    for (const auto& e : r.lines) {
      Json x;
      x["line"] = e.line;
      x["message"] = e.message;
      lines.push_back(std::move(x));
    }
    j["lines"] = std::move(lines);
  }
  return json_response(status_of(r.outcome), j);
}

/// Percent-decoding (RFC 3986); nullopt for a bad escape.
std::optional<std::string> decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out += s[i];
      continue;
    }
    const int hi = i + 1 < s.size() ? dns::hex_digit_value(s[i + 1]) : -1;
    const int lo = i + 2 < s.size() ? dns::hex_digit_value(s[i + 2]) : -1;
    if (hi < 0 || lo < 0) {
      return std::nullopt;
    }
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

struct Query {
  std::vector<std::pair<std::string, std::string>> params;
  std::string bad;  // a parameter that did not decode

  const std::string* get(std::string_view name) const {
    for (const auto& [k, v] : params) {
      if (k == name) {
        return &v;
      }
    }
    return nullptr;
  }
  bool flag(std::string_view name) const {
    const std::string* v = get(name);
    return v != nullptr && (v->empty() || *v == "1" || *v == "true" || *v == "yes");
  }
};

Query parse_query(std::string_view q) {
  Query out;
  while (!q.empty()) {
    const std::size_t amp = q.find('&');
    const std::string_view part = q.substr(0, amp);
    q = amp == std::string_view::npos ? std::string_view() : q.substr(amp + 1);
    if (part.empty()) {
      continue;
    }
    const std::size_t eq = part.find('=');
    auto k = decode(part.substr(0, eq));
    auto v = decode(eq == std::string_view::npos ? std::string_view() : part.substr(eq + 1));
    if (!k || !v) {
      out.bad = std::string(part);
      continue;
    }
    out.params.emplace_back(std::move(*k), std::move(*v));
  }
  return out;
}

std::array<unsigned char, 32> sha256(std::string_view s) {
  std::array<unsigned char, 32> d{};
  unsigned len = 0;
  if (EVP_Digest(s.data(), s.size(), d.data(), &len, EVP_sha256(), nullptr) != 1) {
    throw std::runtime_error("SHA-256 (EVP_Digest) failed");
  }
  return d;
}

}  // namespace

struct Api::State {
  std::function<std::shared_ptr<const mapper::Mapper>()> current;
  std::string config_file;

  // The key file, read again when it changes (mapctl api-key add/del).
  std::string keys_path;
  struct stat keys_stat {};
  std::vector<keys::Key> keys;
  std::string keys_error;
  struct Remembered {
    std::array<unsigned char, 32> digest{};
    std::string name;
    keys::Role role = keys::Role::read_only;
  };
  std::vector<Remembered> remembered;

  // What the configuration served now gives: the synthesis-only mapper mapctl validates with,
  // and the store's writers (one with the write rules, one with --force's).
  std::shared_ptr<const mapper::Mapper> live;
  std::optional<mapctl::Loaded> loaded;
  std::unique_ptr<store::OverrideStore> store;
  std::unique_ptr<store::OverrideStore> store_force;
  std::string load_error;

  void refresh_keys(const std::string& path);
  /// The key's name and role, or an error response.
  std::variant<http::Response, Remembered> authenticate(const http::Request& req);
  /// Loads what `live` needs; "" or why not.
  std::string prepare(const std::shared_ptr<const mapper::Mapper>& now);

  http::Response route(const http::Request& req, const Remembered& who);
  http::Response list(const Query& q);
  http::Response get_one(const mapctl::Key& k);
  http::Response put(const mapctl::Key& k, const std::string& key_text, const std::string& body,
                     const Remembered& who);
  http::Response del(const mapctl::Key& k, const Remembered& who);
  http::Response import(const http::Request& req, const Query& q, const Remembered& who);
};

void Api::State::refresh_keys(const std::string& path) {
  struct stat st {};
  const bool exists = ::stat(path.c_str(), &st) == 0;
  if (path == keys_path && exists && keys_error.empty() && st.st_ino == keys_stat.st_ino &&
      st.st_dev == keys_stat.st_dev && st.st_size == keys_stat.st_size &&
      st.st_mtim.tv_sec == keys_stat.st_mtim.tv_sec &&
      st.st_mtim.tv_nsec == keys_stat.st_mtim.tv_nsec) {
    return;
  }
  keys_path = path;
  keys_stat = st;
  keys.clear();
  remembered.clear();
  keys_error.clear();
  try {
    keys = keys::read(path);
    if (keys.empty()) {
      keys_error = "the API key file " + path + " holds no key: `mapctl api-key add NAME` adds one";
    }
  } catch (const std::exception& e) {
    keys_error = e.what();
  }
  if (!keys_error.empty()) {
    log::error("api: " + keys_error);
  }
}

std::variant<http::Response, Api::State::Remembered> Api::State::authenticate(
    const http::Request& req) {
  const auto now = current();
  const std::string path = now ? now->config().http.api_keys_file : std::string();
  if (path.empty()) {
    return error_response(404,
                          "the API is off: no http.api_keys_file is configured (`mapctl api-key "
                          "add NAME` writes one)");
  }
  refresh_keys(path);
  if (!keys_error.empty()) {
    // Fail closed: without a usable key file nobody gets in.
    return error_response(403, "the API is unavailable: " + keys_error);
  }
  if (req.api_key.empty()) {
    return error_response(401, "no X-API-Key header: every API request needs a key");
  }
  const auto digest = sha256(req.api_key);
  for (const auto& r : remembered) {
    if (CRYPTO_memcmp(r.digest.data(), digest.data(), digest.size()) == 0) {
      return r;
    }
  }
  for (const auto& k : keys) {
    if (keys::matches(k, req.api_key)) {
      Remembered r{digest, k.name, k.role};
      if (remembered.size() == kMaxRemembered) {
        remembered.erase(remembered.begin());
      }
      remembered.push_back(r);
      return r;
    }
  }
  return error_response(401, "the X-API-Key matches no key in " + keys_path);
}

std::string Api::State::prepare(const std::shared_ptr<const mapper::Mapper>& now) {
  if (now == live) {
    return load_error;
  }
  live = now;
  loaded.reset();
  store.reset();
  store_force.reset();
  load_error.clear();
  const config::Config& c = now->config();
  const std::string file = c.file.empty() ? config_file : c.file;
  // mapctl's own load (load_config): the mapper without the store validates the records.
  config::Diagnostics diagnostics;
  auto synthesis = mapper::load_and_build(file, {}, diagnostics);
  if (!synthesis) {
    load_error = "the configuration " + file + " does not load any more (fix it, then reload)";
    return load_error;
  }
  loaded = mapctl::Loaded{file, now->config(), synthesis};
  if (!c.store.present) {
    return {};
  }
  try {
    store::StoreOptions so;
    so.path = c.store.path;
    so.map_size = c.store.map_size;
    so.max_readers = c.store.max_readers;
    store = std::make_unique<store::OverrideStore>(so);
    store->set_write_rules(synthesis->write_rules(false));
    store_force = std::make_unique<store::OverrideStore>(store->db());
    store_force->set_write_rules(synthesis->write_rules(true));
    // With store.sync the writes go to etcd as mapctl's do; the sync loop brings them back.
    mapctl::use_source_of_truth(*store, c.store);
    mapctl::use_source_of_truth(*store_force, c.store);
  } catch (const std::exception& e) {
    load_error = std::string(e.what()) + " (the API writes through automapd's own store " +
                 "environment, opened read-write at start when http.api_keys_file is set: " +
                 "restart automapd after turning the API on)";
    store.reset();
    store_force.reset();
  }
  return load_error;
}

http::Response Api::State::route(const http::Request& req, const Remembered& who) {
  constexpr std::string_view kOverrides = "/api/v1/overrides";
  constexpr std::string_view kLookup = "/api/v1/lookup/";
  const std::string_view path = req.path;
  const Query q = parse_query(req.query);
  if (!q.bad.empty()) {
    return error_response(400, "bad query parameter '" + mapctl::json::printable(q.bad) +
                                   "': a % escape is not two hex digits");
  }
  const bool write = req.method == "PUT" || req.method == "DELETE" || req.method == "POST";
  const auto method_not_allowed = [](const char* allow) {
    http::Response r = error_response(405, std::string("method not allowed here: ") + allow);
    r.allow = allow;
    return r;
  };
  const auto need_rw = [&]() -> std::optional<http::Response> {
    if (write && who.role != keys::Role::read_write) {
      return error_response(403, "the API key " + who.name +
                                     " is read-only: writing needs a key made with `mapctl "
                                     "api-key add NAME --rw`");
    }
    return std::nullopt;
  };
  const auto need_store = [&]() -> std::optional<http::Response> {
    if (!loaded->config.store.present) {
      return error_response(404,
                            "no store configured: add `store: { path: DIR }` to " + loaded->file);
    }
    if (!store) {
      return error_response(500, load_error);
    }
    return std::nullopt;
  };

  if (path == "/api/v1/stats") {
    if (req.method != "GET" && req.method != "HEAD") {
      return method_not_allowed("GET, HEAD");
    }
    if (auto e = need_store()) {
      return *e;
    }
    return result_response(mapctl::stats(*loaded, *store));
  }
  if (path.starts_with(kLookup)) {
    if (req.method != "GET" && req.method != "HEAD") {
      return method_not_allowed("GET, HEAD");
    }
    const auto what = decode(path.substr(kLookup.size()));
    if (!what || what->empty()) {
      return error_response(400, "give an address or a name: /api/v1/lookup/10.1.2.3");
    }
    const std::string* qtype = q.get("qtype");
    // The servers' own mapper (with the store), as mapctl lookup opens it.
    const mapctl::Loaded with_store{loaded->file, live->config(), live};
    return result_response(mapctl::lookup(with_store, *what, qtype ? *qtype : std::string()));
  }
  if (path == kOverrides || path == std::string(kOverrides) + "/") {
    if (req.method != "GET" && req.method != "HEAD") {
      return method_not_allowed("GET, HEAD");
    }
    if (auto e = need_store()) {
      return *e;
    }
    return list(q);
  }
  if (path == std::string(kOverrides) + "/import") {
    if (req.method != "POST") {
      return method_not_allowed("POST");
    }
    if (auto e = need_rw()) {
      return *e;
    }
    if (auto e = need_store()) {
      return *e;
    }
    return import(req, q, who);
  }
  if (path.starts_with(std::string(kOverrides) + "/")) {
    const auto key_text = decode(path.substr(kOverrides.size() + 1));
    if (!key_text) {
      return error_response(400, "bad % escape in the path");
    }
    if (req.method != "GET" && req.method != "HEAD" && req.method != "PUT" &&
        req.method != "DELETE") {
      return method_not_allowed("GET, HEAD, PUT, DELETE");
    }
    if (auto e = need_rw()) {
      return *e;
    }
    mapctl::Key k;
    std::string why;
    if (!mapctl::parse_key(*key_text, k, why)) {
      return error_response(400, why);
    }
    if (auto e = need_store()) {
      return *e;
    }
    if (req.method == "PUT") {
      return put(k, *key_text, req.body, who);
    }
    if (req.method == "DELETE") {
      return del(k, who);
    }
    return get_one(k);
  }
  return error_response(404, "no such API path: " + mapctl::json::printable(path) +
                                 " (see /api/v1/overrides, /api/v1/lookup/X, /api/v1/stats)");
}

http::Response Api::State::list(const Query& q) {
  std::optional<dns::Prefix> within;
  if (const std::string* w = q.get("within")) {
    mapctl::Key k;
    std::string why;
    if (!mapctl::parse_key(*w, k, why)) {
      return error_response(400, "within: " + why);
    }
    within = k.prefix;
  }
  std::size_t limit = kDefaultLimit;
  if (const std::string* l = q.get("limit")) {
    const auto [ptr, ec] = std::from_chars(l->data(), l->data() + l->size(), limit);
    if (ec != std::errc{} || ptr != l->data() + l->size() || limit == 0 || limit > kMaxLimit) {
      return error_response(400, "limit '" + mapctl::json::printable(*l) + "': give 1 to " +
                                     std::to_string(kMaxLimit) + " (default " +
                                     std::to_string(kDefaultLimit) + ")");
    }
  }
  std::optional<store::ListKey> after;
  if (const std::string* a = q.get("after")) {
    mapctl::Key k;
    std::string why;
    if (!mapctl::parse_key(*a, k, why)) {
      return error_response(400, "after: " + why);
    }
    after = store::ListKey{k.is_prefix, k.prefix};
  }
  Json rows = Json::array();
  std::string last;
  bool more = false;
  try {
    store->list(
        within, limit + 1,
        [&](const store::ListEntry& e) {
          const mapctl::Key k{e.is_prefix, e.prefix};
          if (rows.size() == limit) {
            more = true;
            return;
          }
          rows.push_back(
              mapctl::row_json(k, e.value.kind, e.value.target, e.value.ttl, e.value.timestamp_ns));
          last = k.to_string();
        },
        after);
  } catch (const std::exception& e) {
    return error_response(500, e.what());
  }
  Json body;
  body["overrides"] = std::move(rows);
  // The next page: ?after=NEXT (with the same within and limit); null on the last page.
  body["next"] = more ? Json(last) : Json(nullptr);
  return json_response(200, body);
}

http::Response Api::State::get_one(const mapctl::Key& k) {
  try {
    const auto v = k.is_prefix ? store->get_prefix(k.prefix) : store->get_address(k.address());
    if (!v) {
      return error_response(404, "no override for " + k.to_string());
    }
    return json_response(200, mapctl::row_json(k, v->kind, v->target, v->ttl, 0));
  } catch (const std::exception& e) {
    return error_response(500, e.what());
  }
}

http::Response Api::State::put(const mapctl::Key& k, const std::string& key_text,
                               const std::string& body, const Remembered& who) {
  Json j;
  try {
    j = Json::parse(body);
  } catch (const Json::parse_error& e) {
    std::string why = e.what();
    if (const auto dash = why.find(" - "); dash != std::string::npos) {
      why = why.substr(dash + 3);
    }
    return error_response(400, "invalid JSON body: column " + std::to_string(e.byte) + ": " + why);
  }
  const char* shape =
      "the body is {\"name\": NAME} for an address, {\"template\": TEMPLATE} for a prefix, or "
      "{\"none\": true}; with \"ttl\" (seconds, 0 = the configured TTL) and \"force\" if needed";
  if (!j.is_object()) {
    return error_response(400, shape);
  }
  bool none = false;
  bool force = false;
  std::string target;
  std::uint32_t ttl = 0;
  int given = 0;
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& name = it.key();
    const Json& v = it.value();
    if (name == "name" || name == "template") {
      if (!v.is_string()) {
        return error_response(400, "\"" + name + "\" must be a string: " + shape);
      }
      if ((name == "name") == k.is_prefix) {
        return error_response(400, k.is_prefix ? k.to_string() +
                                                     " is a prefix: it takes a \"template\", not "
                                                     "a \"name\""
                                               : k.to_string() +
                                                     " is an address: it takes a \"name\", not a "
                                                     "\"template\"");
      }
      target = v.get<std::string>();
      ++given;
    } else if (name == "none") {
      if (!v.is_boolean() || !v.get<bool>()) {
        return error_response(400, "\"none\" must be true: " + std::string(shape));
      }
      none = true;
      ++given;
    } else if (name == "ttl") {
      if (!v.is_number_unsigned() || v.get<std::uint64_t>() > mapctl::kMaxTtl) {
        return error_response(400, "\"ttl\" must be a whole number of seconds from 0 to " +
                                       std::to_string(mapctl::kMaxTtl));
      }
      ttl = static_cast<std::uint32_t>(v.get<std::uint64_t>());
    } else if (name == "force") {
      if (!v.is_boolean()) {
        return error_response(400, "\"force\" must be true or false");
      }
      force = v.get<bool>();
    } else {
      return error_response(400, "unknown key \"" + mapctl::json::printable(name) + "\": " + shape);
    }
  }
  if (given != 1) {
    return error_response(400, shape);
  }
  mapctl::Record r;
  if (OpResult c = mapctl::check_put(*loaded, key_text, none, target, ttl, force, r); !c.ok()) {
    return result_response(c);
  }
  const OpResult res = mapctl::put(force ? *store_force : *store, r);
  if (res.ok()) {
    log::info("api: key " + who.name + ": " + res.text);
  }
  return result_response(res);
}

http::Response Api::State::del(const mapctl::Key& k, const Remembered& who) {
  const OpResult res = mapctl::del(*store, k);
  if (res.ok()) {
    log::info("api: key " + who.name + ": " + res.text);
  }
  return result_response(res);
}

http::Response Api::State::import(const http::Request& req, const Query& q, const Remembered& who) {
  mapctl::Format format = mapctl::Format::csv;
  if (const std::string* f = q.get("format")) {
    const auto parsed = mapctl::format_from_name(*f);
    if (!parsed) {
      return error_response(400, "format '" + mapctl::json::printable(*f) + "': csv or jsonl");
    }
    format = *parsed;
  } else {
    const std::string_view ct =
        std::string_view(req.content_type)
            .substr(0, std::min(req.content_type.find(';'), req.content_type.size()));
    if (ct == "application/x-ndjson" || ct == "application/jsonl" ||
        ct == "application/json-lines" || ct == "application/json") {
      format = mapctl::Format::jsonl;
    }
  }
  std::optional<dns::Prefix> within;
  if (const std::string* w = q.get("replace_within")) {
    mapctl::Key k;
    std::string why;
    if (!mapctl::parse_key(*w, k, why)) {
      return error_response(400, "replace_within: " + why);
    }
    if (!k.is_prefix) {
      return error_response(
          400, "replace_within " + k.to_string() + ": give a prefix (an address is not a range)");
    }
    within = k.prefix;
  }
  const bool force = q.flag("force");
  const bool dry_run = q.flag("dry_run");
  const OpResult res = mapctl::import(*loaded, force ? *store_force : *store, req.body, format,
                                      "body", force, dry_run, within);
  if (res.ok() && !dry_run) {
    log::info("api: key " + who.name + ": " + res.text);
  }
  return result_response(res);
}

Api::Api(std::function<std::shared_ptr<const mapper::Mapper>()> current, std::string config_file)
    : state_(std::make_unique<State>()) {
  state_->current = std::move(current);
  state_->config_file = std::move(config_file);
}

Api::~Api() = default;

http::Response Api::handle(const http::Request& request) {
  State& s = *state_;
  auto who = s.authenticate(request);
  if (auto* r = std::get_if<http::Response>(&who)) {
    return *r;
  }
  const auto now = s.current();
  if (std::string why = s.prepare(now); !why.empty() && !s.loaded) {
    return error_response(500, why);
  }
  return s.route(request, std::get<State::Remembered>(who));
}

}  // namespace amap::api
