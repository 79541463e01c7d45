// SPDX-License-Identifier: MIT
#include "mapper/dnssec/key.h"

#include <dirent.h>
#include <fcntl.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string_view>

namespace amap::dnssec {

namespace {

[[noreturn]] void fail(const std::string& what) {
  throw std::runtime_error(what);
}

struct PkeyFree {
  void operator()(EVP_PKEY* p) const noexcept { EVP_PKEY_free(p); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* p) const noexcept { EVP_MD_CTX_free(p); }
};

std::uint16_t key_tag(std::span<const std::uint8_t> rdata) noexcept {
  // RFC 4034 appendix B (algorithm 1 is not supported, so no special case).
  std::uint32_t ac = 0;
  for (std::size_t i = 0; i < rdata.size(); ++i) {
    ac += (i & 1U) != 0 ? rdata[i] : static_cast<std::uint32_t>(rdata[i]) << 8;
  }
  ac += (ac >> 16) & 0xFFFFU;
  return static_cast<std::uint16_t>(ac & 0xFFFFU);
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    fail(path + ": cannot open: " + std::strerror(errno));
  }
  std::ostringstream s;
  s << in.rdbuf();
  if (in.bad()) {
    fail(path + ": cannot read: " + std::strerror(errno));
  }
  return s.str();
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

/// The SEC1 ECPrivateKey DER of a P-256 private scalar without its public key: OpenSSL's
/// decoder derives the public point (RFC 5915 makes the public key optional).
std::array<std::uint8_t, 51> p256_der(std::span<const std::uint8_t, 32> scalar) {
  std::array<std::uint8_t, 51> der = {0x30, 0x31, 0x02, 0x01, 0x01, 0x04, 0x20};
  std::copy(scalar.begin(), scalar.end(), der.begin() + 7);
  constexpr std::array<std::uint8_t, 12> curve = {0xa0, 0x0a, 0x06, 0x08, 0x2a, 0x86,
                                                  0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
  std::copy(curve.begin(), curve.end(), der.begin() + 39);
  return der;
}

EVP_PKEY* private_from_raw(Algorithm a, std::span<const std::uint8_t> raw) {
  if (raw.size() != 32) {
    return nullptr;
  }
  if (a == Algorithm::ed25519) {
    return EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, raw.data(), raw.size());
  }
  const std::array<std::uint8_t, 51> der = p256_der(raw.first<32>());
  const unsigned char* p = der.data();
  return d2i_PrivateKey(EVP_PKEY_EC, nullptr, &p, static_cast<long>(der.size()));
}

}  // namespace

const char* algorithm_name(Algorithm a) noexcept {
  return a == Algorithm::ed25519 ? "ED25519" : "ECDSAP256SHA256";
}

std::string base64(std::span<const std::uint8_t> data) {
  std::string out(4 * ((data.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data.data(),
                                static_cast<int>(data.size()));
  out.resize(n < 0 ? 0 : static_cast<std::size_t>(n));
  return out;
}

bool unbase64(std::string_view text, std::vector<std::uint8_t>& out) {
  std::string clean;
  for (const char c : text) {
    if (c != ' ' && c != '\t' && c != '\r' && c != '\n') {
      clean += c;
    }
  }
  if (clean.empty() || clean.size() % 4 != 0) {
    return false;
  }
  out.assign(clean.size() / 4 * 3, 0);
  const int n = EVP_DecodeBlock(out.data(), reinterpret_cast<const unsigned char*>(clean.data()),
                                static_cast<int>(clean.size()));
  if (n < 0) {
    return false;
  }
  // EVP_DecodeBlock counts the padding as zero bytes.
  std::size_t len = static_cast<std::size_t>(n);
  for (auto it = clean.rbegin(); it != clean.rend() && *it == '='; ++it) {
    --len;
  }
  out.resize(len);
  return true;
}

std::string timestamp(std::int64_t unix_seconds) {
  const std::time_t t = unix_seconds;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%d%H%M%S", &tm);
  return buf;
}

std::int64_t parse_timestamp(std::string_view text) noexcept {
  if (text.size() != 14 ||
      !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return 0;
  }
  auto num = [&](std::size_t at, std::size_t n) {
    int v = 0;
    for (std::size_t i = 0; i < n; ++i) {
      v = v * 10 + (text[at + i] - '0');
    }
    return v;
  };
  std::tm tm{};
  tm.tm_year = num(0, 4) - 1900;
  tm.tm_mon = num(4, 2) - 1;
  tm.tm_mday = num(6, 2);
  tm.tm_hour = num(8, 2);
  tm.tm_min = num(10, 2);
  tm.tm_sec = num(12, 2);
  return static_cast<std::int64_t>(timegm(&tm));
}

void Key::finish(EVP_PKEY* pkey) {
  pkey_ = std::shared_ptr<EVP_PKEY>(pkey, PkeyFree{});
  std::vector<std::uint8_t> pub;
  if (algorithm_ == Algorithm::ed25519) {
    std::size_t len = 32;
    pub.resize(len);
    private_.resize(32);
    std::size_t plen = 32;
    if (EVP_PKEY_get_raw_public_key(pkey, pub.data(), &len) != 1 || len != 32 ||
        EVP_PKEY_get_raw_private_key(pkey, private_.data(), &plen) != 1 || plen != 32) {
      fail("OpenSSL cannot export the Ed25519 key");
    }
  } else {
    std::uint8_t point[65];
    std::size_t len = 0;
    if (EVP_PKEY_get_octet_string_param(pkey, OSSL_PKEY_PARAM_PUB_KEY, point, sizeof point, &len) !=
            1 ||
        len != 65 || point[0] != 0x04) {
      fail("OpenSSL cannot export the P-256 public key");
    }
    pub.assign(point + 1, point + 65);  // RFC 6605 4: X | Y, without the 0x04 prefix
    BIGNUM* d = nullptr;
    if (EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_PRIV_KEY, &d) != 1) {
      fail("OpenSSL cannot export the P-256 private key");
    }
    private_.resize(32);
    const int n = BN_bn2binpad(d, private_.data(), 32);
    BN_clear_free(d);
    if (n != 32) {
      fail("OpenSSL cannot export the P-256 private key");
    }
  }
  dnskey_ = {static_cast<std::uint8_t>(flags_ >> 8), static_cast<std::uint8_t>(flags_), 3,
             static_cast<std::uint8_t>(algorithm_)};
  dnskey_.insert(dnskey_.end(), pub.begin(), pub.end());
  tag_ = key_tag(dnskey_);
}

Key Key::generate(Algorithm algorithm, std::uint16_t flags) {
  Key k;
  k.algorithm_ = algorithm;
  k.flags_ = flags;
  EVP_PKEY* p = algorithm == Algorithm::ed25519
                    ? EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519")
                    : EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  if (p == nullptr) {
    fail("OpenSSL cannot generate a key");
  }
  k.finish(p);
  k.timing.created = static_cast<std::int64_t>(std::time(nullptr));
  return k;
}

namespace {

/// The DNSKEY fields of a .key file: "owner [ttl] [IN] DNSKEY flags 3 alg base64...", after
/// the ';' comments, possibly spread over lines inside parentheses (zone file syntax).
void parse_key_file(const std::string& path, std::uint16_t& flags, std::uint8_t& alg,
                    std::vector<std::uint8_t>& pub) {
  const std::string text = read_file(path);
  std::istringstream lines(text);
  std::string joined;
  std::string line;
  while (std::getline(lines, line)) {
    const std::size_t comment = line.find(';');
    for (const char c : std::string_view(line).substr(0, comment)) {
      joined += c == '(' || c == ')' ? ' ' : c;
    }
    joined += ' ';
  }
  std::istringstream words(joined);
  std::vector<std::string> w;
  for (std::string x; words >> x;) {
    w.push_back(x);
  }
  auto at = std::find_if(w.begin(), w.end(),
                         [](const std::string& x) { return dns::iequals(x, "DNSKEY"); });
  if (at == w.end() || w.end() - at < 5) {
    fail(path + ": no DNSKEY record (expected 'OWNER IN DNSKEY FLAGS 3 ALGORITHM KEY')");
  }
  const std::size_t i = static_cast<std::size_t>(at - w.begin());
  try {
    const unsigned long f = std::stoul(w[i + 1]);
    const unsigned long proto = std::stoul(w[i + 2]);
    const unsigned long a = std::stoul(w[i + 3]);
    if (f > 0xFFFF || proto != 3 || a > 255) {
      fail(path + ": bad DNSKEY flags, protocol or algorithm");
    }
    flags = static_cast<std::uint16_t>(f);
    alg = static_cast<std::uint8_t>(a);
  } catch (const std::logic_error&) {
    fail(path + ": bad DNSKEY flags, protocol or algorithm");
  }
  std::string key;
  for (std::size_t j = i + 4; j < w.size(); ++j) {
    key += w[j];
  }
  if (!unbase64(key, pub)) {
    fail(path + ": the public key is not base64");
  }
}

}  // namespace

Key Key::load(const std::string& base) {
  const std::string priv_path = base + ".private";
  const std::string key_path = base + ".key";
  const std::string text = read_file(priv_path);
  std::istringstream lines(text);
  std::string line;
  int algorithm = -1;
  std::vector<std::uint8_t> raw;
  bool have_private = false;
  Key k;
  k.base = base;
  while (std::getline(lines, line)) {
    const std::string_view l = trim(line);
    const std::size_t colon = l.find(':');
    if (l.empty() || colon == std::string_view::npos) {
      continue;
    }
    const std::string_view field = l.substr(0, colon);
    const std::string_view value = trim(l.substr(colon + 1));
    if (field == "Algorithm") {
      algorithm = 0;
      for (const char c : value) {
        if (c < '0' || c > '9') {
          break;
        }
        algorithm = algorithm * 10 + (c - '0');
      }
    } else if (field == "PrivateKey") {
      have_private = unbase64(value, raw);
      if (!have_private) {
        fail(priv_path + ": PrivateKey is not base64");
      }
    } else if (field == "Created") {
      k.timing.created = parse_timestamp(value);
    } else if (field == "Publish") {
      k.timing.publish = parse_timestamp(value);
    } else if (field == "Activate") {
      k.timing.activate = parse_timestamp(value);
    } else if (field == "Inactive") {
      k.timing.inactive = parse_timestamp(value);
    } else if (field == "Delete") {
      k.timing.remove = parse_timestamp(value);
    }
  }
  if (algorithm != 13 && algorithm != 15) {
    fail(priv_path + ": " +
         (algorithm < 0 ? std::string("no Algorithm line (not a BIND private key file)")
                        : "algorithm " + std::to_string(algorithm) +
                              " is not supported (13 ECDSAP256SHA256 or 15 ED25519)"));
  }
  if (!have_private) {
    fail(priv_path + ": no PrivateKey line");
  }
  k.algorithm_ = static_cast<Algorithm>(algorithm);
  std::uint16_t flags = 0;
  std::uint8_t key_alg = 0;
  std::vector<std::uint8_t> pub;
  parse_key_file(key_path, flags, key_alg, pub);
  if (key_alg != algorithm) {
    fail(key_path + ": algorithm " + std::to_string(key_alg) +
         " differs from the .private file's " + std::to_string(algorithm));
  }
  if ((flags & 256U) == 0) {
    fail(key_path + ": not a zone key (flags " + std::to_string(flags) + ")");
  }
  k.flags_ = flags;
  EVP_PKEY* p = private_from_raw(k.algorithm_, raw);
  if (p == nullptr) {
    fail(priv_path + ": the private key is not a valid " +
         std::string(algorithm_name(k.algorithm_)) + " key");
  }
  k.finish(p);
  if (!std::equal(pub.begin(), pub.end(), k.dnskey_.begin() + 4, k.dnskey_.end()) ||
      pub.size() + 4 != k.dnskey_.size()) {
    fail(key_path + ": the public key does not match " + priv_path);
  }
  return k;
}

Key import_key(std::string base) {
  for (const std::string_view ext : {std::string_view(".private"), std::string_view(".key")}) {
    if (base.size() > ext.size() && base.ends_with(ext)) {
      base.resize(base.size() - ext.size());
      break;
    }
  }
  Key k = Key::load(base);
  k.base.clear();
  return k;
}

std::string Key::save(const std::string& dir, const dns::Name& owner) const {
  char tagbuf[8];
  std::snprintf(tagbuf, sizeof tagbuf, "%05u", static_cast<unsigned>(tag_));
  const std::string zone = owner.to_string();
  std::string path =
      dir + "/K" + zone + "+0" + std::to_string(static_cast<int>(algorithm_)) + "+" + tagbuf;
  auto write = [](const std::string& file, const std::string& text, mode_t mode) {
    const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0) {
      fail(file + ": cannot create: " + std::strerror(errno));
    }
    const bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
                    ::fchmod(fd, mode) == 0 && ::fsync(fd) == 0;
    const int err = errno;
    ::close(fd);
    if (!ok) {
      ::unlink(file.c_str());
      fail(file + ": cannot write: " + std::strerror(err));
    }
  };
  const std::string pub = base64(std::span(dnskey_).subspan(4));
  std::string key_text = "; This is a " + std::string(sep() ? "key-signing" : "zone-signing") +
                         " key, keyid " + std::to_string(tag_) + ", for " + zone + "\n";
  key_text += "; Created: " + timestamp(timing.created) + "\n";
  key_text += zone + " IN DNSKEY " + std::to_string(flags_) + " 3 " +
              std::to_string(static_cast<int>(algorithm_)) + " " + pub + "\n";
  Key copy = *this;
  copy.base = path;
  write(path + ".key", key_text, 0644);
  try {
    copy.save_timing();
  } catch (...) {
    ::unlink((path + ".key").c_str());
    throw;
  }
  return path;
}

void Key::save_timing() const {
  std::string text = "Private-key-format: v1.3\n";
  text += "Algorithm: " + std::to_string(static_cast<int>(algorithm_)) + " (" +
          algorithm_name(algorithm_) + ")\n";
  text += "PrivateKey: " + base64(private_) + "\n";
  auto field = [&](const char* name, std::int64_t v) {
    if (v != 0) {
      text += std::string(name) + ": " + timestamp(v) + "\n";
    }
  };
  field("Created", timing.created);
  field("Publish", timing.publish);
  field("Activate", timing.activate);
  field("Inactive", timing.inactive);
  field("Delete", timing.remove);
  // Written beside and renamed over, so a crash leaves the old file or the new one.
  const std::string file = base + ".private";
  const std::string tmp = file + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    fail(tmp + ": cannot create: " + std::strerror(errno));
  }
  const bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
                  ::fchmod(fd, 0600) == 0 && ::fsync(fd) == 0;
  const int err = errno;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), file.c_str()) != 0) {
    ::unlink(tmp.c_str());
    fail(file + ": cannot write: " + std::strerror(ok ? errno : err));
  }
}

std::vector<std::uint8_t> Key::ds_sha256(const dns::Name& owner) const {
  std::vector<std::uint8_t> data;
  for (const std::uint8_t c : owner.wire()) {
    data.push_back(dns::ascii_lower(c));  // RFC 4034 5.1.4: the canonical owner name
  }
  data.insert(data.end(), dnskey_.begin(), dnskey_.end());
  std::vector<std::uint8_t> digest(32);
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), digest.data(), &len, EVP_sha256(), nullptr) != 1 ||
      len != 32) {
    fail("OpenSSL cannot compute SHA-256");
  }
  return digest;
}

bool Key::sign(std::span<const std::uint8_t> data,
               std::span<std::uint8_t, kSignatureSize> out) const noexcept {
  const std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  if (!ctx) {
    return false;
  }
  const bool ed = algorithm_ == Algorithm::ed25519;
  if (EVP_DigestSignInit(ctx.get(), nullptr, ed ? nullptr : EVP_sha256(), nullptr, pkey_.get()) !=
      1) {
    return false;
  }
  if (ed) {
    std::size_t len = kSignatureSize;
    return EVP_DigestSign(ctx.get(), out.data(), &len, data.data(), data.size()) == 1 &&
           len == kSignatureSize;
  }
  std::uint8_t der[80];
  std::size_t len = sizeof der;
  if (EVP_DigestSign(ctx.get(), der, &len, data.data(), data.size()) != 1) {
    return false;
  }
  // DER SEQUENCE { INTEGER r, INTEGER s } -> r | s, each left-padded to 32 bytes.
  const unsigned char* p = der;
  ECDSA_SIG* sig = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(len));
  if (sig == nullptr) {
    return false;
  }
  const BIGNUM* r = nullptr;
  const BIGNUM* s = nullptr;
  ECDSA_SIG_get0(sig, &r, &s);
  const bool ok =
      BN_bn2binpad(r, out.data(), 32) == 32 && BN_bn2binpad(s, out.data() + 32, 32) == 32;
  ECDSA_SIG_free(sig);
  return ok;
}

std::vector<Key> load_keys(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) {
    fail(dir + ": cannot open the keys directory: " + std::strerror(errno));
  }
  std::vector<std::string> bases;
  while (const dirent* e = ::readdir(d)) {
    const std::string_view name = e->d_name;
    if (name.starts_with("K") && name.ends_with(".private")) {
      bases.push_back(dir + "/" + std::string(name.substr(0, name.size() - 8)));
    }
  }
  ::closedir(d);
  if (bases.empty()) {
    fail(dir + ": no key in the keys directory (K*.private; make one with mapctl key generate)");
  }
  std::sort(bases.begin(), bases.end());
  std::vector<Key> keys;
  keys.reserve(bases.size());
  for (const std::string& b : bases) {
    keys.push_back(Key::load(b));
  }
  std::sort(keys.begin(), keys.end(), [](const Key& a, const Key& b) { return a.tag() < b.tag(); });
  return keys;
}

}  // namespace amap::dnssec
