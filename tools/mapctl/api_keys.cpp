// SPDX-License-Identifier: MIT
#include "tools/mapctl/api_keys.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <stdexcept>

#include "tools/mapctl/json.h"

namespace amap::mapctl::api_keys {
namespace {

constexpr std::size_t kHashBytes = 32;
constexpr std::size_t kSaltBytes = 16;

std::string hex(const unsigned char* p, std::size_t n) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s;
  s.reserve(2 * n);
  for (std::size_t i = 0; i < n; ++i) {
    s += kHex[p[i] >> 4];
    s += kHex[p[i] & 15];
  }
  return s;
}

bool unhex(std::string_view s, std::vector<unsigned char>& out) {
  if (s.empty() || s.size() % 2 != 0) {
    return false;
  }
  out.clear();
  for (std::size_t i = 0; i < s.size(); i += 2) {
    unsigned v = 0;
    const auto [ptr, ec] = std::from_chars(s.data() + i, s.data() + i + 2, v, 16);
    if (ec != std::errc{} || ptr != s.data() + i + 2) {
      return false;
    }
    out.push_back(static_cast<unsigned char>(v));
  }
  return true;
}

std::vector<unsigned char> random_bytes(std::size_t n) {
  std::vector<unsigned char> b(n);
  if (RAND_bytes(b.data(), static_cast<int>(n)) != 1) {
    throw std::runtime_error("RAND_bytes failed: no randomness for an API key");
  }
  return b;
}

std::vector<unsigned char> scrypt(std::string_view secret, const std::vector<unsigned char>& salt,
                                  std::uint64_t n, std::uint32_t r, std::uint32_t p) {
  std::vector<unsigned char> out(kHashBytes);
  // maxmem: scrypt needs 128 * N * r * p bytes (16 MiB for the defaults); allow up to 256 MiB.
  if (EVP_PBE_scrypt(secret.data(), secret.size(), salt.data(), salt.size(), n, r, p,
                     std::uint64_t{256} << 20, out.data(), out.size()) != 1) {
    throw std::runtime_error("scrypt (EVP_PBE_scrypt) failed for N=" + std::to_string(n) +
                             " r=" + std::to_string(r) + " p=" + std::to_string(p));
  }
  return out;
}

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  std::size_t pos = 0;
  for (;;) {
    const std::size_t end = s.find(sep, pos);
    out.push_back(
        s.substr(pos, end == std::string_view::npos ? std::string_view::npos : end - pos));
    if (end == std::string_view::npos) {
      return out;
    }
    pos = end + 1;
  }
}

template <typename T>
bool number(std::string_view s, T& v) {
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  return ec == std::errc{} && ptr == s.data() + s.size();
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw std::runtime_error("cannot read the API key file " + path + ": " + std::strerror(errno));
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void error(const std::string& msg) {
  std::fprintf(stderr, "mapctl: error: %s\n", json::printable(msg).c_str());
}

}  // namespace

std::string_view role_name(Role r) noexcept {
  return r == Role::read_write ? "rw" : "ro";
}

std::string name_problem(std::string_view name) {
  if (name.empty() || name.size() > 64) {
    return "an API key name has 1 to 64 characters";
  }
  for (const char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    if (!ok) {
      return "an API key name is made of letters, digits, '.', '_' and '-' ('" +
             json::printable(name) + "' is not)";
    }
  }
  return {};
}

std::vector<Key> parse(std::string_view text, const std::string& file) {
  std::vector<Key> keys;
  std::set<std::string, std::less<>> names;
  std::size_t line_no = 0;
  for (std::string_view line : split(text, '\n')) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') {
      line.remove_suffix(1);
    }
    const auto first = line.find_first_not_of(" \t");
    if (first == std::string_view::npos || line[first] == '#') {
      continue;
    }
    const auto where = [&] { return file + ":" + std::to_string(line_no) + ": "; };
    std::vector<std::string_view> fields;
    for (std::string_view f : split(line.substr(first), ' ')) {
      if (!f.empty()) {
        fields.push_back(f);
      }
    }
    if (fields.size() != 3) {
      throw std::runtime_error(where() +
                               "expected NAME ROLE scrypt$N$r$p$SALT$HASH (`mapctl api-key add "
                               "NAME` writes such lines)");
    }
    Key k;
    k.line = line_no;
    k.name = std::string(fields[0]);
    if (std::string why = name_problem(k.name); !why.empty()) {
      throw std::runtime_error(where() + why);
    }
    if (fields[1] == "rw") {
      k.role = Role::read_write;
    } else if (fields[1] != "ro") {
      throw std::runtime_error(where() + "the role is ro (read-only) or rw (read-write), not '" +
                               json::printable(fields[1]) + "'");
    }
    const auto h = split(fields[2], '$');
    if (h.size() != 6 || h[0] != "scrypt" || !number(h[1], k.n) || !number(h[2], k.r) ||
        !number(h[3], k.p) || k.n < 2 || (k.n & (k.n - 1)) != 0 || k.r == 0 || k.p == 0 ||
        !unhex(h[4], k.salt) || !unhex(h[5], k.hash) || k.hash.size() != kHashBytes) {
      throw std::runtime_error(where() +
                               "the hash is not scrypt$N$r$p$SALT$HASH (N a power of 2, "
                               "hex salt, 64 hex digits of hash): the line is damaged, "
                               "make the key again with `mapctl api-key add`");
    }
    if (!names.insert(k.name).second) {
      throw std::runtime_error(where() + "the name " + k.name + " is given twice");
    }
    keys.push_back(std::move(k));
  }
  return keys;
}

std::vector<Key> read(const std::string& path) {
  return parse(read_text(path), path);
}

std::string new_secret() {
  const auto b = random_bytes(32);
  return hex(b.data(), b.size());
}

std::string hash_line(const std::string& name, Role role, std::string_view secret) {
  const auto salt = random_bytes(kSaltBytes);
  const auto h = scrypt(secret, salt, kScryptN, kScryptR, kScryptP);
  return name + " " + std::string(role_name(role)) + " scrypt$" + std::to_string(kScryptN) + "$" +
         std::to_string(kScryptR) + "$" + std::to_string(kScryptP) + "$" +
         hex(salt.data(), salt.size()) + "$" + hex(h.data(), h.size());
}

bool matches(const Key& key, std::string_view secret) {
  const auto h = scrypt(secret, key.salt, key.n, key.r, key.p);
  return h.size() == key.hash.size() && CRYPTO_memcmp(h.data(), key.hash.data(), h.size()) == 0;
}

// ------------------------------------------------------------------------------------ verbs

namespace {

/// Writes `text` to `path` through a temporary file and a rename, keeping the owner, group and
/// mode of the file it replaces (0640 for a new one: automapd's group reads it).
void replace_file(const std::string& path, const std::string& text) {
  struct stat old {};
  const bool existed = ::stat(path.c_str(), &old) == 0;
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
                        existed ? (old.st_mode & 07777) : 0640);
  if (fd < 0) {
    throw std::runtime_error("cannot create " + tmp + ": " + std::strerror(errno));
  }
  bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  if (existed) {
    ok = ok && (::fchown(fd, old.st_uid, old.st_gid) == 0 || errno == EPERM) &&
         ::fchmod(fd, old.st_mode & 07777) == 0;
  }
  ok = ::fsync(fd) == 0 && ok;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string why = std::strerror(errno);
    ::unlink(tmp.c_str());
    throw std::runtime_error("cannot write " + path + ": " + why);
  }
}

}  // namespace

int add(const std::string& path, const std::string& name, Role role, bool as_json) {
  if (std::string why = name_problem(name); !why.empty()) {
    error(why);
    return 1;
  }
  try {
    std::string text;
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0) {
      text = read_text(path);
      for (const auto& k : parse(text, path)) {
        if (k.name == name) {
          error(path + ":" + std::to_string(k.line) + ": an API key named " + name +
                " exists already: `mapctl api-key del " + name + "` first, or pick another name");
          return 1;
        }
      }
    } else {
      text =
          "# automap API keys (http.api_keys_file): NAME ROLE scrypt$N$r$p$SALT$HASH\n"
          "# Written by `mapctl api-key add NAME [--rw]`; the keys themselves are not kept.\n";
    }
    if (!text.empty() && text.back() != '\n') {
      text += '\n';
    }
    const std::string secret = new_secret();
    text += hash_line(name, role, secret) + "\n";
    replace_file(path, text);
    if (as_json) {
      json::Json j;
      j["name"] = name;
      j["role"] = role_name(role);
      j["key"] = secret;
      j["file"] = path;
      std::printf("%s\n", json::dump(j).c_str());
    } else {
      std::printf("%s\n", secret.c_str());
      std::fprintf(stderr,
                   "mapctl: API key %s (%s) added to %s; the key above is shown only now: send it "
                   "as the X-API-Key header (automapd reads the file again by itself)\n",
                   name.c_str(), role == Role::read_write ? "read-write" : "read-only",
                   json::printable(path).c_str());
    }
  } catch (const std::exception& e) {
    error(e.what());
    return 1;
  }
  return 0;
}

int del(const std::string& path, const std::string& name) {
  try {
    const std::string text = read_text(path);
    bool found = false;
    for (const auto& k : parse(text, path)) {
      found = found || k.name == name;
    }
    if (!found) {
      error("no API key named " + name + " in " + path + " (`mapctl api-key list` shows them)");
      return 1;
    }
    std::string kept;
    for (std::string_view line : split(text, '\n')) {
      const auto fields = split(line, ' ');
      if (!(fields.size() >= 2 && fields[0] == name)) {
        kept.append(line);
        kept += '\n';
      }
    }
    while (kept.size() >= 2 && kept.ends_with("\n\n")) {
      kept.pop_back();
    }
    replace_file(path, kept);
    std::printf("deleted API key %s from %s\n", name.c_str(), path.c_str());
  } catch (const std::exception& e) {
    error(e.what());
    return 1;
  }
  return 0;
}

int list(const std::string& path, bool as_json) {
  try {
    const auto keys = read(path);
    for (const auto& k : keys) {
      if (as_json) {
        json::Json j;
        j["name"] = k.name;
        j["role"] = role_name(k.role);
        j["line"] = k.line;
        std::printf("%s\n", json::dump(j).c_str());
      } else {
        std::printf("%s %s\n", k.name.c_str(), std::string(role_name(k.role)).c_str());
      }
    }
  } catch (const std::exception& e) {
    error(e.what());
    return 1;
  }
  return 0;
}

}  // namespace amap::mapctl::api_keys
