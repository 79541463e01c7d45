// SPDX-License-Identifier: MIT
#include "mapper/core/template.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>

#include "mapper/core/u128.h"
#include "mapper/dns/swar.h"

namespace amap::mapper {
namespace {

using dns::Family;

constexpr bool is_digit(char c) noexcept {
  return c >= '0' && c <= '9';
}
constexpr bool is_lower_hex(char c) noexcept {
  return is_digit(c) || (c >= 'a' && c <= 'f');
}
constexpr bool is_host_char(char c) noexcept {
  return is_digit(c) || (c >= 'a' && c <= 'z') || c == '-';
}
constexpr char lower(char c) noexcept {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + ('a' - 'A')) : c;
}
constexpr unsigned hex_value(char c) noexcept {
  return is_digit(c) ? static_cast<unsigned>(c - '0') : static_cast<unsigned>(c - 'a' + 10);
}
/// hex_value of lower-case hex digits, kNotHex for every other byte: one load per character.
constexpr std::uint8_t kNotHex = 0xFF;
constexpr std::array<std::uint8_t, 256> kHexDigit = [] {
  std::array<std::uint8_t, 256> t{};
  for (unsigned c = 0; c < 256; ++c) {
    t[c] = is_lower_hex(static_cast<char>(c))
               ? static_cast<std::uint8_t>(hex_value(static_cast<char>(c)))
               : kNotHex;
  }
  return t;
}();
/// kHexDigit with '-' as kDash: the characters of dashed IPv6 text.
constexpr std::uint8_t kDash = 16;
constexpr std::array<std::uint8_t, 256> kV6Char = [] {
  std::array<std::uint8_t, 256> t = kHexDigit;
  t['-'] = kDash;
  return t;
}();

struct TokenSpec {
  std::string_view name;
  TokenKind kind;
};
constexpr std::array<TokenSpec, 8> kTokens{{{"a", TokenKind::a},
                                            {"b", TokenKind::b},
                                            {"c", TokenKind::c},
                                            {"d", TokenKind::d},
                                            {"ip", TokenKind::ip},
                                            {"full", TokenKind::full},
                                            {"hex", TokenKind::hex},
                                            {"offset", TokenKind::offset}}};

constexpr bool is_octet_token(TokenKind k) noexcept {
  return k <= TokenKind::d;
}
constexpr unsigned octet_shift(TokenKind k) noexcept {
  return 24U - 8U * static_cast<unsigned>(k);  // a=24, b=16, c=8, d=0
}

/// Bits of the address a token gives.
constexpr U128 token_mask(TokenKind k, Family f) noexcept {
  if (is_octet_token(k)) {
    return U128{0, 0xFFULL << octet_shift(k)};
  }
  return family_mask(f);
}

/// Fixed-width tokens are located by width; the others by their character set, which is why
/// the character after them must not belong to that set.
constexpr bool is_fixed_width(TokenKind k, Family f) noexcept {
  return k == TokenKind::hex || (k == TokenKind::full && f == Family::v6);
}
constexpr bool in_charset(TokenKind k, Family f, char c) noexcept {
  switch (k) {
    case TokenKind::a:
    case TokenKind::b:
    case TokenKind::c:
    case TokenKind::d:
    case TokenKind::offset:
      return is_digit(c);
    case TokenKind::ip:
    case TokenKind::full:
      return f == Family::v4 ? (is_digit(c) || c == '-') : (is_lower_hex(c) || c == '-');
    case TokenKind::hex:
      return is_lower_hex(c);
  }
  return false;
}

/// in_charset as a table per (kind, family), for the scan that finds where a token read back
/// from a name ends: one load per character instead of a switch.
struct Charset {
  std::array<bool, 256> has{};
};
constexpr Charset make_charset(TokenKind k, Family f) noexcept {
  Charset c;
  for (unsigned i = 0; i < 256; ++i) {
    c.has[i] = in_charset(k, f, static_cast<char>(i));
  }
  return c;
}
constexpr std::size_t kTokenKinds = static_cast<std::size_t>(TokenKind::offset) + 1;
constexpr std::array<std::array<Charset, 2>, kTokenKinds> kCharsets = [] {
  std::array<std::array<Charset, 2>, kTokenKinds> t{};
  for (std::size_t k = 0; k < kTokenKinds; ++k) {
    t[k][0] = make_charset(static_cast<TokenKind>(k), Family::v4);
    t[k][1] = make_charset(static_cast<TokenKind>(k), Family::v6);
  }
  return t;
}();
const Charset& charset(TokenKind k, Family f) noexcept {
  return kCharsets[static_cast<std::size_t>(k)][f == Family::v4 ? 0 : 1];
}

std::size_t write_hex_padded(std::uint64_t v, unsigned digits, char* out) noexcept {
  static constexpr char kHex[] = "0123456789abcdef";
  for (unsigned i = 0; i < digits; ++i) {
    out[digits - 1 - i] = kHex[v & 0xFU];
    v >>= 4;
  }
  return digits;
}

std::size_t write_dec(std::uint64_t v, char* out) noexcept {
  // Callers provide >= 20 bytes.
  const auto r = std::to_chars(out, out + 20, v);
  return static_cast<std::size_t>(r.ptr - out);
}

/// Decimal form of a 128-bit value (at most 39 digits).
std::size_t write_dec128(U128 v, char* out) noexcept {
  char tmp[40];
  std::size_t n = 0;
  do {
    tmp[n++] = static_cast<char>('0' + v.divmod(10));
  } while (!v.is_zero() && n < sizeof tmp);
  for (std::size_t i = 0; i < n; ++i) {
    out[i] = tmp[n - 1 - i];
  }
  return n;
}

std::size_t write_v4_dashed(std::uint32_t v, char* out) noexcept {
  return dns::write_v4_text(out, v, '-');
}

std::size_t write_v6_full(U128 v, char* out) noexcept {
  std::size_t n = 0;
  for (int g = 0; g < 8; ++g) {
    const std::uint64_t half = g < 4 ? v.hi : v.lo;
    const unsigned shift = static_cast<unsigned>(48 - 16 * (g % 4));
    n += write_hex_padded((half >> shift) & 0xFFFFU, 4, out + n);
    if (g != 7) {
      out[n++] = '-';
    }
  }
  return n;
}

/// Most characters render_token writes.
constexpr std::size_t kMaxTokenText = 40;

/// Renders one token for address value v (already checked to be inside the prefix). Writes at
/// most 39 characters (write_dec's to_chars wants room for 20 even for an octet).
std::size_t render_token(TokenKind k, Family f, const dns::Prefix& p, U128 v, char* out) noexcept {
  switch (k) {
    case TokenKind::a:
    case TokenKind::b:
    case TokenKind::c:
    case TokenKind::d:
      return write_dec((v.lo >> octet_shift(k)) & 0xFFU, out);
    case TokenKind::ip:
      if (f == Family::v4) {
        return write_v4_dashed(static_cast<std::uint32_t>(v.lo), out);
      }
      return write_ip_token(v.to_address(f), out);
    case TokenKind::full:
      if (f == Family::v4) {
        return write_v4_dashed(static_cast<std::uint32_t>(v.lo), out);
      }
      return write_v6_full(v, out);
    case TokenKind::hex:
      if (f == Family::v4) {
        return write_hex_padded(v.lo & 0xFFFFFFFFU, 8, out);
      }
      write_hex_padded(v.hi, 16, out);
      write_hex_padded(v.lo, 16, out + 16);
      return 32;
    case TokenKind::offset:
      return write_dec128(v & host_mask(f, p.length), out);
  }
  return 0;
}

/// 1..3 decimal digits, value <= 255 (spelling is checked later by re-rendering).
bool parse_octet(const char* s, std::size_t n, std::uint32_t& out) noexcept {
  if (n == 0 || n > 3) {
    return false;
  }
  std::uint32_t v = 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (!is_digit(s[i])) {
      return false;
    }
    v = v * 10 + static_cast<std::uint32_t>(s[i] - '0');
  }
  if (v > 255) {
    return false;
  }
  out = v;
  return true;
}

bool parse_v4_dashed(const char* s, std::size_t n, U128& out) noexcept {
  std::uint32_t v = 0;
  std::size_t start = 0;
  int parts = 0;
  for (std::size_t i = 0; i <= n; ++i) {
    if (i == n || s[i] == '-') {
      std::uint32_t o = 0;
      if (parts == 4 || !parse_octet(s + start, i - start, o)) {
        return false;
      }
      v = (v << 8) | o;
      ++parts;
      start = i + 1;
    }
  }
  if (parts != 4) {
    return false;
  }
  out = U128{0, v};
  return true;
}

/// How a dashed IPv6 text was spelled, for the canonical check of {ip}.
struct V6Spelling {
  std::array<std::uint16_t, 8> groups{};  // all eight, those "--" stands for included
  bool leading_zero = false;              // a group such as "0db8" or "00"
  int gap = -1;                           // first group "--" stands for, -1 without "--"
  std::size_t gap_len = 0;                // groups it stands for
};

/// Dash-separated hex groups with at most one "--" standing for missing zero groups, read
/// from the start of s[0, left) up to the first byte that is neither a hex digit nor '-'.
/// Returns the length of that run, or 0 when the run is not such a text. Accepts more than
/// the canonical form; `spelling` tells how it was written.
std::size_t parse_v6_run(const char* s, std::size_t left, U128& out,
                         V6Spelling* spelling = nullptr) noexcept {
  const auto kind = [&](std::size_t k) -> std::uint8_t {
    return k < left ? kV6Char[static_cast<unsigned char>(s[k])] : kNotHex;
  };
  std::array<std::uint16_t, 8> groups{};
  std::size_t count = 0;
  int gap = -1;  // index in groups where "--" was
  bool leading_zero = false;
  std::size_t i = 0;
  if (kind(0) == kDash && kind(1) == kDash) {
    gap = 0;
    i = 2;
  }
  std::size_t j = i;
  for (;;) {
    std::uint32_t g = 0;
    for (std::uint8_t d = kind(j); d < kDash && j - i < 5; d = kind(++j)) {
      g = (g << 4) | d;
    }
    if (j == i || j - i > 4 || count == 8) {
      return 0;  // an empty or 5-digit group, a ninth group
    }
    leading_zero = leading_zero || (s[i] == '0' && j - i > 1);
    groups[count++] = static_cast<std::uint16_t>(g);
    if (kind(j) != kDash) {
      break;
    }
    ++j;
    if (kind(j) == kDash) {
      if (gap >= 0) {
        return 0;
      }
      gap = static_cast<int>(count);
      ++j;
      if (kind(j) == kNotHex) {
        break;  // ends in "--"
      }
    } else if (kind(j) == kNotHex) {
      return 0;  // a trailing single '-'
    }
    i = j;
  }
  if (kind(j) != kNotHex) {
    return 0;  // a hex digit or '-' right after a full group ("1-2-3-4-5-6-7-8-9")
  }
  std::array<std::uint16_t, 8> full{};
  if (gap < 0) {
    if (count != 8) {
      return 0;
    }
    full = groups;
  } else {
    if (count > 7) {
      return 0;
    }
    const std::size_t g0 = static_cast<std::size_t>(gap);
    const std::size_t tail = count - g0;
    for (std::size_t k = 0; k < g0; ++k) {
      full[k] = groups[k];
    }
    for (std::size_t k = 0; k < tail; ++k) {
      full[8 - tail + k] = groups[g0 + k];
    }
  }
  U128 v;
  for (std::size_t k = 0; k < 4; ++k) {
    v.hi = (v.hi << 16) | full[k];
    v.lo = (v.lo << 16) | full[k + 4];
  }
  out = v;
  if (spelling != nullptr) {
    spelling->groups = full;
    spelling->leading_zero = leading_zero;
    spelling->gap = gap;
    spelling->gap_len = gap < 0 ? 0 : 8 - count;
  }
  return j;
}

/// parse_v6_run over exactly s[0, n).
bool parse_v6_dashed(const char* s, std::size_t n, U128& out) noexcept {
  return parse_v6_run(s, n, out) == n;
}

/// The run of zero groups the {ip} form of IPv6 writes as "--" (see write_ip_token): the
/// longest run of at least 2 among groups 2..6, the leftmost on a tie.
dns::ZeroGroups ip_zero_run(const std::array<std::uint16_t, 8>& g) noexcept {
  return dns::longest_zero_groups(g, 2, 7);
}

std::array<std::uint16_t, 8> groups_of(U128 v) noexcept {
  std::array<std::uint16_t, 8> g{};
  for (std::size_t i = 0; i < 4; ++i) {
    g[i] = static_cast<std::uint16_t>(v.hi >> (48 - 16 * i));
    g[i + 4] = static_cast<std::uint16_t>(v.lo >> (48 - 16 * i));
  }
  return g;
}

/// {ip} of IPv6 read back from the start of s[0, left) in its canonical spelling only,
/// checked on the parsed groups instead of rendering the address again and comparing: no
/// leading zeros (lower case is the character set's), and "--" exactly where write_ip_token
/// puts it, or nowhere. Returns the length read, 0 when it is not such a text.
std::size_t parse_v6_ip(const char* s, std::size_t left, U128& out) noexcept {
  V6Spelling spelling;
  const std::size_t n = parse_v6_run(s, left, out, &spelling);
  if (n == 0 || spelling.leading_zero) {
    return 0;
  }
  const dns::ZeroGroups run = ip_zero_run(spelling.groups);
  return spelling.gap == run.start && spelling.gap_len == run.len ? n : 0;
}

/// Loose parse of a token's text into an address value (only the token's bits matter).
bool parse_token(TokenKind k, Family f, const dns::Prefix& p, const char* s, std::size_t n,
                 U128& out) noexcept {
  switch (k) {
    case TokenKind::a:
    case TokenKind::b:
    case TokenKind::c:
    case TokenKind::d: {
      std::uint32_t o = 0;
      if (!parse_octet(s, n, o)) {
        return false;
      }
      out = U128{0, std::uint64_t{o} << octet_shift(k)};
      return true;
    }
    case TokenKind::ip:
    case TokenKind::full:
      return f == Family::v4 ? parse_v4_dashed(s, n, out) : parse_v6_dashed(s, n, out);
    case TokenKind::hex: {
      const std::size_t want = f == Family::v4 ? 8 : 32;
      if (n != want) {
        return false;
      }
      U128 v;
      for (std::size_t i = 0; i < n; ++i) {
        if (!is_lower_hex(s[i])) {
          return false;
        }
        v.hi = (v.hi << 4) | (v.lo >> 60);
        v.lo = (v.lo << 4) | hex_value(s[i]);
      }
      out = v;
      return true;
    }
    case TokenKind::offset: {
      if (n == 0 || n > 39) {
        return false;
      }
      U128 v;
      for (std::size_t i = 0; i < n; ++i) {
        if (!is_digit(s[i]) || !v.mul10_add(static_cast<unsigned>(s[i] - '0'))) {
          return false;
        }
      }
      if (!(v & ~host_mask(f, p.length)).is_zero()) {
        return false;  // beyond the prefix size
      }
      out = U128::of(p.address) | v;
      return true;
    }
  }
  return false;
}

struct Width {
  std::size_t min = 0;
  std::size_t max = 0;
};

Width token_width(TokenKind k, Family f, const dns::Prefix& p) noexcept {
  const bool v4 = f == Family::v4;
  switch (k) {
    case TokenKind::a:
    case TokenKind::b:
    case TokenKind::c:
    case TokenKind::d:
      return {1, 3};
    case TokenKind::ip:
      return v4 ? Width{7, 15} : Width{6, 39};
    case TokenKind::full:
      return v4 ? Width{7, 15} : Width{39, 39};
    case TokenKind::hex:
      return v4 ? Width{8, 8} : Width{32, 32};
    case TokenKind::offset: {
      char tmp[40];
      return {1, write_dec128(host_mask(f, p.length), tmp)};
    }
  }
  return {};
}

/// Lower-cased presentation text of the first `labels` labels of `name`, each with its dot,
/// or 0 when one holds a byte outside [A-Za-z0-9-] (no template can produce it). `out` needs
/// Template::kMaxText + 8 bytes: the text is lower-cased and checked eight bytes at a time,
/// written past its end.
std::size_t lower_text(const dns::Name& name, std::size_t labels, char* out) noexcept {
  // The text is the wire minus its first byte, up to the length byte after the last label.
  const std::size_t len =
      labels < name.label_count() ? name.label_offset(labels) : name.wire_len() - 1;
  if (labels == 0 || len > Template::kMaxText) {
    return 0;
  }
  // Words are read straight from the wire and their length bytes turned into dots in the
  // register: a copy first would compile to `rep movs` (its start-up costs more than this
  // whole loop), and patching bytes in memory would stall the word loads that follow.
  using dns::swar::bytes_in;
  using dns::swar::kHighBits;
  using dns::swar::kOnes;
  const std::uint8_t* wire = name.wire().data() + 1;
  std::size_t l = 1;  // the next label whose length byte becomes a dot
  std::uint64_t bad = 0;
  for (std::size_t i = 0; i < len; i += 8) {
    std::uint64_t x = 0;
    if (i + 8 <= len) {
      x = dns::swar::load8(wire + i);
    } else {
      // The last 1..7 bytes, then 'a' (a valid filler) up to a word.
      const unsigned keep = 8 * static_cast<unsigned>(len - i);
      if (len >= 8) {
        x = dns::swar::load_last(wire + len, len - i);
      } else {
        std::uint8_t few[8] = {};
        std::memcpy(few, wire, len);
        x = dns::swar::load8(few);
      }
      x |= (kOnes * 'a') << keep;
    }
    std::uint64_t dots = 0;  // the high bit of each length byte in this word
    for (; l <= labels; ++l) {
      const std::size_t p = l < labels ? name.label_offset(l) - 1 : len - 1;
      if (p >= i + 8) {
        break;
      }
      dots |= std::uint64_t{0x80} << (8 * (p - i));
    }
    const std::uint64_t y = dns::swar::lower8(x);
    const std::uint64_t host =
        bytes_in(y, 'a', 'z') | bytes_in(y, '0', '9') | bytes_in(y, '-', '-');
    bad |= ~host & kHighBits & ~dots;  // bytes of 0x80 and up are never host characters
    const std::uint64_t dot_bytes = (dots >> 7) * 0xFF;
    dns::swar::store8(out + i, (y & ~dot_bytes) | (dot_bytes & (kOnes * '.')));
  }
  return bad == 0 ? len : 0;
}

bool bytes_equal(const char* a, const char* b, std::size_t n) noexcept {
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {  // literal suffixes such as ".pool.example.net." are long
    if (dns::swar::load8(a + i) != dns::swar::load8(b + i)) {
      return false;
    }
  }
  for (; i < n; ++i) {
    if (a[i] != b[i]) {
      return false;
    }
  }
  return true;
}

/// Tokens written as decimal octets: {a}..{d}, and {ip}/{full} of IPv4 (dashed).
constexpr bool is_decimal_octets(TokenKind k, Family f) noexcept {
  return is_octet_token(k) || (f == Family::v4 && (k == TokenKind::ip || k == TokenKind::full));
}

/// True when a decimal part of s (the parts are separated by '-') has a leading zero.
bool has_leading_zero(const char* s, std::size_t n) noexcept {
  for (std::size_t i = 0; i + 1 < n; ++i) {
    if (s[i] == '0' && (i == 0 || s[i - 1] == '-') && s[i + 1] != '-') {
      return true;
    }
  }
  return false;
}

/// Concatenates string-like parts (avoids operator+ chains, which trip GCC 12 -Wrestrict).
template <class... Parts>
std::string cat(const Parts&... parts) {
  std::string s;
  (s.append(std::string_view(parts)), ...);
  return s;
}

std::string column_text(std::size_t col) {
  return cat("column ", std::to_string(col));
}

std::string show_char(char c) {
  const auto u = static_cast<unsigned char>(c);
  if (u >= 0x21 && u < 0x7F) {
    return std::string("'") + c + "'";
  }
  static constexpr char kHex[] = "0123456789abcdef";
  return std::string("byte 0x") + kHex[u >> 4] + kHex[u & 0xF];
}

std::uint64_t splitmix64(std::uint64_t& state) noexcept {
  std::uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

}  // namespace

std::string_view token_name(TokenKind k) noexcept {
  for (const auto& t : kTokens) {
    if (t.kind == k) {
      return t.name;
    }
  }
  return "?";
}

// The {ip} rule for IPv6, derived from Knot 3.2.6 mod-synthrecord with `reverse-short: on`
// and checked against it on all 256 zero/non-zero group patterns plus 3 000 random addresses:
//   1. Write the 8 groups in lower-case hex without leading zeros ("0" for a zero group),
//      separated by '-'.
//   2. Look for runs of zero groups only among groups 3..7 (1-based; indexes 2..6): the
//      first two groups and the last group are always written out.
//   3. The longest such run of at least 2 groups (the leftmost one on a tie) is replaced by
//      "--", i.e. the groups before it, "--", the groups after it. A run of one is kept.
// So the text never starts or ends with '-' and "--" can appear no earlier than characters
// 4-5 (IDNA reserves "--" at 3-4). Examples: :: -> 0-0--0, ::1 -> 0-0--1, 1:: -> 1-0--0,
// 2001:db8:0:0:a:0:0:0 -> 2001-db8--a-0-0-0, 1:2:0:4:0:0:0:8 -> 1-2-0-4--8.
// IPv4 is the dotted quad with '-' for '.': 10-1-2-3.
std::size_t write_ip_token(const dns::IpAddress& a, char* out) noexcept {
  const U128 v = U128::of(a);
  if (a.is_v4()) {
    return write_v4_dashed(static_cast<std::uint32_t>(v.lo), out);
  }
  const std::array<std::uint16_t, 8> g = groups_of(v);
  const dns::ZeroGroups run = ip_zero_run(g);
  const std::size_t best_start = run.start < 0 ? 8 : static_cast<std::size_t>(run.start);
  std::size_t n = 0;
  bool need_dash = false;
  for (std::size_t i = 0; i < 8; ++i) {
    if (i == best_start) {
      out[n++] = '-';
      out[n++] = '-';
      i += run.len - 1;
      need_dash = false;
      continue;
    }
    if (need_dash) {
      out[n++] = '-';
    }
    n += dns::write_hex_group(out + n, g[i]);
    need_dash = true;
  }
  return n;
}

std::string_view hostname_problem(std::string_view text) noexcept {
  if (!text.empty() && text.back() == '.') {
    text.remove_suffix(1);
  }
  if (text.empty()) {
    return "empty name";
  }
  std::size_t wire = 1;
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t end = text.find('.', start);
    if (end == std::string_view::npos) {
      end = text.size();
    }
    const std::string_view l = text.substr(start, end - start);
    if (l.empty()) {
      return "empty label";
    }
    if (l.size() > 63) {
      return "label longer than 63 octets";
    }
    for (const char raw : l) {
      if (!is_host_char(lower(raw))) {
        return "character outside [a-z0-9-]";
      }
    }
    if (l.front() == '-') {
      return "label starts with '-'";
    }
    if (l.back() == '-') {
      return "label ends with '-'";
    }
    if (l.size() >= 4 && l[2] == '-' && l[3] == '-') {
      return "'--' at positions 3-4 of a label (reserved for IDNA)";
    }
    wire += l.size() + 1;
    start = end + 1;
  }
  if (wire > dns::Name::kMaxWire) {
    return "name longer than 255 octets";
  }
  return {};
}

Outcome<Template> Template::compile(std::string_view text, const dns::Prefix& prefix,
                                    unsigned samples) {
  const Family f = prefix.family();
  if (prefix.length > prefix.address.bits() ||
      prefix.address.masked(prefix.length) != prefix.address) {
    return make_error("prefix " + prefix.to_string() + " has host bits set");
  }
  if (text.empty()) {
    return make_error("template is empty");
  }
  if (text.size() > 1024) {
    return make_error("template is longer than 1024 characters");
  }
  Template t;
  t.prefix_ = prefix;
  auto shape = std::make_shared<Shape>();
  Shape& sh = *shape;
  t.shape_ = shape;
  std::vector<std::size_t> columns;  // 1-based column of each piece

  std::size_t i = 0;
  while (i < text.size()) {
    const char c = text[i];
    const std::size_t col = i + 1;
    if (c == '{') {
      const std::size_t close = text.find('}', i + 1);
      const std::size_t bad_open = text.find('{', i + 1);
      if (close == std::string_view::npos || bad_open < close) {
        return make_error("unterminated '{' at " + column_text(col));
      }
      const std::string_view name = text.substr(i + 1, close - i - 1);
      const auto it = std::find_if(kTokens.begin(), kTokens.end(),
                                   [&](const TokenSpec& s) { return s.name == name; });
      if (it == kTokens.end()) {
        return make_error(cat("unknown token {", name, "} at ", column_text(col),
                              " (known: {a} {b} {c} {d} {ip} {full} {hex} {offset})"));
      }
      if (!sh.pieces.empty() && sh.pieces.back().token) {
        return make_error("ambiguous: two tokens next to each other without a separator at " +
                          column_text(col));
      }
      if (is_octet_token(it->kind) && f == Family::v6) {
        return make_error(cat("{", name, "} is IPv4-only but the prefix is IPv6"));
      }
      Piece p;
      p.token = true;
      p.kind = it->kind;
      sh.pieces.push_back(p);
      columns.push_back(col);
      sh.text.append(text.substr(i, close - i + 1));
      i = close + 1;
      continue;
    }
    if (c == '}') {
      return make_error("unexpected '}' at " + column_text(col));
    }
    const char lc = lower(c);
    if (!is_host_char(lc) && lc != '.') {
      return make_error("character " + show_char(c) + " at " + column_text(col) +
                        " is not allowed (use a-z, 0-9, '-', '.' and {tokens})");
    }
    if (lc == '.' && (sh.text.empty() || sh.text.back() == '.')) {
      return make_error("empty label at " + column_text(col));
    }
    if (sh.pieces.empty() || sh.pieces.back().token) {
      Piece p;
      p.offset = static_cast<std::uint16_t>(sh.text.size());
      sh.pieces.push_back(p);
      columns.push_back(col);
    }
    sh.text.push_back(lc);
    ++sh.pieces.back().length;
    ++i;
  }
  if (sh.text.back() != '.') {
    return make_error("template must end with a dot (absolute name)");
  }

  // Which address bits the tokens give; the rest must come from the prefix.
  U128 known = network_mask(f, prefix.length);
  bool any_token = false;
  for (const Piece& p : sh.pieces) {
    if (p.token) {
      any_token = true;
      known = known | token_mask(p.kind, f);
    }
  }
  if (!any_token) {
    return make_error("no address token: the template cannot be inverted");
  }
  if (known != family_mask(f)) {
    std::string missing;
    for (const TokenKind k : {TokenKind::a, TokenKind::b, TokenKind::c, TokenKind::d}) {
      if ((known & token_mask(k, f)) != token_mask(k, f)) {
        missing += cat(" {", token_name(k), "}");
      }
    }
    return make_error("the template cannot be inverted: the prefix " + prefix.to_string() +
                      " leaves address bits open that no token gives (missing" + missing +
                      ", or use {ip})");
  }

  // Token boundaries must be unambiguous when reading a name back.
  for (std::size_t k = 0; k + 1 < sh.pieces.size(); ++k) {
    const Piece& p = sh.pieces[k];
    if (!p.token || is_fixed_width(p.kind, f)) {
      continue;
    }
    const char next = sh.text[sh.pieces[k + 1].offset];
    if (in_charset(p.kind, f, next)) {
      return make_error(cat("ambiguous: {", token_name(p.kind), "} at ", column_text(columns[k]),
                            " is followed by '", std::string(1, next),
                            "', which can be part of it"));
    }
  }

  // Static label checks with each token's shortest and longest spelling.
  {
    std::size_t label_no = 1;
    std::size_t min_pos = 0;
    std::size_t max_pos = 0;
    std::size_t wire_max = 1;
    bool label_start = true;
    auto end_label = [&](std::size_t col) -> std::string {
      if (max_pos > 63) {
        return "label " + std::to_string(label_no) + " can be up to " + std::to_string(max_pos) +
               " octets long (more than 63) (label ending at " + column_text(col) + ")";
      }
      wire_max += max_pos + 1;
      ++label_no;
      min_pos = max_pos = 0;
      label_start = true;
      return {};
    };
    for (std::size_t k = 0; k < sh.pieces.size(); ++k) {
      const Piece& p = sh.pieces[k];
      if (p.token) {
        const Width w = token_width(p.kind, f, prefix);
        min_pos += w.min;
        max_pos += w.max;
        label_start = false;
        continue;
      }
      for (std::size_t j = 0; j < p.length; ++j) {
        const char c = sh.text[p.offset + j];
        const std::size_t col = columns[k] + j;
        if (c == '.') {
          if (auto err = end_label(col); !err.empty()) {
            return make_error(std::move(err));
          }
          continue;
        }
        if (c == '-') {
          if (label_start) {
            return make_error("label " + std::to_string(label_no) + " starts with '-' at " +
                              column_text(col));
          }
          // A literal never ends a label with '-' unless a '.' follows (the template ends
          // with '.', so a literal ending in '-' is followed by a token).
          const bool label_ends = j + 1 < p.length && sh.text[p.offset + j + 1] == '.';
          if (label_ends) {
            return make_error("label " + std::to_string(label_no) + " ends with '-' at " +
                              column_text(col));
          }
          if (j + 1 < p.length && sh.text[p.offset + j + 1] == '-' && min_pos <= 2 &&
              max_pos >= 2) {
            return make_error("'--' at " + column_text(col) +
                              " can fall on positions 3-4 of label " + std::to_string(label_no) +
                              ", which IDNA reserves");
          }
        }
        label_start = false;
        ++min_pos;
        ++max_pos;
      }
    }
    sh.label_count = label_no - 1;
    if (wire_max > dns::Name::kMaxWire) {
      return make_error("names can be up to " + std::to_string(wire_max) +
                        " octets long (more than 255)");
    }
  }

  // The suffix: whole labels after the last token.
  {
    const std::string_view lit = t.literal_suffix();
    const std::size_t dot = lit.find('.');
    const auto name = dns::Name::from_text(lit.substr(dot + 1));
    if (!name) {
      return make_error(cat("internal: suffix '", lit, "' is not a name"));
    }
    sh.suffix = *name;
  }

  {
    U128 from_tokens;
    bool offset = false;
    for (const Piece& p : sh.pieces) {
      if (p.token) {
        from_tokens = from_tokens | token_mask(p.kind, f);
        offset = offset || p.kind == TokenKind::offset;
      }
    }
    sh.self_contained = !offset && from_tokens == family_mask(f);
  }

  if (std::string err = t.validate(samples); !err.empty()) {
    return make_error(std::move(err));
  }
  return t;
}

Outcome<Template> Template::for_prefix(const dns::Prefix& prefix, unsigned samples) const {
  if (shape_ == nullptr || prefix.family() != prefix_.family() || prefix.length != prefix_.length ||
      prefix.address.masked(prefix.length) != prefix.address) {
    return compile(text(), prefix, samples);
  }
  Template t = *this;
  t.prefix_ = prefix;
  if (std::string err = t.validate(samples); !err.empty()) {
    return make_error(std::move(err));
  }
  return t;
}

std::string Template::validate(unsigned samples) const {
  const Family f = prefix_.family();
  const U128 base = U128::of(prefix_.address);
  const U128 host = host_mask(f, prefix_.length);
  std::uint64_t seed = 0x616D61705F746D70ULL;  // fixed: the same addresses every time
  for (unsigned n = 0; n < samples + 2; ++n) {
    U128 v = base;
    if (n == 1) {
      v = base | host;
    } else if (n >= 2) {
      v = base | (U128{splitmix64(seed), splitmix64(seed)} & host);
    }
    const dns::IpAddress a = v.to_address(f);
    char buf[kMaxText];
    const std::size_t len = render(a, buf, sizeof buf);
    if (len == 0) {
      return "address " + a.to_string() + " cannot be rendered (name too long)";
    }
    const std::string_view text(buf, len);
    if (const auto why = hostname_problem(text); !why.empty()) {
      return "address " + a.to_string() + " renders as '" + std::string(text) +
             "', which is not a valid hostname: " + std::string(why);
    }
    dns::Name name;  // a plain hostname now: no escapes to decode
    const auto copy_text = [&](char* out, std::size_t cap) {
      if (text.size() > cap) {
        return std::size_t{0};
      }
      std::memcpy(out, text.data(), text.size());
      return text.size();
    };
    if (!name.fill_hostname(copy_text)) {
      return "address " + a.to_string() + " renders as '" + std::string(text) +
             "', which is not a valid name";
    }
    const auto back = matches(name);
    if (!back) {
      return "address " + a.to_string() + " renders as '" + std::string(text) +
             "', which does not parse back";
    }
    if (*back != a) {
      return "address " + a.to_string() + " renders as '" + std::string(text) +
             "', which parses back as " + back->to_string();
    }
  }
  return {};
}

std::string_view Template::literal_suffix() const noexcept {
  if (shape_ == nullptr || shape_->pieces.back().token) {
    return {};
  }
  const Piece& p = shape_->pieces.back();
  return std::string_view(shape_->text).substr(p.offset, p.length);
}

bool Template::uses(TokenKind k) const noexcept {
  if (shape_ == nullptr) {
    return false;
  }
  return std::any_of(shape_->pieces.begin(), shape_->pieces.end(),
                     [k](const Piece& p) { return p.token && p.kind == k; });
}

std::size_t Template::render(const dns::IpAddress& addr, char* out,
                             std::size_t cap) const noexcept {
  if (shape_ == nullptr || !prefix_.contains(addr)) {
    return 0;
  }
  const Shape& shape = *shape_;
  const Family f = prefix_.family();
  const U128 v = U128::of(addr);
  std::size_t n = 0;
  for (const Piece& p : shape.pieces) {
    if (p.token) {
      if (cap - n >= kMaxTokenText) {
        n += render_token(p.kind, f, prefix_, v, out + n);  // room for any token
        continue;
      }
      char tmp[kMaxTokenText];
      const std::size_t len = render_token(p.kind, f, prefix_, v, tmp);
      if (len > cap - n) {
        return 0;
      }
      std::memcpy(out + n, tmp, len);
      n += len;
    } else {
      if (p.length > cap - n) {
        return 0;
      }
      // Literals are short: a loop beats a library call.
      const char* lit = shape.text.data() + p.offset;
      for (std::size_t i = 0; i < p.length; ++i) {
        out[n + i] = lit[i];
      }
      n += p.length;
    }
  }
  return n;
}

bool Template::render(const dns::IpAddress& addr, dns::Name& out) const noexcept {
  // Rendered names are plain hostnames (checked at compile time): no escapes to decode, so
  // the text can go straight into the name's buffer.
  return out.fill_hostname(
      [&](char* text, std::size_t cap) { return render(addr, text, std::min(cap, kMaxText)); });
}

bool Template::parse_text(std::string_view s, std::size_t known_tail, dns::IpAddress& out,
                          bool check_prefix) const noexcept {
  const Family f = prefix_.family();
  U128 value;
  U128 known;
  std::size_t pos = 0;
  const Shape& shape = *shape_;  // parse_name checked it
  for (const Piece& p : shape.pieces) {
    const std::size_t left = s.size() - pos;
    if (!p.token) {
      const std::size_t length = &p == &shape.pieces.back() ? p.length - known_tail : p.length;
      if (length > left || !bytes_equal(s.data() + pos, shape.text.data() + p.offset, length)) {
        return false;
      }
      pos += length;
      continue;
    }
    std::size_t n = 0;
    U128 v;
    // Canonical spelling only: the token must re-render to exactly what was read. {ip} of
    // IPv6 finds its own end and checks its groups and "--" as it parses. Decimal octets
    // (alone or dashed) parsed fine, so for them that is just "no leading zero".
    if (p.kind == TokenKind::ip && f == Family::v6) {
      n = parse_v6_ip(s.data() + pos, left, v);
      if (n == 0) {
        return false;
      }
    } else {
      if (is_fixed_width(p.kind, f)) {
        n = token_width(p.kind, f, prefix_).max;
        if (n > left) {
          return false;
        }
      } else {
        const Charset& cs = charset(p.kind, f);
        while (n < left && n <= 39 && cs.has[static_cast<unsigned char>(s[pos + n])]) {
          ++n;
        }
      }
      if (n == 0 || n > 39 || !parse_token(p.kind, f, prefix_, s.data() + pos, n, v)) {
        return false;
      }
      if (is_decimal_octets(p.kind, f)) {
        if (has_leading_zero(s.data() + pos, n)) {
          return false;
        }
      } else {
        char tmp[40];
        const std::size_t len = render_token(p.kind, f, prefix_, v, tmp);
        if (len != n || !bytes_equal(tmp, s.data() + pos, n)) {
          return false;
        }
      }
    }
    const U128 m = token_mask(p.kind, f);
    if (!((value ^ v) & known & m).is_zero()) {
      return false;  // the same bits given twice with different values
    }
    value = value | (v & m);
    known = known | m;
    pos += n;
  }
  if (pos != s.size()) {
    return false;
  }
  value = (value & known) | (U128::of(prefix_.address) & ~known);
  if (f == Family::v4) {
    out.set_v4(static_cast<std::uint32_t>(value.lo));
  } else {
    out.set_v6(value.hi, value.lo);
  }
  return !check_prefix || prefix_.contains(out);
}

std::optional<dns::IpAddress> Template::parse_name(const dns::Name& name, bool check_prefix,
                                                   Suffix suffix) const noexcept {
  if (shape_ == nullptr || name.label_count() != shape_->label_count) {
    return std::nullopt;
  }
  // Below a suffix the caller has checked, only the labels before it are read: the text of
  // the suffix ends the last literal piece (its labels are after the last token).
  std::size_t labels = shape_->label_count;
  std::size_t known_tail = 0;
  if (suffix == Suffix::checked) {
    labels -= this->suffix().label_count();
    known_tail = this->suffix().wire_len() - 1;
  }
  char buf[kMaxText + 8];
  const std::size_t n = lower_text(name, labels, buf);
  // parse_text accepts each token only in its canonical spelling and every literal exactly,
  // so a successful parse is render(parse(name)) == name without rendering again. It fills
  // the result in place (one named result: no copy of the address).
  std::optional<dns::IpAddress> result(std::in_place);
  if (n == 0 || !parse_text(std::string_view(buf, n), known_tail, *result, check_prefix)) {
    result.reset();
  }
  return result;
}

std::optional<dns::IpAddress> Template::matches(const dns::Name& name,
                                                Suffix suffix) const noexcept {
  return parse_name(name, /*check_prefix=*/true, suffix);
}

std::optional<dns::IpAddress> Template::matches_any_prefix(const dns::Name& name,
                                                           Suffix suffix) const noexcept {
  return parse_name(name, /*check_prefix=*/false, suffix);
}

bool templates_collide(const Template& a, const Template& b) noexcept {
  return a.prefix().family() == b.prefix().family() && a.prefix() != b.prefix() &&
         !a.self_contained() && !b.self_contained() && a.text() == b.text();
}

std::string collision_message(std::string_view text, std::string_view a_what,
                              std::string_view b_what) {
  return cat(a_what, " and ", b_what, " share the template \"", text,
             "\", whose tokens do not give the whole address, so their names collide (a forward "
             "lookup could not tell the addresses apart): use {ip}, {full} or {hex}, or different "
             "literal text");
}

}  // namespace amap::mapper
