// SPDX-License-Identifier: MIT
#include "tools/mapctl/commands.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <set>
#include <span>
#include <string>
#include <string_view>

#include "mapper/app/log.h"
#include "mapper/app/testing.h"
#include "mapper/core/reverse_name.h"
#include "mapper/core/template.h"
#include "mapper/engine/load.h"
#include "mapper/engine/mapper.h"
#include "store/overrides.h"
#include "store/sync/replication.h"
#include "store/verify.h"
#include "tools/mapctl/api_keys.h"
#include "tools/mapctl/json.h"
#include "tools/mapctl/ops.h"
#include "tools/mapctl/progress.h"
#include "tools/mapctl/records.h"

namespace amap::mapctl {
namespace {

// ------------------------------------------------------------------------------------ output

// Messages quote the operator's input (file names, import fields, YAML): printed escaped
// (json::printable), so a NUL cannot cut a line short and control bytes reach no terminal.
void error(const std::string& msg) {
  std::fprintf(stderr, "mapctl: error: %s\n", json::printable(msg).c_str());
}
void warning(const std::string& msg) {
  std::fprintf(stderr, "mapctl: warning: %s\n", json::printable(msg).c_str());
}
/// One `file:line: message` line of an import, escaped.
void line_error(const std::string& file, std::uint64_t line, const std::string& msg) {
  std::fprintf(stderr, "%s:%llu: %s\n", json::printable(file).c_str(),
               static_cast<unsigned long long>(line), json::printable(msg).c_str());
}
void out(const std::string& text) {
  std::fwrite(text.data(), 1, text.size(), stdout);
}
void out_line(const std::string& text) {
  out(text);
  std::fputc('\n', stdout);
}

std::string ttl_text(std::uint32_t ttl) {
  return ttl == 0 ? std::string("default") : std::to_string(ttl);
}

std::string row_text(const Key& k, store::OverrideKind kind, std::string_view target,
                     std::uint32_t ttl, std::uint64_t updated_ns) {
  std::string s = k.to_string();
  s += ' ';
  s += store::to_string(kind);
  s += ' ';
  s += target.empty() ? std::string_view("-") : target;
  s += " ttl=" + ttl_text(ttl);
  if (updated_ns != 0) {
    s += " updated=" + format_timestamp(updated_ns);
  }
  return s;
}

// ------------------------------------------------------------------------------------ config

void print_diagnostics(const config::Diagnostics& diagnostics) {
  diagnostics.print(
      [](const std::string& line) { std::fprintf(stderr, "%s\n", json::printable(line).c_str()); });
}

/// The configuration and its mapper (load_and_build), or nullopt after printing every error.
std::optional<Loaded> load_config(
    const std::string& file,
    mapper::LoadAndBuildOptions::Store store = mapper::LoadAndBuildOptions::Store::none) {
  config::Diagnostics diagnostics;
  mapper::LoadAndBuildOptions options;
  options.store = store;
  std::shared_ptr<const mapper::Mapper> m = mapper::load_and_build(file, options, diagnostics);
  if (!m) {
    print_diagnostics(diagnostics);
    error("the configuration " + file +
          " has errors (listed above): fix them, then run the command again (`mapctl check` "
          "re-checks it; -c FILE or AUTOMAP_CONFIG picks another file)");
    return std::nullopt;
  }
  return Loaded{file, m->config(), m};
}

bool require_store(const Loaded& l) {
  if (!l.config.store.present) {
    error("no store configured: add `store: { path: DIR }` to " + l.file);
    return false;
  }
  return true;
}

bool store_exists(const Loaded& l) {
  std::error_code ec;
  return std::filesystem::exists(std::filesystem::path(l.config.store.path) / "data.mdb", ec);
}

/// `whole`: the verb reads or rewrites the whole store (list, export, stats, import), so the
/// open walks every page first and refuses a damaged file instead of crashing on it (store/
/// verify.h). Single-key verbs check only the meta pages against the file.
store::StoreOptions store_options(const Loaded& l, bool whole = false) {
  store::StoreOptions so;
  so.path = l.config.store.path;
  so.map_size = l.config.store.map_size;
  so.max_readers = l.config.store.max_readers;
  so.verify_pages = whole;
  return so;
}

}  // namespace

store::sync::EtcdOptions etcd_options(const config::EtcdSyncConfig& e) {
  store::sync::EtcdOptions o;
  o.endpoints = e.endpoints;
  o.timeout = std::chrono::milliseconds(e.timeout_ms);
  o.tls = e.tls;
  o.ca_file = e.ca.path;
  o.cert_file = e.cert.path;
  o.key_file = e.key.path;
  o.server_name = e.server_name;
  o.user = e.user;
  o.password_file = e.password_file.path;
  return o;
}

void use_source_of_truth(store::OverrideStore& st, const config::StoreConfig& c) {
  if (const config::EtcdSyncConfig& e = c.etcd; e.present) {
    // Writes go to etcd; this node's automapd brings them back.
    st.set_replication(store::sync::etcd_replication(
                           std::make_shared<store::sync::EtcdClient>(etcd_options(e)), e.prefix),
                       std::chrono::milliseconds(e.timeout_ms));
  }
}

namespace {

/// A write that threw: unavailable when etcd could not take it, else failed.
Outcome failure(const std::exception& e) {
  return dynamic_cast<const store::sync::EtcdError*>(&e) != nullptr ? Outcome::unavailable
                                                                    : Outcome::failed;
}

/// Opens the store read-write (creating it), with the configuration's write rules (template
/// collisions; shared names only with `force`). Read verbs call this only when it exists.
/// `whole`: see store_options.
std::unique_ptr<store::OverrideStore> open_store(const Loaded& l, bool whole = false,
                                                 bool force = false) {
  try {
    auto st = std::make_unique<store::OverrideStore>(store_options(l, whole));
    st->set_write_rules(l.mapper->write_rules(force));
    if (l.config.store.etcd.present) {
      config::Diagnostics files;
      config::check_etcd_files(l.config, files);
      if (!files.ok()) {
        print_diagnostics(files);
        error("cannot talk to etcd: the files store.sync.etcd names are not readable (above)");
        return nullptr;
      }
    }
    use_source_of_truth(*st, l.config.store);
    return st;
  } catch (const std::exception& e) {
    error(std::string(e.what()));
    return nullptr;
  }
}

std::unique_ptr<store::OverrideStore> open_existing_store(const Loaded& l, bool whole = false) {
  if (!store_exists(l)) {
    error("the store " + l.config.store.path +
          " does not exist yet (no overrides): `mapctl add` or `mapctl import` creates it, and "
          "so does starting automapd");
    return nullptr;
  }
  return open_store(l, whole);
}

// ------------------------------------------------------------------------------------- purge

/// Runs `pdns_control [--socket-dir=DIR] purge NAME` and returns "" or what went wrong.
std::string run_pdns_control(const PurgeOptions& p, const std::string& arg) {
  std::vector<std::string> args{p.pdns_control};
  if (!p.socket_dir.empty()) {
    args.push_back("--socket-dir=" + p.socket_dir);
  }
  args.emplace_back("purge");
  args.push_back(arg);
  std::vector<char*> argv;
  argv.reserve(args.size() + 1);
  for (auto& a : args) {
    argv.push_back(a.data());
  }
  argv.push_back(nullptr);
  std::fflush(stdout);
  std::fflush(stderr);
  const pid_t pid = ::fork();
  if (pid < 0) {
    return std::string("fork failed: ") + std::strerror(errno);
  }
  if (pid == 0) {
    const int devnull = ::open("/dev/null", O_WRONLY);
    if (devnull >= 0) {
      ::dup2(devnull, STDOUT_FILENO);
    }
    ::execvp(argv[0], argv.data());
    std::fprintf(stderr, "mapctl: cannot run %s: %s\n", argv[0], std::strerror(errno));
    ::_exit(127);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) {
      return std::string("waitpid failed: ") + std::strerror(errno);
    }
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
    return {};
  }
  if (WIFEXITED(status)) {
    return "exit status " + std::to_string(WEXITSTATUS(status)) +
           (WEXITSTATUS(status) == 127 ? " (not found?)" : "");
  }
  return "killed by signal " + std::to_string(WTERMSIG(status));
}

/// Purges `NAME$` for every name; warnings only (the store change has landed).
void purge(const PurgeOptions& p, const std::set<std::string>& names) {
  if (!p.enabled) {
    return;
  }
  for (const auto& n : names) {
    const std::string arg = n + "$";
    if (std::string why = run_pdns_control(p, arg); !why.empty()) {
      warning("the change is stored and automap answers it now, but `" + p.pdns_control +
              (p.socket_dir.empty() ? "" : " --socket-dir=" + p.socket_dir) + " purge " + arg +
              "` failed (" + why +
              "): PowerDNS may serve the old answer until its cache entry expires (cache-ttl): "
              "check that pdns_server runs and --pdns-socket-dir points at its socket-dir");
    }
  }
}

/// Forward suffix of a template (or "" when it does not compile for `p`).
std::string template_suffix(std::string_view text, const dns::Prefix& p) {
  auto t = mapper::Template::compile(text, p);
  if (!t || t->suffix().is_root()) {
    return {};
  }
  return t->suffix().to_string();
}

/// What a change of `k` may have changed in PowerDNS's caches.
std::set<std::string> purge_names(const Loaded& l, const Key& k,
                                  const std::optional<store::Override>& before,
                                  const std::optional<store::Override>& after) {
  std::set<std::string> names;
  if (!k.is_prefix) {
    names.insert(mapper::to_reverse_name(k.address()).to_string());
    for (const auto* o : {&before, &after}) {
      if (*o && (*o)->kind == store::OverrideKind::name) {
        names.insert((*o)->target);
      }
    }
    return names;
  }
  names.insert(mapper::reverse_zone_for(k.prefix).to_string());
  for (const auto* o : {&before, &after}) {
    if (*o && (*o)->kind == store::OverrideKind::name_template) {
      if (auto s = template_suffix((*o)->target, k.prefix); !s.empty()) {
        names.insert(s);
      }
    }
  }
  // Names that config templates give inside the prefix start or stop resolving forward.
  for (const auto& r : l.mapper->rules()) {
    if (r.name && r.forward && (r.prefix.contains(k.prefix) || k.prefix.contains(r.prefix)) &&
        !r.name->suffix().is_root()) {
      names.insert(r.name->suffix().to_string());
    }
  }
  return names;
}

// -------------------------------------------------------------------------------------- keys

bool parse_key_arg(const std::string& text, Key& k) {
  std::string why;
  if (!parse_key(text, k, why)) {
    error(why);
    return false;
  }
  return true;
}

std::string describe(const store::Override& o) {
  std::string s(store::to_string(o.kind));
  if (!o.target.empty()) {
    s += " " + o.target;
  }
  s += " ttl=" + ttl_text(o.ttl);
  return s;
}

std::optional<store::Override> get_one(const store::OverrideStore& st, const Key& k) {
  return k.is_prefix ? st.get_prefix(k.prefix) : st.get_address(k.address());
}

// ------------------------------------------------------------------------------------ import

/// Reads a whole file. "" with `why` set on failure.
bool read_file(const std::string& path, std::string& data, std::string& why) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    why = "cannot open " + path + ": " + std::strerror(errno);
    return false;
  }
  struct stat st {};
  if (::fstat(fd, &st) == 0 && st.st_size > 0) {
    data.reserve(static_cast<std::size_t>(st.st_size));
  }
  char buf[1 << 16];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      why = "cannot read " + path + ": " + std::strerror(errno);
      ::close(fd);
      return false;
    }
    if (n == 0) {
      break;
    }
    data.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return true;
}

/// The import lines that break the store's write rules, as `file:line: message` naming the
/// other side's line when the file gives it too, then the summary: a conflict.
OpResult conflicts_result(std::vector<store::WriteConflict> conflicts, std::size_t records,
                          std::size_t lines, const std::string& file) {
  std::stable_sort(
      conflicts.begin(), conflicts.end(),
      [](const store::WriteConflict& a, const store::WriteConflict& b) { return a.seq < b.seq; });
  OpResult r;
  r.outcome = Outcome::conflict;
  for (const auto& c : conflicts) {
    const std::string where = c.other_seq != 0    ? " (line " + std::to_string(c.other_seq) + ")"
                              : c.other_in_config ? std::string()
                                                  : std::string(" in the store");
    if (c.seq > lines) {  // erased by --replace-within: no line of the file
      r.errors.push_back("removing " + Key{c.is_prefix, c.key}.to_string() + " (not in " + file +
                         "): " + c.message(where));
    } else {
      r.lines.push_back({c.seq, c.message(where)});
    }
  }
  r.errors.push_back(file + ": " + std::to_string(conflicts.size()) + " line" +
                     (conflicts.size() == 1 ? "" : "s") + " out of " + std::to_string(records) +
                     " conflict with other overrides, nothing imported: fix " +
                     (conflicts.size() == 1 ? "it" : "them") +
                     " and run the import again (--force lets addresses share a name; the later "
                     "line wins)");
  return r;
}

/// The bad lines of an import file, and the summary: bad_request.
OpResult bad_lines_result(const ParsedFile& parsed, const std::string& file) {
  OpResult r;
  r.outcome = Outcome::bad_request;
  r.lines = parsed.errors;
  r.errors.push_back(file + ": " + std::to_string(parsed.errors.size()) + " bad line" +
                     (parsed.errors.size() == 1 ? "" : "s") + " out of " +
                     std::to_string(parsed.records) + ", nothing imported: fix " +
                     (parsed.errors.size() == 1 ? "it" : "them") + " and run the import again");
  return r;
}

/// A sync's lines outside its prefix (they would survive it: a mistake in the file or the
/// option): bad_request; ok when there are none.
OpResult outside_result(const ParsedFile& parsed, const dns::Prefix& p, const std::string& file) {
  OpResult r;
  for (const auto& c : parsed.changes) {
    if (!inside(p, c.is_prefix, c.key)) {
      r.lines.push_back({c.seq, Key{c.is_prefix, c.key}.to_string() +
                                    " is outside --replace-within " + p.to_string()});
    }
  }
  if (!r.lines.empty()) {
    r.outcome = Outcome::bad_request;
    r.errors.push_back(file + ": " + std::to_string(r.lines.size()) + " line" +
                       (r.lines.size() == 1 ? "" : "s") + " outside --replace-within " +
                       p.to_string() +
                       ", nothing imported: a sync replaces only what lies inside the prefix "
                       "(drop the lines, or widen the prefix)");
  }
  return r;
}

/// Prints `r` as mapctl does: at most `max_errors` file:line errors (0 = all), then the rest.
int report_lines(const OpResult& r, const std::string& file, std::size_t max_errors) {
  std::size_t shown = 0;
  for (const auto& e : r.lines) {
    if (max_errors != 0 && shown == max_errors) {
      break;
    }
    line_error(file, e.line, e.message);
    ++shown;
  }
  if (shown < r.lines.size()) {
    std::fprintf(stderr, "%s: %zu more errors not shown (--max-errors 0 shows all)\n",
                 json::printable(file).c_str(), r.lines.size() - shown);
  }
  for (const auto& e : r.errors) {
    error(e);
  }
  return r.ok() ? kExitOk : kExitError;
}

/// Names to purge after a bulk change: one per reverse zone a key (or `within`) lies in, and
/// every forward zone: per-name purges would not scale to a big import.
std::set<std::string> zone_purge_names(const Loaded& l, std::span<const store::Change> changes,
                                       const std::optional<dns::Prefix>& within) {
  std::set<std::string> names;
  const auto& rz = l.mapper->reverse_zones();
  const auto add = [&](bool is_prefix, const dns::Prefix& key) {
    const dns::Name own =
        is_prefix ? mapper::reverse_zone_for(key) : mapper::to_reverse_name(key.address);
    auto it = std::find_if(rz.begin(), rz.end(),
                           [&](const dns::Name& z) { return own.is_subdomain_of(z); });
    names.insert(it != rz.end() ? it->to_string() : mapper::reverse_zone_for(key).to_string());
  };
  for (const auto& c : changes) {
    add(c.is_prefix, c.key);
  }
  if (within) {
    add(true, *within);
  }
  for (const auto& z : l.mapper->forward_zones()) {
    names.insert(z.to_string());
  }
  return names;
}

/// --within / --replace-within: a prefix, or false after printing why.
bool parse_within(const std::string& option, const std::string& text, dns::Prefix& out) {
  Key k;
  if (!parse_key_arg(text, k)) {
    return false;
  }
  if (!k.is_prefix) {
    error(option + " " + text + ": give a prefix such as " + k.to_string() + "/" +
          std::to_string(k.prefix.length) + " (an address is not a range)");
    return false;
  }
  out = k.prefix;
  return true;
}

/// The counts of a bulk write, as text ("2 added, 1 replaced, ...") or JSON members.
std::string counts_text(const store::ApplyResult& r) {
  return std::to_string(r.added) + " added, " + std::to_string(r.replaced) + " replaced, " +
         std::to_string(r.unchanged) + " unchanged, " + std::to_string(r.erased) + " removed";
}
void counts_json(Json& j, const store::ApplyResult& r) {
  j["added"] = r.added;
  j["replaced"] = r.replaced;
  j["unchanged"] = r.unchanged;
  j["removed"] = r.erased;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

namespace {
Json import_json(const std::string& file, bool dry_run, const store::ApplyResult& res,
                 const std::optional<dns::Prefix>& within, double seconds) {
  Json j;
  j["file"] = file;
  j["dry_run"] = dry_run;
  j["overrides"] = res.written;
  counts_json(j, res);
  if (within) {
    j["replace_within"] = within->to_string();
  }
  j["seconds"] = json::rounded(seconds);
  return j;
}
}  // namespace

// ---------------------------------------------------------------------------------------- add

Json row_json(const Key& k, store::OverrideKind kind, std::string_view target, std::uint32_t ttl,
              std::uint64_t updated_ns) {
  Json j;
  j["address_or_prefix"] = k.to_string();
  j["kind"] = store::to_string(kind);
  j["target"] = target;
  j["ttl"] = ttl;
  if (updated_ns != 0) {
    j["updated"] = format_timestamp(updated_ns);
  }
  return j;
}

bool inside(const dns::Prefix& p, bool is_prefix, const dns::Prefix& key) {
  return p.contains(key.address) && (!is_prefix || key.length >= p.length);
}

/// Prints an OpResult's errors and warnings (mapctl's stderr lines); its exit status.
int report(const OpResult& r, const std::string& file = {}) {
  for (const auto& w : r.warnings) {
    warning(w);
  }
  for (const auto& e : r.lines) {
    line_error(file, e.line, e.message);
  }
  for (const auto& e : r.errors) {
    error(e);
  }
  return r.ok() ? kExitOk : kExitError;
}

OpResult check_put(const Loaded& l, const std::string& key, bool none, const std::string& target,
                   std::uint32_t ttl, bool force, Record& r) {
  std::string why;
  if (!parse_key(key, r.key, why)) {
    return OpResult::fail(Outcome::bad_request, why);
  }
  if (none) {
    r.value = store::Override::none(ttl);
  } else {
    r.value.kind = r.key.is_prefix ? store::OverrideKind::name_template : store::OverrideKind::name;
    r.value.target = target;
    r.value.ttl = ttl;
  }
  const Validator v(l.mapper, l.file, force);
  if (!v.check(r, why)) {
    return OpResult::fail(Outcome::bad_request, why);
  }
  return {};
}

namespace {
OpResult put_impl(store::OverrideStore& st, const Record& r,
                  std::optional<store::Override>& before) {
  OpResult res;
  try {
    before = get_one(st, r.key);
    std::optional<dns::IpAddress> previous_owner;
    if (r.value.kind == store::OverrideKind::name) {
      if (auto n = dns::Name::from_text(r.value.target)) {
        previous_owner = st.get_name(*n);
      }
    }
    if (r.key.is_prefix) {
      st.put_prefix(r.key.prefix, r.value);
    } else {
      st.put_address(r.key.address(), r.value);
    }
    if (previous_owner && *previous_owner != r.key.address()) {
      // Only with --force: without it the store refuses a shared name.
      res.warnings.push_back("the name " + r.value.target + " was the override of " +
                             previous_owner->to_string() + " too: it now resolves forward to " +
                             r.key.to_string() + " only (the PTR of " +
                             previous_owner->to_string() + " is unchanged)");
    }
  } catch (const store::WriteConflictError& e) {
    res.outcome = Outcome::conflict;
    for (const auto& c : e.conflicts()) {
      res.errors.push_back(c.message() + "; nothing was changed");
    }
    return res;
  } catch (const std::exception& e) {
    return OpResult::fail(failure(e), std::string(e.what()) + "; nothing was changed");
  }
  res.outcome = before ? Outcome::ok : Outcome::created;
  const std::string verb = before ? "replaced" : "added";
  res.text = verb + " " + r.key.to_string() + ": " + describe(r.value) +
             (before ? " (was " + describe(*before) + ")" : "");
  res.body["result"] = verb;
  res.body["override"] = row_json(r.key, r.value.kind, r.value.target, r.value.ttl, 0);
  if (before) {
    res.body["was"] = row_json(r.key, before->kind, before->target, before->ttl, 0);
  }
  return res;
}
}  // namespace

OpResult put(store::OverrideStore& st, const Record& record) {
  std::optional<store::Override> before;
  return put_impl(st, record, before);
}

int cmd_add(const Options& o) {
  auto l = load_config(o.config);
  if (!l || !require_store(*l)) {
    return kExitError;
  }
  Record r;
  if (const OpResult c = check_put(*l, o.key, o.none, o.target, o.ttl.value_or(0), o.force, r);
      !c.ok()) {
    return report(c);
  }
  auto st = open_store(*l, /*whole=*/false, o.force);
  if (!st) {
    return kExitError;
  }
  std::optional<store::Override> before;
  const OpResult res = put_impl(*st, r, before);
  if (report(res) != kExitOk) {
    return kExitError;
  }
  out_line(res.text);
  purge(o.purge, purge_names(*l, r.key, before, r.value));
  return kExitOk;
}

// ---------------------------------------------------------------------------------------- del

namespace {

/// Parses a del --from list: one ADDR_OR_PREFIX per line, or a CSV line whose first field is
/// one (so `mapctl export` output works); `#` comments, blank lines and the CSV header are
/// skipped. Bad lines are printed as file:line; false if there were any.
bool parse_key_list(const Options& o, const std::string& data, std::vector<store::Change>& out,
                    std::size_t& lines) {
  std::size_t bad = 0;
  std::size_t pos = 0;
  lines = 0;
  while (pos < data.size()) {
    std::size_t end = data.find('\n', pos);
    if (end == std::string::npos) {
      end = data.size();
    }
    std::string_view line(data.data() + pos, end - pos);
    pos = end + 1;
    ++lines;
    if (lines == 1 && line.starts_with("\xEF\xBB\xBF")) {
      line.remove_prefix(3);  // a byte order mark
    }
    if (const std::size_t comma = line.find(','); comma != std::string_view::npos) {
      line = line.substr(0, comma);
    }
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) {
      line.remove_suffix(1);
    }
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) {
      line.remove_prefix(1);
    }
    if (line.empty() || line.front() == '#' || line == "address_or_prefix") {
      continue;
    }
    Key k;
    std::string why;
    if (!parse_key(line, k, why)) {
      if (o.max_errors == 0 || bad < o.max_errors) {
        line_error(o.from, lines, why);
      }
      ++bad;
      continue;
    }
    store::Change c = k.is_prefix ? store::Change::erase_prefix(k.prefix)
                                  : store::Change::erase_address(k.address());
    c.seq = lines;
    out.push_back(std::move(c));
  }
  if (bad != 0) {
    error(o.from + ": " + std::to_string(bad) + " bad line" + (bad == 1 ? "" : "s") +
          ", nothing deleted: fix " + (bad == 1 ? "it" : "them") + " and run the command again");
    return false;
  }
  return true;
}

/// del --within PREFIX and del --from FILE: one write transaction, all or nothing.
int del_bulk(const Options& o, const Loaded& l) {
  std::vector<store::Change> changes;
  std::optional<dns::Prefix> within;
  std::size_t lines = 0;
  std::string what;  // "inside P" or "listed in FILE"
  if (!o.within.empty()) {
    dns::Prefix p;
    if (!parse_within("--within", o.within, p)) {
      return kExitError;
    }
    within = p;
    what = "inside " + p.to_string();
  } else {
    std::string data;
    std::string why;
    if (!read_file(o.from, data, why)) {
      error(why);
      return kExitError;
    }
    if (!parse_key_list(o, data, changes, lines)) {
      return kExitError;
    }
    what = "listed in " + o.from;
  }
  auto st = open_store(l, /*whole=*/true);
  if (!st) {
    return kExitError;
  }
  store::ApplyResult res;
  try {
    store::ApplyOptions ao;
    ao.dry_run = o.dry_run;
    ao.replace_within = within;
    res = st->apply(changes, ao);
  } catch (const store::WriteConflictError& e) {
    for (const auto& c : e.conflicts()) {
      const std::string msg = "deleting " + Key{c.is_prefix, c.key}.to_string() +
                              " would bring back a configured template: " + c.message();
      if (within || c.seq > lines) {
        error(msg);
      } else {
        line_error(o.from, c.seq, msg);
      }
    }
    error(
        "nothing was deleted (all or nothing): keep the override(s) named above, or change "
        "the configuration first");
    return kExitError;
  } catch (const std::exception& e) {
    error(std::string(e.what()) + "; nothing was deleted (one transaction)");
    return kExitError;
  }
  const std::size_t missing = within ? 0 : changes.size() - res.erased;
  if (o.json) {
    Json j;
    j["dry_run"] = o.dry_run;
    if (within) {
      j["within"] = within->to_string();
    } else {
      j["from"] = o.from;
      j["listed"] = changes.size();
      j["not_found"] = missing;
    }
    j["removed"] = res.erased;
    out_line(json::dump(j));
  } else {
    out_line(std::string(o.dry_run ? "dry run: would delete " : "deleted ") +
             std::to_string(res.erased) + " override" + (res.erased == 1 ? "" : "s") + " " + what +
             (o.dry_run ? "; nothing written" : " in one transaction") +
             (missing != 0 ? " (" + std::to_string(missing) + " listed key" +
                                 (missing == 1 ? " had" : "s had") + " no override)"
                           : ""));
  }
  if (!o.dry_run && res.erased != 0) {
    purge(o.purge, zone_purge_names(l, changes, within));
  }
  return kExitOk;
}

}  // namespace

namespace {
OpResult del_impl(store::OverrideStore& st, const Key& k, std::optional<store::Override>& before) {
  bool removed = false;
  try {
    before = get_one(st, k);
    removed = k.is_prefix ? st.erase_prefix(k.prefix) : st.erase_address(k.address());
  } catch (const store::WriteConflictError& e) {
    OpResult res;
    res.outcome = Outcome::conflict;
    for (const auto& c : e.conflicts()) {
      res.errors.push_back("deleting " + k.to_string() +
                           " would bring back a configured template: " + c.message() +
                           "; nothing was changed");
    }
    return res;
  } catch (const std::exception& e) {
    return OpResult::fail(failure(e), std::string(e.what()) + "; nothing was changed");
  }
  if (!removed) {
    return OpResult::fail(Outcome::not_found, "no override for " + k.to_string() +
                                                  ": nothing to delete (`mapctl list` shows them)");
  }
  OpResult res;
  res.text = "deleted " + k.to_string() + (before ? " (was " + describe(*before) + ")" : "");
  res.body["result"] = "deleted";
  res.body["address_or_prefix"] = k.to_string();
  if (before) {
    res.body["was"] = row_json(k, before->kind, before->target, before->ttl, 0);
  }
  return res;
}
}  // namespace

OpResult del(store::OverrideStore& st, const Key& k) {
  std::optional<store::Override> before;
  return del_impl(st, k, before);
}

int cmd_del(const Options& o) {
  auto l = load_config(o.config);
  if (!l || !require_store(*l)) {
    return kExitError;
  }
  if (!o.within.empty() || !o.from.empty()) {
    return del_bulk(o, *l);
  }
  Key k;
  if (!parse_key_arg(o.key, k)) {
    return kExitError;
  }
  auto st = open_store(*l);
  if (!st) {
    return kExitError;
  }
  std::optional<store::Override> before;
  const OpResult res = del_impl(*st, k, before);
  if (report(res) != kExitOk) {
    return kExitError;
  }
  out_line(res.text);
  purge(o.purge, purge_names(*l, k, before, std::nullopt));
  return kExitOk;
}

// ---------------------------------------------------------------------------------------- get

int cmd_get(const Options& o) {
  auto l = load_config(o.config);
  if (!l || !require_store(*l)) {
    return kExitError;
  }
  Key k;
  if (!parse_key_arg(o.key, k)) {
    return kExitError;
  }
  auto st = open_existing_store(*l);
  if (!st) {
    return kExitError;
  }
  std::optional<store::Override> v;
  try {
    v = get_one(*st, k);
  } catch (const std::exception& e) {
    error(e.what());
    return kExitError;
  }
  if (!v) {
    error("no override for " + k.to_string() + " (`mapctl lookup " + k.to_string() +
          "` shows what automap answers there)");
    return kExitError;
  }
  if (o.json) {
    out_line(json::dump(row_json(k, v->kind, v->target, v->ttl, 0)));
  } else {
    out_line(row_text(k, v->kind, v->target, v->ttl, 0));
  }
  return kExitOk;
}

// --------------------------------------------------------------------------------------- list

int cmd_list(const Options& o) {
  auto l = load_config(o.config);
  if (!l || !require_store(*l)) {
    return kExitError;
  }
  std::optional<dns::Prefix> within;
  if (!o.key.empty()) {
    Key k;
    if (!parse_key_arg(o.key, k)) {
      return kExitError;
    }
    within = k.prefix;
  }
  auto st = open_existing_store(*l, /*whole=*/true);
  if (!st) {
    return kExitError;
  }
  std::string buf;
  try {
    st->list(within, o.limit, [&](const store::ListEntry& e) {
      const Key k{e.is_prefix, e.prefix};
      if (o.json) {
        buf += json::dump(
            row_json(k, e.value.kind, e.value.target, e.value.ttl, e.value.timestamp_ns));
      } else {
        buf += row_text(k, e.value.kind, e.value.target, e.value.ttl, e.value.timestamp_ns);
      }
      buf += '\n';
      if (buf.size() > (1U << 16)) {
        out(buf);
        buf.clear();
      }
    });
  } catch (const std::exception& e) {
    out(buf);
    error(e.what());
    return kExitError;
  }
  out(buf);
  return kExitOk;
}

// ------------------------------------------------------------------------------------- import

int cmd_import(const Options& o) {
  auto l = load_config(o.config);
  if (!l || !require_store(*l)) {
    return kExitError;
  }
  Format format = format_for_path(o.file);
  if (!o.format.empty()) {
    format = *format_from_name(o.format);
  }
  const auto t0 = std::chrono::steady_clock::now();
  const bool tty = Progress::tty_stderr();
  std::string data;
  std::string why;
  if (!read_file(o.file, data, why)) {
    error(why);
    return kExitError;
  }
  Validator v(l->mapper, l->file, o.force);
  Progress checking("mapctl import: checking " + json::printable(o.file), tty);
  std::function<void(std::size_t, std::size_t)> progress;
  if (tty) {
    progress = [&](std::size_t done, std::size_t lines) {
      checking.update(
          lines, data.empty() ? 1.0 : static_cast<double>(done) / static_cast<double>(data.size()));
    };
  }
  ParsedFile parsed = parse_import(data, format, v, progress);
  data = std::string();  // free the text before the write transaction
  checking.clear();
  if (!parsed.errors.empty()) {
    return report_lines(bad_lines_result(parsed, o.file), o.file, o.max_errors);
  }
  std::optional<dns::Prefix> within;
  if (!o.replace_within.empty()) {
    dns::Prefix p;
    if (!parse_within("--replace-within", o.replace_within, p)) {
      return kExitError;
    }
    within = p;
    if (const OpResult r = outside_result(parsed, p, o.file); !r.ok()) {
      return report_lines(r, o.file, o.max_errors);
    }
  }
  const double parse_s = seconds_since(t0);
  // The write rules (shared names, template collisions) are the store's: a dry run checks
  // them in a transaction it then aborts, on an empty scratch store when there is none yet.
  std::unique_ptr<store::OverrideStore> st;
  std::string scratch;
  if (o.dry_run && !store_exists(*l)) {
    std::string tmpl = (std::filesystem::temp_directory_path() / "mapctl-dry-run.XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) {
      error("cannot create a scratch directory for the dry run: " +
            std::string(std::strerror(errno)));
      return kExitError;
    }
    scratch = tmpl;
    Loaded scratch_l{l->file, l->config, l->mapper};
    scratch_l.config.store.path = scratch;
    st = open_store(scratch_l, /*whole=*/true, o.force);
  } else {
    st = open_store(*l, /*whole=*/true, o.force);
  }
  struct ScratchCleanup {
    std::unique_ptr<store::OverrideStore>& st;
    const std::string& dir;
    ~ScratchCleanup() {
      if (!dir.empty()) {
        st.reset();
        std::error_code ec;
        std::filesystem::remove_all(dir, ec);
      }
    }
  } cleanup{st, scratch};
  if (!st) {
    return kExitError;
  }
  if (tty && !o.dry_run) {
    std::fprintf(stderr, "mapctl import: writing %zu overrides in one transaction...",
                 parsed.changes.size());
    std::fflush(stderr);
  }
  store::ApplyResult res;
  try {
    store::ApplyOptions ao;
    ao.dry_run = o.dry_run;
    ao.replace_within = within;
    res = st->apply(parsed.changes, ao);
  } catch (const store::WriteConflictError& e) {
    if (tty) {
      std::fputs("\r\033[K", stderr);
    }
    return report_lines(conflicts_result(e.conflicts(), parsed.records, parsed.lines, o.file),
                        o.file, o.max_errors);
  } catch (const std::exception& e) {
    if (tty) {
      std::fputs("\r\033[K", stderr);
    }
    error(std::string(e.what()) + "; nothing was imported (the whole file is one transaction)");
    return kExitError;
  }
  if (tty && !o.dry_run) {
    std::fputs("\r\033[K", stderr);
  }
  const double total_s = seconds_since(t0);
  if (o.json) {
    out_line(json::dump(import_json(o.file, o.dry_run, res, within, total_s)));
  } else if (o.dry_run) {
    out_line("dry run: " + std::to_string(parsed.changes.size()) + " overrides in " + o.file +
             " are valid; nothing written (the import would give: " + counts_text(res) + ")");
  } else {
    char timing[96];
    std::snprintf(timing, sizeof timing, " in %.2f s (checking %.2f s, writing %.2f s)", total_s,
                  parse_s, total_s - parse_s);
    out_line("imported " + std::to_string(res.written) + " overrides from " + o.file +
             " in one transaction" + timing + ": " + counts_text(res));
  }
  if (o.dry_run) {
    return kExitOk;
  }

  purge(o.purge, zone_purge_names(*l, parsed.changes, within));
  return kExitOk;
}

OpResult import(const Loaded& l, store::OverrideStore& st, std::string_view data, Format format,
                const std::string& file, bool force, bool dry_run,
                const std::optional<dns::Prefix>& within) {
  const auto t0 = std::chrono::steady_clock::now();
  const Validator v(l.mapper, l.file, force);
  const ParsedFile parsed = parse_import(data, format, v);
  if (!parsed.errors.empty()) {
    return bad_lines_result(parsed, file);
  }
  if (within) {
    if (OpResult r = outside_result(parsed, *within, file); !r.ok()) {
      return r;
    }
  }
  store::ApplyResult res;
  try {
    store::ApplyOptions ao;
    ao.dry_run = dry_run;
    ao.replace_within = within;
    res = st.apply(parsed.changes, ao);
  } catch (const store::WriteConflictError& e) {
    return conflicts_result(e.conflicts(), parsed.records, parsed.lines, file);
  } catch (const std::exception& e) {
    return OpResult::fail(failure(e), std::string(e.what()) +
                                          "; nothing was imported (the whole file is one "
                                          "transaction)");
  }
  OpResult r;
  r.body = import_json(file, dry_run, res, within, seconds_since(t0));
  r.text = "imported " + std::to_string(res.written) + " overrides from " + file +
           " in one transaction: " + counts_text(res);
  return r;
}

// ------------------------------------------------------------------------------------- export

int cmd_export(const Options& o) {
  auto l = load_config(o.config);
  if (!l || !require_store(*l)) {
    return kExitError;
  }
  const bool to_stdout = o.file.empty() || o.file == "-";
  Format format = to_stdout ? Format::csv : format_for_path(o.file);
  if (!o.format.empty()) {
    format = *format_from_name(o.format);
  }
  auto st = open_existing_store(*l, /*whole=*/true);
  if (!st) {
    return kExitError;
  }
  std::FILE* f = stdout;
  std::string tmp;
  if (!to_stdout) {
    // Written next to the target and renamed: a reader never sees half a file.
    tmp = o.file + ".tmp." + std::to_string(::getpid());
    f = std::fopen(tmp.c_str(), "we");
    if (f == nullptr) {
      error("cannot create " + tmp + ": " + std::strerror(errno));
      return kExitError;
    }
  }
  std::string buf;
  if (format == Format::csv) {
    buf += kCsvHeader;
    buf += '\n';
  }
  bool write_ok = true;
  std::size_t count = 0;
  // Not when the export itself goes to the same terminal.
  Progress progress(
      "mapctl export: " + (to_stdout ? std::string("stdout") : json::printable(o.file)),
      Progress::tty_stderr() && !(to_stdout && ::isatty(STDOUT_FILENO) == 1));
  // The total from the store's meta counts (no second pass): percentage and ETA. A store no
  // write has counted yet shows lines and rate only. A commit between this read and the
  // list's snapshot can make it a little off, hence the clamp.
  double total = -1;
  if (const auto counts = st->counts()) {
    total = static_cast<double>(counts->addresses + counts->prefixes);
  }
  const auto fraction = [&](std::uint64_t n) {
    return total <= 0 ? -1.0 : std::min(1.0, static_cast<double>(n) / total);
  };
  std::uint64_t listed = 0;
  auto flush = [&] {
    if (!buf.empty() && std::fwrite(buf.data(), 1, buf.size(), f) != buf.size()) {
      write_ok = false;
    }
    buf.clear();
  };
  try {
    count = st->list(std::nullopt, 0, [&](const store::ListEntry& e) {
      append_record(buf, format, Key{e.is_prefix, e.prefix}, e.value.kind, e.value.target,
                    e.value.ttl);
      if (buf.size() > (1U << 20)) {
        flush();
      }
      if ((++listed & 0x3FF) == 0) {
        progress.update(listed, fraction(listed));
      }
    });
    progress.update(listed, total < 0 ? -1.0 : 1.0);
    progress.clear();
  } catch (const std::exception& e) {
    if (!to_stdout) {
      std::fclose(f);
      ::unlink(tmp.c_str());
    }
    error(e.what());
    return kExitError;
  }
  flush();
  if (std::fflush(f) != 0) {
    write_ok = false;
  }
  if (!to_stdout) {
    if (::fsync(::fileno(f)) != 0) {
      write_ok = false;
    }
    if (std::fclose(f) != 0) {
      write_ok = false;
    }
    if (!write_ok || std::rename(tmp.c_str(), o.file.c_str()) != 0) {
      const std::string why = std::strerror(errno);
      ::unlink(tmp.c_str());
      error("cannot write " + o.file + ": " + why);
      return kExitError;
    }
    std::fprintf(stderr, "mapctl: exported %zu overrides to %s (%s)\n", count,
                 json::printable(o.file).c_str(), std::string(format_name(format)).c_str());
  } else if (!write_ok) {
    error(std::string("cannot write to stdout: ") + std::strerror(errno));
    return kExitError;
  }
  return kExitOk;
}

// ------------------------------------------------------------------------------------- lookup

namespace {

std::string_view status_name(mapper::Synthesis::Status s) {
  using S = mapper::Synthesis::Status;
  switch (s) {
    case S::nxdomain:
      return "nxdomain";
    case S::exists:
      return "exists";
    case S::ptr:
      return "ptr";
    case S::address:
      return "address";
    case S::failed:
      return "failed";
  }
  return "?";
}

std::string_view source_name(mapper::Synthesis::Source s) {
  using S = mapper::Synthesis::Source;
  switch (s) {
    case S::none:
      return "none";
    case S::config:
      return "config";
    case S::address_override:
      return "address_override";
    case S::prefix_override:
      return "prefix_override";
  }
  return "?";
}

/// A Synthesis copied out of the thread's buffers (template_text is only valid until the
/// next call).
struct Explanation {
  mapper::Synthesis::Status status = mapper::Synthesis::Status::nxdomain;
  mapper::Synthesis::Source source = mapper::Synthesis::Source::none;
  std::string prefix;
  std::string template_text;
  std::string origin;
  std::string target;
  std::string address;
  std::uint32_t ttl = 0;
};

Explanation explain(const mapper::Mapper& m, const mapper::Synthesis& s) {
  Explanation e;
  e.status = s.status;
  e.source = s.source;
  if (s.source != mapper::Synthesis::Source::none) {
    e.prefix = s.prefix.to_string();
  }
  e.template_text = std::string(s.template_text);
  if (s.rule != nullptr && s.source == mapper::Synthesis::Source::config) {
    e.origin = m.origin_of(*s.rule);
  }
  if (s.status == mapper::Synthesis::Status::ptr) {
    e.target = s.target.to_string();
  }
  if (s.status == mapper::Synthesis::Status::ptr ||
      s.status == mapper::Synthesis::Status::address) {
    e.address = s.address.to_string();
    e.ttl = s.ttl;
  }
  return e;
}

std::string source_sentence(const Explanation& e, const std::string& store_path) {
  using Src = mapper::Synthesis::Source;
  using St = mapper::Synthesis::Status;
  switch (e.source) {
    case Src::address_override:
      return "override for address " + e.prefix.substr(0, e.prefix.find('/')) + " (store " +
             store_path + ")" + (e.status == St::nxdomain ? ": none, so NXDOMAIN" : "");
    case Src::prefix_override:
      return "override for prefix " + e.prefix + " (store " + store_path + ")" +
             (e.template_text.empty() ? std::string(": none, so NXDOMAIN")
                                      : " with template \"" + e.template_text + "\"");
    case Src::config:
      return "config prefix " + e.prefix + " from " + e.origin +
             (e.template_text.empty() ? std::string(" (blank or reverse: false: no PTR)")
                                      : " with template \"" + e.template_text + "\"");
    case Src::none:
      break;
  }
  if (e.status == St::exists) {
    return "nothing at this name itself: it exists because synthesized names lie below it "
           "(empty non-terminal or zone apex)";
  }
  if (e.status == St::failed) {
    return "the override store could not be read: the servers answer SERVFAIL";
  }
  return "nothing: no configured prefix or override covers this name";
}

/// Why the PTR target `e.target` does not resolve back to `e.address`, given what a forward
/// lookup of it gives (`back`).
std::string forward_mismatch(const mapper::Mapper& m, const Explanation& e, const Explanation& back,
                             const std::string& store_path) {
  const auto target = dns::Name::from_text(e.target);
  if (!target || !m.in_forward_zone(*target)) {
    return "its name lies outside automap's forward zones";
  }
  if (back.status == mapper::Synthesis::Status::address) {
    // Another address has the name: a shared override name, or colliding templates.
    return "it resolves to " + back.address + " instead (" + source_sentence(back, store_path) +
           "), so two addresses share this name: `mapctl check` lists such conflicts";
  }
  if (e.source == mapper::Synthesis::Source::config) {
    return "its template has forward: false, or a more specific prefix or override takes the "
           "name's address";
  }
  return "nothing in automap gives this name an address (" + source_sentence(back, store_path) +
         ")";
}

}  // namespace

OpResult lookup(const Loaded& loaded, const std::string& asked, std::string qtype) {
  const Loaded* l = &loaded;
  const bool with_store = l->mapper->has_store();
  const std::shared_ptr<const mapper::Mapper>& m = l->mapper;
  std::string qname = asked;
  std::optional<dns::IpAddress> asked_address;
  const auto a = dns::IpAddress::parse(qname);
  if (!a && a.error() == Errc::zone_id) {
    return OpResult::fail(Outcome::bad_request,
                          "bad address '" + asked + "': " + std::string(errc_message(a.error())));
  }
  if (a && qname.find('/') == std::string::npos) {
    asked_address = *a;
    qname = mapper::to_reverse_name(*a).to_string();
    if (qtype.empty()) {
      qtype = "PTR";
    }
  }
  auto name = dns::Name::from_text(qname);
  if (!name) {
    return OpResult::fail(Outcome::bad_request,
                          "bad name '" + asked + "': " + std::string(errc_message(name.error())) +
                              " (give an address such as 10.1.2.3 or a name such as "
                              "host.example.net.)");
  }
  const Explanation e = explain(*m, m->synthesize(*name));
  if (qtype.empty()) {
    if (e.status == mapper::Synthesis::Status::address) {
      qtype = e.address.find(':') != std::string::npos ? "AAAA" : "A";
    } else {
      qtype = mapper::parse_reverse_name(*name).has_value() ? "PTR" : "A";
    }
  }
  app::App app;
  mapper::Mapper::install(m, app);
  app::testing::QueryResult r;
  try {
    r = app::testing::query(app, name->to_string(), qtype);
  } catch (const std::invalid_argument& ex) {
    return OpResult::fail(Outcome::bad_request,
                          "bad query " + name->to_string() + " " + qtype + ": " + ex.what() +
                              " (QTYPE is a type mnemonic such as A, AAAA, PTR, SOA, NS, ANY)");
  }
  // FCrDNS: does the PTR target resolve back to the address here?
  std::optional<Explanation> back;
  if (e.status == mapper::Synthesis::Status::ptr) {
    if (auto t = dns::Name::from_text(e.target)) {
      back = explain(*m, m->synthesize(*t));
    }
  }
  const bool in_zone = r.rcode != app::Rcode::refused;
  const std::string store_text =
      !l->config.store.present
          ? std::string("none configured")
          : (with_store ? l->config.store.path : l->config.store.path + " (does not exist yet)");
  // The servers answer forward only inside the forward zones (elsewhere: REFUSED).
  const bool fcrdns = back && back->status == mapper::Synthesis::Status::address &&
                      back->address == e.address &&
                      m->in_forward_zone(*dns::Name::from_text(e.target));

  OpResult res;
  Json& w = res.body;
  w["qname"] = name->to_string();
  w["qtype"] = qtype;
  if (asked_address) {
    w["address"] = asked_address->to_string();
  }
  w["rcode"] = app::testing::rcode_name(r.rcode);
  w["authoritative"] = r.authoritative;
  w["answer"] = r.answer;
  w["authority"] = r.authority;
  w["additional"] = r.additional;
  // Outside every zone the servers answer REFUSED whatever the synthesis says (nxdomain):
  // status must tell the same story as rcode.
  w["status"] = in_zone ? status_name(e.status) : std::string_view("refused");
  w["source"] = source_name(e.source);
  w["in_zone"] = in_zone;
  w["explanation"] = in_zone ? source_sentence(e, l->config.store.path)
                             : std::string("not inside any zone automap serves");
  if (!e.prefix.empty()) {
    w["prefix"] = e.prefix;
  }
  if (!e.template_text.empty()) {
    w["template"] = e.template_text;
  }
  if (!e.origin.empty()) {
    w["origin"] = e.origin;
  }
  if (!e.target.empty()) {
    w["target"] = e.target;
  }
  if (!e.address.empty()) {
    w["synthesized_address"] = e.address;
    w["ttl"] = e.ttl;
  }
  if (back) {
    w["fcrdns"] = fcrdns;
  }
  w["store"] = store_text;
  std::string s = "query: " + name->to_string() + " " + qtype + "\n";
  s += "rcode: " + std::string(app::testing::rcode_name(r.rcode)) +
       (r.authoritative ? " (authoritative)" : "") + "\n";
  for (const auto& [section, rows] :
       {std::pair{"answer", &r.answer}, std::pair{"authority", &r.authority}}) {
    if (!rows->empty()) {
      s += std::string(section) + ":\n";
      for (const auto& row : *rows) {
        s += "  " + row + "\n";
      }
    }
  }
  s += "source: " +
       (in_zone ? source_sentence(e, l->config.store.path)
                : std::string("not inside any zone automap serves (REFUSED)")) +
       "\n";
  if (!in_zone && e.source == mapper::Synthesis::Source::address_override) {
    s += "note: this is the override name of " + e.address +
         ", but it lies outside automap's forward zones: its own zone must carry the A/AAAA\n";
  }
  if (in_zone && !e.address.empty()) {
    s += "ttl: " + std::to_string(e.ttl) + "\n";
  }
  if (back) {
    s += "forward: " + e.target +
         (fcrdns ? " resolves back to " + e.address + " (FCrDNS holds)"
                 : " does not resolve back to " + e.address +
                       " in automap: " + forward_mismatch(*m, e, *back, l->config.store.path)) +
         "\n";
  }
  s += "store: " + store_text;
  res.text = std::move(s);
  return res;
}

int cmd_lookup(const Options& o) {
  // The store as the servers see it: read-only, only when it exists.
  auto l = load_config(o.config, mapper::LoadAndBuildOptions::Store::existing);
  if (!l) {
    return kExitError;
  }
  const OpResult r = lookup(*l, o.qname, o.qtype);
  if (report(r) != kExitOk) {
    return kExitError;
  }
  out_line(o.json ? json::dump(r.body) : r.text);
  return kExitOk;
}

// -------------------------------------------------------------------------------------- check

namespace {

/// What the store holds against its write rules (store::WriteRules), written before the rules
/// existed, by --force, or by another writer: template collisions among the stored prefix
/// overrides and with the configuration, and names that two addresses share. Kept apart from
/// the per-override checks of cmd_check.
std::vector<std::string> stored_conflicts(const store::OverrideStore& st, const mapper::Mapper& m) {
  std::vector<std::pair<dns::Prefix, std::string>> prefixes;
  std::vector<std::pair<dns::IpAddress, std::string>> names;
  st.list(std::nullopt, 0, [&](const store::ListEntry& e) {
    if (e.is_prefix) {
      prefixes.emplace_back(e.prefix, e.value.kind == store::OverrideKind::name_template
                                          ? std::string(e.value.target)
                                          : std::string());
    } else if (e.value.kind == store::OverrideKind::name) {
      names.emplace_back(e.prefix.address, std::string(e.value.target));
    }
  });
  std::vector<std::string> out;
  const store::WriteRules rules = m.write_rules(false);
  for (auto& msg : store::find_template_collisions(prefixes, rules.config_templates)) {
    out.push_back("stored overrides: " + msg);
  }
  // The name index holds one address per name: any other address with that name lost it.
  for (const auto& [address, name] : names) {
    const auto n = dns::Name::from_text(name);
    if (!n) {
      continue;  // reported by the per-override check
    }
    const auto owner = st.get_name(*n);
    if (owner && *owner != address) {
      out.push_back("stored override " + address.to_string() + ": its name " + name +
                    " is also the override of " + owner->to_string() +
                    ", which has the forward answer, so the PTR of " + address.to_string() +
                    " does not resolve back to it: give one of them another name");
    }
  }
  return out;
}

}  // namespace

int cmd_check(const Options& o) {
  config::Diagnostics errors;
  std::shared_ptr<const mapper::Mapper> m = mapper::load_and_build(o.config, {}, errors);
  if (m) {
    config::check_etcd_files(m->config(), errors);
  }
  // The file's own settings, for the store checks below (used only with a mapper).
  static const config::Config kNoConfig;
  const config::Config& file_config = m ? m->config() : kNoConfig;
  // Stored overrides that this configuration would not serve (warnings only).
  std::vector<std::string> warnings;
  std::vector<std::string> conflicts;  // wrong answers served now: an error
  std::size_t overrides = 0;
  bool store_checked = false;
  // check --deep: damage found in the pages or the values (exit 1).
  std::vector<std::string> damage;
  std::uint64_t deep_pages = 0;
  std::uint64_t deep_values = 0;
  bool deep_ran = false;
  if (m && file_config.store.present) {
    Loaded l{o.config, file_config, m};
    if (store_exists(l)) {
      try {
        if (o.deep) {
          // Pages first, read with pread only: LMDB must not map a damaged file.
          deep_ran = true;
          const auto pages = store::check_pages(l.config.store.path + "/data.mdb", 50);
          deep_pages = pages.pages;
          damage = pages.damage;
          if (pages.damage_total > pages.damage.size()) {
            damage.push_back("... and " + std::to_string(pages.damage_total - pages.damage.size()) +
                             " more");
          }
        }
      } catch (const store::StoreError& ex) {
        damage.emplace_back(ex.what());
      }
    }
    if (store_exists(l) && damage.empty()) {
      try {
        store::OverrideStore st(store_options(l));
        if (o.deep) {
          const auto values = store::check_values(*st.db(), 50);
          deep_values = values.values;
          damage.insert(damage.end(), values.damage.begin(), values.damage.end());
          if (values.damage_total > values.damage.size()) {
            damage.push_back("... and " +
                             std::to_string(values.damage_total - values.damage.size()) + " more");
          }
        }
        if (!damage.empty()) {
          throw store::StoreError("damaged");  // no override check on damaged values
        }
        Validator v(m, o.config, /*force=*/false);
        store_checked = true;
        st.list(std::nullopt, 0, [&](const store::ListEntry& e) {
          ++overrides;
          Record r{Key{e.is_prefix, e.prefix}, e.value.to_override()};
          std::string why;
          if (!v.check(r, why)) {
            warnings.push_back("stored override " + r.key.to_string() + ": " + why);
          }
        });
        conflicts = stored_conflicts(st, *m);
      } catch (const std::exception& ex) {
        if (damage.empty()) {
          errors.error(o.config, file_config.store.mark, "store.path", ex.what());
        }
      }
    }
  }
  const bool ok = errors.ok() && m != nullptr && conflicts.empty() && damage.empty();
  if (o.json) {
    Json w;
    w["file"] = o.config;
    w["ok"] = ok;
    w["errors"] = Json::array();
    for (const auto& e : errors) {
      Json x;
      x["line"] = e.mark.line;
      x["column"] = e.mark.column;
      x["path"] = e.path;
      x["message"] = e.message;
      x["text"] = e.to_string();
      w["errors"].push_back(std::move(x));
    }
    if (m) {
      w["prefixes"] = m->rules().size();
      w["forward_zones"] = Json::array();
      for (const auto& z : m->forward_zones()) {
        w["forward_zones"].push_back(z.to_string());
      }
      w["reverse_zones"] = Json::array();
      for (const auto& z : m->reverse_zones()) {
        w["reverse_zones"].push_back(z.to_string());
      }
      w["store"] = file_config.store.present ? Json(file_config.store.path) : Json(nullptr);
      if (store_checked) {
        w["overrides"] = overrides;
      }
      if (deep_ran) {
        Json d;
        d["pages"] = deep_pages;
        d["values"] = deep_values;
        d["damage"] = damage;
        w["deep"] = std::move(d);
      }
      w["warnings"] = warnings;
      w["conflicts"] = conflicts;
    }
    out_line(json::dump(w));
    return ok ? kExitOk : kExitError;
  }
  if (!damage.empty()) {
    for (const auto& d : damage) {
      std::fprintf(stderr, "%s/data.mdb: damage: %s\n", file_config.store.path.c_str(), d.c_str());
    }
    error("the store " + file_config.store.path +
          "/data.mdb is damaged (listed above): " + store::kRecoveryHint);
    return kExitError;
  }
  if (!errors.ok() || m == nullptr) {
    for (const auto& e : errors) {
      std::fprintf(stderr, "%s\n", json::printable(e.to_string()).c_str());
    }
    error(o.config + ": " + std::to_string(errors.error_count()) + " error" +
          (errors.error_count() == 1 ? "" : "s") + ": fix the lines above");
    return kExitError;
  }
  std::printf("%s: ok: %zu prefixes, %zu forward zones, %zu reverse zones, store: %s\n",
              o.config.c_str(), m->rules().size(), m->forward_zones().size(),
              m->reverse_zone_count(),
              file_config.store.present ? file_config.store.path.c_str() : "none (no overrides)");
  if (store_checked) {
    std::printf("store: %zu overrides checked against the configuration, %zu warnings\n", overrides,
                warnings.size());
  }
  if (deep_ran) {
    std::printf("store: deep check: %llu pages and %llu values read, no damage\n",
                static_cast<unsigned long long>(deep_pages),
                static_cast<unsigned long long>(deep_values));
  }
  for (const auto& s : warnings) {
    warning(s);
  }
  for (const auto& s : conflicts) {
    error(s);
  }
  if (!conflicts.empty()) {
    error("the store " + file_config.store.path + " holds " + std::to_string(conflicts.size()) +
          " conflicting override" + (conflicts.size() == 1 ? "" : "s") +
          " (listed above), which the servers answer wrongly: fix them with mapctl add or del");
    return kExitError;
  }
  return kExitOk;
}

// -------------------------------------------------------------------------------------- stats

namespace {

/// "7d", "36h", "90m", "45s": the largest unit that divides it.
std::string duration_text(std::uint64_t s) {
  if (s != 0 && s % 86400 == 0) {
    return std::to_string(s / 86400) + "d";
  }
  if (s != 0 && s % 3600 == 0) {
    return std::to_string(s / 3600) + "h";
  }
  if (s != 0 && s % 60 == 0) {
    return std::to_string(s / 60) + "m";
  }
  return std::to_string(s) + "s";
}

/// Tombstones written before this (ns since the epoch) are past the retention.
std::uint64_t retention_cutoff_ns(std::uint64_t retention_s) {
  const auto now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  const std::uint64_t keep = retention_s * 1000000000ULL;
  const auto now_ns = static_cast<std::uint64_t>(now);
  return now_ns > keep ? now_ns - keep : 0;
}

/// "12 MiB used of 16 MiB (75.00%), 3 MiB of it free for reuse".
std::string map_text(const store::StoreStats& s) {
  const double percent =
      s.map_size == 0 ? 0.0
                      : 100.0 * static_cast<double>(s.used_bytes) / static_cast<double>(s.map_size);
  char pct[32];
  std::snprintf(pct, sizeof pct, "%.2f%%", percent);
  return store::format_size(s.used_bytes) + " used of " + store::format_size(s.map_size) + " (" +
         pct + "), " + store::format_size(s.free_pages * s.page_size) + " of it free for reuse";
}

}  // namespace

OpResult stats(const Loaded& loaded, const store::OverrideStore& st) {
  const Loaded* l = &loaded;
  store::StoreStats s;
  const std::uint64_t retention = l->config.store.tombstone_retention_s;
  try {
    s = st.stats(retention_cutoff_ns(retention));
  } catch (const std::exception& e) {
    return OpResult::fail(Outcome::failed, e.what());
  }
  const double percent =
      s.map_size == 0 ? 0.0
                      : 100.0 * static_cast<double>(s.used_bytes) / static_cast<double>(s.map_size);
  OpResult r;
  Json& w = r.body;
  w["path"] = l->config.store.path;
  w["address_overrides"] = s.address_overrides;
  w["prefix_overrides"] = s.prefix_overrides;
  w["names"] = s.names;
  w["tombstones"] = s.tombstones;
  w["expired_tombstones"] = s.expired_tombstones;
  w["tombstone_retention_s"] = retention;
  w["oldest_tombstone"] = format_timestamp(s.oldest_tombstone_ns);
  w["free_pages"] = s.free_pages;
  w["map_size"] = s.map_size;
  w["used_bytes"] = s.used_bytes;
  w["used_percent"] = json::rounded(percent);
  w["page_size"] = s.page_size;
  w["used_pages"] = s.used_pages;
  w["readers"] = s.readers;
  w["max_readers"] = s.max_readers;
  w["last_txn_id"] = s.last_txn_id;
  std::string t;
  t += "store: " + l->config.store.path + "\n";
  t += "address overrides: " + std::to_string(s.address_overrides) + "\n";
  t += "prefix overrides: " + std::to_string(s.prefix_overrides) + "\n";
  t += "names (forward index): " + std::to_string(s.names) + "\n";
  t += "tombstones: " + std::to_string(s.tombstones);
  if (s.tombstones != 0) {
    t += " (oldest " + format_timestamp(s.oldest_tombstone_ns) + "; " +
         std::to_string(s.expired_tombstones) + " older than store.tombstone_retention " +
         duration_text(retention) +
         (s.expired_tombstones != 0 ? ": `mapctl compact` purges them" : "") + ")";
  }
  t += "\n";
  t += "map: " + map_text(s) + ", page size " + std::to_string(s.page_size) + "\n";
  t += "readers: " + std::to_string(s.readers) + " slots in use of " +
       std::to_string(s.max_readers) + "\n";
  t += "last txn: " + std::to_string(s.last_txn_id);
  r.text = std::move(t);
  return r;
}

int cmd_stats(const Options& o) {
  auto l = load_config(o.config);
  if (!l || !require_store(*l)) {
    return kExitError;
  }
  auto st = open_existing_store(*l, /*whole=*/true);
  if (!st) {
    return kExitError;
  }
  const OpResult r = stats(*l, *st);
  if (report(r) != kExitOk) {
    return kExitError;
  }
  out_line(o.json ? json::dump(r.body) : r.text);
  return kExitOk;
}

// ------------------------------------------------------------------------------------ compact

int cmd_compact(const Options& o) {
  auto l = load_config(o.config);
  if (!l || !require_store(*l)) {
    return kExitError;
  }
  auto st = open_existing_store(*l, /*whole=*/true);
  if (!st) {
    return kExitError;
  }
  const std::uint64_t retention = o.retention_s.value_or(l->config.store.tombstone_retention_s);
  store::PurgeResult r;
  store::StoreStats s;
  const auto t0 = std::chrono::steady_clock::now();
  try {
    r = st->purge_tombstones(retention_cutoff_ns(retention));
    s = st->stats();
  } catch (const std::exception& e) {
    // Each transaction is whole: what was purged before the error stays purged, and the rest
    // is as it was.
    error(std::string(e.what()) +
          "; tombstones purged before this error stay purged, the store "
          "is consistent");
    return kExitError;
  }
  if (o.json) {
    Json w;
    w["path"] = l->config.store.path;
    w["retention_s"] = retention;
    w["purged"] = r.purged;
    w["kept"] = r.kept;
    w["transactions"] = r.transactions;
    w["tombstones"] = s.tombstones;
    w["used_bytes"] = s.used_bytes;
    w["free_pages"] = s.free_pages;
    w["map_size"] = s.map_size;
    out_line(json::dump(w));
    return kExitOk;
  }
  char secs[32];
  std::snprintf(secs, sizeof secs, "%.2f s", seconds_since(t0));
  out_line("compact: purged " + std::to_string(r.purged) + " tombstones older than " +
           duration_text(retention) + " (kept " + std::to_string(r.kept) + " younger) in " +
           std::to_string(r.transactions) + " transactions, " + secs);
  out_line("map: " + map_text(s));
  return kExitOk;
}

// ------------------------------------------------------------------------------------ api-key

int cmd_api_key(const Options& o) {
  std::string path = o.keys_file;
  if (path.empty()) {
    auto l = load_config(o.config);
    if (!l) {
      return kExitError;
    }
    path = l->config.http.api_keys_file;
    if (path.empty()) {
      error("no API key file: add `http: { api_keys_file: /etc/automap/api-keys }` to " + l->file +
            " (the API is off without one), or give --file FILE");
      return kExitError;
    }
  }
  if (o.api_key_verb == "add") {
    return api_keys::add(path, o.api_key_name,
                         o.rw ? api_keys::Role::read_write : api_keys::Role::read_only, o.json);
  }
  if (o.api_key_verb == "del") {
    return api_keys::del(path, o.api_key_name);
  }
  return api_keys::list(path, o.json);
}

}  // namespace amap::mapctl
