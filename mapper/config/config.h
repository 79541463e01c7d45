// SPDX-License-Identifier: MIT
#pragma once
// The automap YAML configuration as plain structs. Loading is strict (unknown keys, duplicate
// keys, wrong types and bad values are errors) and reports every error at once as
// "file:line:col: key.path: message" in a Diagnostics, the one sink of every config-time step
// (this loader, the engine's Mapper::build, mapper/engine's load_and_build). Templates are
// compiled later by the engine, which adds its own errors with the marks kept here.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mapper/dns/address.h"
#include "mapper/dns/name.h"
#include "mapper/dns/rdata.h"

namespace amap::config {

/// 1-based position in the YAML file.
struct Mark {
  int line = 0;
  int column = 0;
};

enum class Severity : std::uint8_t { error, warning };

/// One finding of a config-time step, with where it is in the file.
struct Diagnostic {
  std::string file;
  Mark mark;         // line 0: not at a position (the file as a whole, the store)
  std::string path;  // "prefixes[2].name"
  std::string message;
  Severity severity = Severity::error;
  /// "file:line:col: key.path: message", escaped by printable().
  std::string to_string() const;
};

/// The sink of every config-time step: reading the file, the YAML loader and its checks,
/// Mapper::build, opening the store. Each adds what it finds, so one run reports every error;
/// the caller prints them all at the end, each as Diagnostic::to_string(). Runtime paths keep
/// their own result types.
class Diagnostics {
 public:
  void error(std::string file, Mark mark, std::string path, std::string message) {
    add(Diagnostic{std::move(file), mark, std::move(path), std::move(message), Severity::error});
  }
  void warning(std::string file, Mark mark, std::string path, std::string message) {
    add(Diagnostic{std::move(file), mark, std::move(path), std::move(message), Severity::warning});
  }
  void add(Diagnostic d) {
    errors_ += d.severity == Severity::error ? 1 : 0;
    entries_.push_back(std::move(d));
  }
  /// Moves every entry of `other` to the end of this one.
  void append(Diagnostics&& other);

  /// True when no error was added (warnings do not count).
  bool ok() const noexcept { return errors_ == 0; }
  std::size_t error_count() const noexcept { return errors_; }
  bool empty() const noexcept { return entries_.empty(); }
  std::size_t size() const noexcept { return entries_.size(); }
  const Diagnostic& operator[](std::size_t i) const { return entries_[i]; }
  const Diagnostic& front() const { return entries_.front(); }
  const Diagnostic& back() const { return entries_.back(); }
  auto begin() const noexcept { return entries_.begin(); }
  auto end() const noexcept { return entries_.end(); }
  /// Each entry as to_string(), in the order they were added.
  template <class Line>
  void print(Line&& line) const {
    for (const Diagnostic& d : entries_) {
      line(d.to_string());
    }
  }

 private:
  std::vector<Diagnostic> entries_;
  std::size_t errors_ = 0;
};

/// `text` safe to print on a terminal or in a log line: printable ASCII and valid UTF-8 as they
/// are, every other byte (controls, DEL, C1 controls, bytes that are not UTF-8) as \xNN.
std::string printable(std::string_view text);

struct SoaConfig {
  dns::Soa soa;  // serial: from the file, else the load time (with a store: mapper/engine)
  std::uint32_t ttl = 3600;  // TTL of the SOA record itself
  bool serial_given = false;
};

struct ZoneConfig {
  dns::Name name;
  Mark mark;
};

struct PrefixConfig {
  dns::Prefix prefix;
  std::string name_template;  // empty when blank
  std::optional<std::uint32_t> ttl;
  bool blank = false;      // no synthesis: NXDOMAIN both ways
  bool forward = true;     // the synthesized name resolves forward (A/AAAA)
  bool reverse = true;     // PTR is synthesized
  bool classless = false;  // also serve RFC 2317 names for IPv4 prefixes longer than /24
  Mark mark;               // of the list item
  Mark name_mark;          // of the name template value
  std::string path;        // "prefixes[3]"
  std::size_t index = 0;   // in the `prefixes:` list (3 above)
};

/// store.sync.etcd: etcd 3.4 as the source of truth of the overrides (store/sync/README.md).
struct EtcdSyncConfig {
  bool present = false;
  std::vector<std::string> endpoints;  // HOST:PORT of the members' client URLs
  bool tls = false;                    // https:// endpoints
  std::string prefix = "/automap/";    // every key lives under it
  std::uint64_t max_staleness_s = 60;  // /health says degraded past it
  std::uint64_t timeout_ms = 10000;    // one request (a write's transaction, a range page)
  /// A file the client reads (tls.ca, tls.cert, tls.key, password_file); empty path: unset.
  struct File {
    std::string path;
    Mark mark;
  };
  File ca;    // tls.ca: PEM CAs of the members' certificates (empty: the system's)
  File cert;  // tls.cert + tls.key: a client certificate (etcd --client-cert-auth)
  File key;
  std::string server_name;  // tls.server_name: the name the certificates carry
  std::string user;         // etcd authentication (with password_file)
  File password_file;       // the password, not in the YAML
  Mark mark;
};

struct StoreConfig {
  bool present = false;
  EtcdSyncConfig etcd;
  std::string path;
  std::uint64_t map_size = 4ULL << 30;
  /// How long a deleted override's tombstone must stay for replication peers (`mapctl
  /// compact` purges older ones). Default 7 days.
  std::uint64_t tombstone_retention_s = 7ULL * 86400;
  /// LMDB reader slots shared by every process on the store; 0 = store::default_max_readers().
  unsigned max_readers = 0;
  Mark mark;
};

/// `tcp:` of `automapd serve` (backend/server ServeOptions); milliseconds for the timeouts.
struct TcpConfig {
  std::uint32_t max_connections = 256;
  std::uint32_t max_connections_per_client = 16;  // 0 = no per-client cap
  std::uint32_t idle_timeout_ms = 10000;
  std::uint32_t busy_idle_timeout_ms = 1000;  // while more than 3/4 of the slots are used
  std::uint32_t io_timeout_ms = 2000;
};

/// `rrl:` (automapd serve only): response rate limiting of UDP answers. The block's presence
/// turns it on; see backend/server/rrl.h for the semantics.
struct RrlConfig {
  bool present = false;
  std::uint32_t responses_per_second = 200;
  std::uint32_t slip = 2;
  std::uint8_t ipv4_prefix = 24;
  std::uint8_t ipv6_prefix = 56;
  std::vector<dns::Prefix> whitelist;
  std::uint32_t table_size = 1U << 17;
};

/// `cookies:` (automapd serve only): DNS Cookies, RFC 7873 / RFC 9018 server cookies; see
/// backend/server/cookies.h.
struct CookiesConfig {
  bool present = false;
  bool enabled = true;      // when the block is given
  std::string secret_file;  // empty: a random secret at start
  std::uint32_t rotate = 86400;
};

/// `dnssec:` (automapd serve only): online signing of every zone served, the forward zones and
/// every derived reverse apex alike, with the one key set in `keys` (mapper/dnssec). Global,
/// not per zone: the derived reverse zones share one authority, and one DS per apex at the
/// parent is all an operator hands over.
struct DnssecConfig {
  bool present = false;
  bool enabled = true;  // when the block is given
  std::uint8_t algorithm =
      13;            // 13 ECDSAP256SHA256 or 15 ED25519: what `mapctl key generate` makes
  std::string keys;  // the keys directory (BIND K*.key / K*.private files)
  std::uint32_t validity = 7 * 86400;     // RRSIG expiration - aligned inception
  std::uint32_t inception_offset = 3600;  // RRSIG inception backdated by this
  std::uint32_t cache_entries = 16384;    // signatures kept per worker
  Mark mark;
};

/// `log.level`: the least severe lines written (mapper/app/log.h has the same order).
enum class LogLevel : std::uint8_t { debug, info, notice, warning, error };

/// http: the metrics and health listener (GET /metrics, GET /health) and the provisioning API
/// (/api/v1/..., on only with api_keys_file).
struct HttpConfig {
  bool present = false;
  std::vector<std::string> listen;                   // ADDR:PORT, checked like the top-level listen
  std::string api_keys_file;                         // empty: the API is off
  std::uint64_t max_body = std::uint64_t{16} << 20;  // the largest API request body
  std::uint32_t timeout_s = 5;                       // reading one request, then writing its answer
};

/// `identity:` (automapd serve): what the server tells about itself, each off while empty.
/// Read at start, not on reload.
struct IdentityConfig {
  std::string nsid;     // the NSID option (RFC 5001) for queries that ask for it
  std::string id;       // TXT of CH id.server. and hostname.bind. (RFC 4892)
  std::string version;  // TXT of CH version.bind. and version.server.
};

/// The longest identity.nsid (wire::kMaxNsid).
inline constexpr std::size_t kMaxNsidBytes = 128;

struct Config {
  std::string file;
  SoaConfig soa;
  std::vector<dns::Name> ns;
  std::uint32_t ns_ttl = 3600;  // = soa.ttl
  std::vector<ZoneConfig> zones;
  /// False when an entry of `zones:` had an error (and is missing above): the engine then
  /// skips the check that forward templates lie inside a zone rather than blame them.
  bool zones_complete = true;
  std::vector<PrefixConfig> prefixes;
  /// With LoadOptions::prefixes: how many prefixes went to that sink instead of `prefixes`.
  /// 0 when the list was not read (a syntax error stopped the parse).
  std::size_t prefixes_not_kept = 0;
  StoreConfig store;
  std::vector<std::string> listen;
  TcpConfig tcp;
  RrlConfig rrl;
  CookiesConfig cookies;
  DnssecConfig dnssec;
  LogLevel log_level = LogLevel::info;
  /// `user:` / `group:` (automapd serve started as root): the account to drop to once every
  /// listener is bound and the store is open (backend/run.h). Empty: no drop.
  std::string user;
  std::string group;
  HttpConfig http;
  IdentityConfig identity;
  /// `pipe.counters_dir`: the directory of the pipe coprocesses' line counter files, one per
  /// process (backend/pipe/counters.h); empty: not kept.
  std::string pipe_counters_dir;
  std::uint32_t default_ttl = 3600;  // TTL of synthesized records when a prefix gives none
  /// FNV-1a 64 of the file's bytes (never 0): the config's part of the SOA serial.
  std::uint64_t digest = 0;
};

struct LoadResult {
  Config config;
  Diagnostics errors;
  bool ok() const noexcept { return errors.ok(); }
};

/// The largest configuration load_file reads: 256 MiB, ~3.5M prefixes.
inline constexpr std::size_t kMaxConfigBytes = std::size_t{256} << 20;

/// Where the loader hands the prefixes that pass their checks instead of keeping them in
/// Config::prefixes: for a caller that keeps what it needs of each prefix in a more compact
/// form (the list costs ~200 bytes a prefix: its strings are per prefix), and whose work on
/// them can start while the rest of the file is parsed. The loader knows only this interface;
/// mapper/engine's load_and_build connects it to the engine's template compiler.
class PrefixSink {
 public:
  virtual ~PrefixSink() = default;
  /// Each prefix that passed its checks, in list order, from one thread at a time (the
  /// loader's worker while the rest of the file is parsed, or the calling thread), always
  /// before load returns; also when the file has errors elsewhere.
  virtual void take(const PrefixConfig& prefix) = 0;
};

struct LoadOptions {
  /// Not null: accepted prefixes go to this sink only, and Config::prefixes stays empty
  /// (Config::prefixes_not_kept counts them). It must outlive the load.
  PrefixSink* prefixes = nullptr;
  /// load_file refuses a file larger than this (a pipe: once this much has come).
  std::size_t max_bytes = kMaxConfigBytes;
  /// load_file reading a pipe or FIFO: the longest wait for more data (or for a writer).
  std::chrono::milliseconds stream_idle_timeout{30000};
};

/// Reads a configuration file whole into `text`; returns false after adding what is wrong to
/// `diagnostics` ("path: is a directory", "path: cannot open: Permission denied", ...). A regular
/// file is read up to its size at open, and one that changes meanwhile is an error; a pipe or FIFO
/// is read as a stream until its writer closes it, waiting at most options.stream_idle_timeout for
/// data; devices, sockets and directories are refused; nothing larger than options.max_bytes is
/// read.
bool read_config_file(const std::string& path, const LoadOptions& options, std::string& text,
                      Diagnostics& diagnostics);

/// Loads and checks a file (read by read_config_file: its refusal is the one error, as
/// "path: is a directory"). Never throws for bad input: everything lands in errors.
LoadResult load_file(const std::string& path, const LoadOptions& options = {});
/// store.sync.etcd's files (tls.ca, tls.cert, tls.key, password_file) that cannot be read,
/// as file:line errors. Separate from the load: only the processes that talk to etcd need
/// them (automapd checkconf, serve, sync and mapctl), not a pipe under pdns_server.
void check_etcd_files(const Config& c, Diagnostics& diagnostics);
/// Same from text (file is only used in messages).
LoadResult load_text(const std::string& text, const std::string& file = "<text>",
                     const LoadOptions& options = {});

/// "4GiB", "512MiB", "1048576" -> bytes.
std::optional<std::uint64_t> parse_size(const std::string& text);

/// The candidate closest to `word` by edit distance (insertions, deletions, substitutions,
/// adjacent swaps), if it is within `max_distance` edits and the only one that close: the
/// "did you mean" of unknown keys and verbs. Empty when nothing is close enough.
std::string closest_match(std::string_view word, const std::vector<std::string_view>& candidates,
                          std::size_t max_distance = 2);
/// "7d", "36h", "90m", "45s" or "45" -> seconds; nullopt if malformed or above 100 years.
std::optional<std::uint64_t> parse_duration(const std::string& text);

}  // namespace amap::config
