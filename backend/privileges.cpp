// SPDX-License-Identifier: MIT
#include "backend/privileges.h"

#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <vector>

namespace amap {
namespace {

[[noreturn]] void fail(const std::string& what, int err = 0) {
  throw std::runtime_error(err != 0 ? what + ": " + std::strerror(err) : what);
}

}  // namespace

std::string drop_privileges(const std::string& user, const std::string& group_name) {
  std::vector<char> buf(16384);
  passwd pw{};
  passwd* pw_found = nullptr;
  if (const int rc = ::getpwnam_r(user.c_str(), &pw, buf.data(), buf.size(), &pw_found);
      rc != 0 || pw_found == nullptr) {
    fail("user '" + user + "': no such user", rc);
  }
  const uid_t uid = pw.pw_uid;
  gid_t gid = pw.pw_gid;
  if (!group_name.empty()) {
    std::vector<char> gbuf(16384);
    struct group gr {};
    struct group* gr_found = nullptr;
    if (const int rc = ::getgrnam_r(group_name.c_str(), &gr, gbuf.data(), gbuf.size(), &gr_found);
        rc != 0 || gr_found == nullptr) {
      fail("group '" + group_name + "': no such group", rc);
    }
    gid = gr.gr_gid;
  }
  const std::string ids = "uid " + std::to_string(uid) + ", gid " + std::to_string(gid);
  if (::geteuid() != 0) {
    if (::geteuid() == uid && ::getuid() == uid && ::getegid() == gid && ::getgid() == gid) {
      return "already running as user '" + user + "' (" + ids + ")";
    }
    fail("user '" + user + "'" + (group_name.empty() ? "" : ", group '" + group_name + "'") +
         ": cannot switch to it: running as uid " + std::to_string(::geteuid()) + ", gid " +
         std::to_string(::getegid()) + ", not root");
  }
  // Order matters: the groups while still root, the user id last.
  if (::initgroups(user.c_str(), gid) != 0) {
    fail("user '" + user + "': initgroups", errno);
  }
  if (::setgid(gid) != 0) {
    fail("user '" + user + "': setgid(" + std::to_string(gid) + ")", errno);
  }
  if (::setuid(uid) != 0) {
    fail("user '" + user + "': setuid(" + std::to_string(uid) + ")", errno);
  }
  if (::getuid() != uid || ::geteuid() != uid || ::getgid() != gid || ::getegid() != gid) {
    fail("user '" + user + "': the ids did not take");
  }
  // setuid as root sets the saved set-user-ID too: getting root back must now be impossible.
  if (uid != 0 && (::setuid(0) == 0 || ::seteuid(0) == 0)) {
    fail("user '" + user + "': root could be regained after the drop");
  }
  return "dropped privileges to user '" + user + "' (" + ids + ")";
}

}  // namespace amap
