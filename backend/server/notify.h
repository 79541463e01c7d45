// SPDX-License-Identifier: MIT
// The service manager's readiness protocol (sd_notify(3)), spoken directly: one datagram of
// "KEY=VALUE\n" lines to the AF_UNIX socket named by $NOTIFY_SOCKET (a path, or "@name" in
// the abstract namespace). systemd documents the protocol as stable and meant to be
// re-implemented; doing so keeps libsystemd (and its dependencies) out of automapd for four
// messages. Without $NOTIFY_SOCKET every call is a no-op.
//
//   notify::send("READY=1\nSTATUS=serving");
//   notify::send(notify::reloading());   // "RELOADING=1\nMONOTONIC_USEC=..."
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace amap::server::notify {

/// Sends `state` as one datagram to $NOTIFY_SOCKET. Returns false when the variable is unset
/// or empty, names no usable socket, or the send fails; never throws. Not for a hot path:
/// it opens and closes a socket per call.
bool send(std::string_view state) noexcept;

/// "RELOADING=1\nMONOTONIC_USEC=<CLOCK_MONOTONIC in microseconds>", what systemd wants (with
/// Type=notify-reload, and accepted with Type=notify) before a reload; READY=1 ends it.
std::string reloading();

/// The watchdog interval the service manager asks for ($WATCHDOG_USEC with WatchdogSec=, for
/// this process if $WATCHDOG_PID is set), in microseconds; 0 when there is none. "WATCHDOG=1"
/// must then be sent more often than that.
std::uint64_t watchdog_usec() noexcept;

}  // namespace amap::server::notify
