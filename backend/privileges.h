// SPDX-License-Identifier: MIT
#pragma once
// Dropping root once the sockets are bound (amap::run's `serve`: Loaded::user), the way Knot
// and NSD do when started as root without a service manager's User=.

#include <string>

namespace amap {

/// Runs the process (every thread: glibc applies set*id to all of them) as `user`, with
/// `group_name` as its primary group (empty: the account's own) and the account's supplementary
/// groups. As root: initgroups, setgid, setuid, then checks that the ids took and that
/// setuid(0) now fails. Not root: succeeds with nothing to do when already running as that
/// user (and group), e.g. under systemd's User=; otherwise refuses. Throws std::runtime_error
/// with a message naming the user or group and why. Returns what it did, for the log.
std::string drop_privileges(const std::string& user, const std::string& group_name);

}  // namespace amap
