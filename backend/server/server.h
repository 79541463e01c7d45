// SPDX-License-Identifier: MIT
#pragma once
// Standalone authoritative DNS server for any amap::app::App, on Boost.Asio (1.74).
//
//   amap::server::ServeOptions opt;
//   opt.listen = {"127.0.0.1:5353", "[::1]:5353"};
//   return amap::server::serve(app, opt);   // blocks until SIGINT/SIGTERM
//
// UDP: `threads` worker threads per listen address, each with its own SO_REUSEPORT socket
// (opened and bound through Asio), blocking in recvmmsg(MSG_WAITFORONE) for up to 32
// datagrams, answering each into its preallocated slots and sending the batch with one
// sendmmsg: no lock, no allocation and 2 syscalls per batch, not per packet.
// TCP (RFC 7766): one io_context on its own thread, length-prefixed messages, pipelining
// (answered in order), idle and per-message timeouts, a connection cap.

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "backend/server/cookies.h"
#include "backend/server/rrl.h"
#include "mapper/app/app.h"
#include "mapper/wire/handle.h"

namespace amap::server {

/// An address and port to listen on.
struct Endpoint {
  dns::IpAddress address;
  std::uint16_t port = 0;

  /// "ADDR:PORT" for IPv4, "[ADDR]:PORT" for IPv6 ("127.0.0.1:5353", "[::1]:53",
  /// "0.0.0.0:0"). Port 0 asks for an ephemeral port.
  static std::optional<Endpoint> parse(std::string_view text) noexcept;
  /// The same forms back.
  std::string to_string() const;
};

/// Upper bound for ServeOptions::threads: each UDP worker is a thread with its own socket and
/// about 0.2 MB of buffers it touches (its 2 MiB receive slots cost address space only).
inline constexpr unsigned kMaxThreads = 1024;

/// The TCP limits of ServeOptions, which a reload may change (Server::set_tcp_limits).
struct TcpLimits {
  std::size_t max_connections = 256;
  std::size_t max_connections_per_client = 16;
  std::chrono::milliseconds idle_timeout{10000};
  std::chrono::milliseconds busy_idle_timeout{1000};
  std::chrono::milliseconds io_timeout{2000};
};

/// What a reload (SIGHUP) produces: a new app and, optionally, new listen addresses and TCP
/// limits.
struct Reload {
  Reload() = default;
  Reload(std::shared_ptr<const app::App> a) : app(std::move(a)) {}  // NOLINT: implicit
  Reload(std::shared_ptr<const app::App> a, std::vector<std::string> l)
      : app(std::move(a)), listen(std::move(l)) {}
  /// nullptr: the reload failed (already logged); the old app and sockets keep serving.
  std::shared_ptr<const app::App> app;
  /// Empty: keep the current addresses. Otherwise Server::rebind() to these first; if one
  /// cannot be bound, the whole reload is refused and the old app keeps serving.
  std::vector<std::string> listen;
  /// Set: the TCP limits from now on (Server::set_tcp_limits), applied with the new app.
  std::optional<TcpLimits> tcp;
  /// Set: the serial of what the new app serves (ServeOptions::serial) from now on.
  std::optional<std::uint64_t> serial;
};

struct ServeOptions {
  /// Addresses to serve on (UDP and TCP on the same port).
  std::vector<std::string> listen{"127.0.0.1:5353"};
  /// UDP worker threads per listen address (each with its own socket); 0 = hardware
  /// concurrency. At most kMaxThreads (the constructor throws std::invalid_argument).
  unsigned threads = 0;
  bool udp = true;
  bool tcp = true;
  /// Close a TCP connection that has not started a new message for this long (Knot: 10 s).
  std::chrono::milliseconds tcp_idle_timeout{10000};
  /// Once a message has started, the rest must arrive (and the answer must be written)
  /// within this time: the slow-loris guard (Knot tcp-io-timeout is 500 ms).
  std::chrono::milliseconds tcp_io_timeout{2000};
  /// Connections beyond this are accepted and closed at once (NSD tcp-reject-overflow).
  /// Never affects UDP.
  std::size_t max_tcp_connections = 256;
  /// Connections from one client address beyond this are accepted and closed at once, so
  /// that one client cannot take every slot (PowerDNS max-tcp-connections-per-client,
  /// dnsdist setMaxTCPConnectionsPerClient). 0 = no per-client cap.
  std::size_t max_tcp_connections_per_client = 16;
  /// While more than 3/4 of max_tcp_connections are open, an idle connection is closed after
  /// this instead of tcp_idle_timeout, counted from when it became idle (RFC 7766 6.2.3: a
  /// server under pressure may close idle connections sooner).
  std::chrono::milliseconds tcp_busy_idle_timeout{1000};
  /// Response rate limiting of UDP answers (off by default; see rrl.h).
  RrlOptions rrl;
  /// DNS Cookies (off by default; see cookies.h). A valid server cookie exempts from RRL.
  CookieOptions cookies;
  /// Wire policy: UDP payload cap (1232), ANY over UDP, identity (NSID, CH TXT).
  wire::Policy policy;
  /// The serial of what the app serves (automapd: the SOA serial of the configuration and
  /// store loaded), shown in the STATUS= lines and in Stats::config_serial; a reload's
  /// Reload::serial replaces it. 0: none.
  std::uint64_t serial = 0;
  /// Called by serve() on SIGHUP to build a new app (and maybe new listen addresses). A null
  /// app or an exception keeps the old app and sockets (logged). A function returning a
  /// shared_ptr<const App> converts.
  std::function<Reload()> reload;
  /// Called by serve() once start() has bound every listener, before READY=1: starts what
  /// serves beside the DNS listeners (automapd's HTTP metrics listener). The object returned
  /// is kept until serving ends. A throw is a start-up error (logged, serve() returns 1).
  std::function<std::shared_ptr<void>(class Server&)> attach;
  /// Called by serve() once start() has bound every listener and started the threads, before
  /// READY=1 (amap::run drops root here). A throw stops the server: serve() logs its message
  /// and returns 1.
  std::function<void()> started;
};

/// Request durations: the time a request spends in the server. UDP: from recvmmsg's return to
/// the end of the batch's sendmmsg, every datagram of the batch counted with its batch's time
/// (they were received together and are sent together), so two clock reads per batch and none
/// per query. TCP: from a message's last byte read to its answer written.
struct Durations {
  /// Upper bounds of the buckets, in microseconds; a last bucket (+Inf) takes the rest.
  static constexpr std::array<std::uint32_t, 13> kBoundsUs{
      10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000};
  std::array<std::uint64_t, kBoundsUs.size() + 1> counts{};  // per bucket, not cumulative
  std::uint64_t sum_ns = 0;

  /// Counts `n` requests that took `ns` each (the owning thread only: sync::bump).
  void observe(std::uint64_t ns, std::uint64_t n) noexcept;
  Durations& operator+=(const Durations& o) noexcept;
};

/// Counters summed over all workers (read with Server::counters()).
struct Stats {
  wire::Counters udp;
  wire::Counters tcp;
  Durations udp_durations;
  Durations tcp_durations;
  std::uint64_t tcp_accepted = 0;
  std::uint64_t tcp_current = 0;              // open TCP connections
  std::uint64_t tcp_rejected = 0;             // over max_tcp_connections
  std::uint64_t tcp_rejected_per_client = 0;  // over max_tcp_connections_per_client
  std::uint64_t tcp_timeouts = 0;
  std::uint64_t tcp_busy_timeouts = 0;   // of those, idle ones closed early under pressure
  std::uint64_t tcp_bad_length = 0;      // length prefix < 12
  std::uint64_t udp_batches = 0;         // recvmmsg calls that returned datagrams
  std::uint64_t udp_recv_errors = 0;     // recvmmsg failures other than EAGAIN/EINTR
  std::uint64_t udp_send_dropped = 0;    // answers dropped because the send buffer stayed full
  std::uint64_t send_errors = 0;         // UDP answers the kernel refused (per message)
  RrlCounters rrl;                       // UDP answers over the rate limit (all zero when off)
  std::uint64_t reloads_ok = 0;          // SIGHUP reloads that replaced the app (serve())
  std::uint64_t reloads_failed = 0;      // SIGHUP reloads refused (the old app kept serving)
  std::int64_t last_reload_ok_unix = 0;  // system_clock seconds of the last good reload (or start)
  std::uint64_t config_serial = 0;       // ServeOptions::serial, then the last good reload's
};

class Server {
 public:
  /// Does not bind; throws std::invalid_argument on a bad listen string.
  Server(std::shared_ptr<const app::App> app, ServeOptions options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  /// Binds every socket (port 0: the first UDP socket of an address picks the port, the other
  /// workers' sockets and the TCP acceptor reuse it), logs "listening udp ADDR:PORT" lines and
  /// starts the threads. Throws std::runtime_error ("cannot listen on udp ADDR:PORT: why")
  /// when a socket cannot be opened or bound, after closing what it opened. A stop() from
  /// another thread meanwhile (SIGTERM during a long start-up) makes it undo what it started
  /// and return at the next socket or listen address; stopped() is then true.
  void start();
  bool stopped() const;
  /// Serves on `listen` from now on. Every address not served yet is bound (and its threads
  /// started) before any is closed; addresses in both lists keep their sockets, threads and
  /// TCP connections; connections accepted on a dropped address stay open until they end.
  /// Throws (std::invalid_argument, or std::runtime_error naming the address and the error)
  /// with nothing changed. Call from one thread at a time, not from a server thread.
  void rebind(const std::vector<std::string>& listen);
  /// New TCP limits (the ServeOptions fields of the same names), applied on the TCP thread:
  /// new connections and the next wait of every open one use them. Open connections over a
  /// lowered cap are not closed.
  void set_tcp_limits(const TcpLimits& limits);
  /// The bound UDP (or TCP when UDP is off) endpoint for each listen entry, in order.
  std::vector<Endpoint> local_endpoints() const;
  std::vector<std::uint16_t> ports() const;
  /// Closes the sockets; in-flight handlers finish; returns once every thread has exited.
  /// Safe to call from any thread (not from a server thread) and more than once.
  void stop();
  /// start() if needed, then block until stop() is called from elsewhere.
  void run();
  /// Publishes a new app. UDP workers pick it up before their next batch (TCP before its
  /// next message); the hot path only reads the app snapshot's version (one atomic load).
  void replace_app(std::shared_ptr<const app::App> app);
  /// Apps published so far: 1 at start, +1 per replace_app.
  std::uint64_t generation() const noexcept;
  /// Summed over every worker. Callable from any thread while serving: each worker's counters
  /// are written by that worker only and read here with relaxed loads (no lock on the query
  /// path; a sum may be a few packets behind).
  Stats counters() const;
  /// Counts a reload by its result (serve() calls it); a success also sets the time.
  void note_reload(bool ok) noexcept;
  /// The serial of what is served from now on (Stats::config_serial; serve() calls it).
  void set_serial(std::uint64_t serial) noexcept;
  std::uint64_t serial() const noexcept;
  /// For the service manager's watchdog: empty when every UDP worker went round its loop (it
  /// wakes at least every 250 ms, idle or not) and the TCP thread ran a task within
  /// `max_age`, else which one is stuck ("udp worker of 127.0.0.1:53 silent for 3.1 s").
  /// Call it periodically from one thread, not a server thread.
  std::string stalled(std::chrono::milliseconds max_age) const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

/// Serves `app` until SIGINT or SIGTERM (clean stop, returns 0). The signals are handled on
/// their own thread from the start, so SIGINT/SIGTERM during a long start-up stop it at once
/// (returns 0). SIGHUP calls options.reload when set: new listen addresses are bound first,
/// then the app is replaced; on any failure the old app and sockets stay. Returns 1 (after
/// logging) when startup fails.
int serve(std::shared_ptr<const app::App> app, const ServeOptions& options);
/// Convenience overload for an app that outlives the call.
int serve(const app::App& app, const ServeOptions& options);

}  // namespace amap::server
