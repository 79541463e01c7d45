// SPDX-License-Identifier: MIT
#include "mapper/dns/name.h"

#include <algorithm>
#include <bit>
#include <cstring>

#include "mapper/dns/swar.h"

namespace amap::dns {

namespace {

using swar::kOnes;
using swar::load8;
using swar::lower8;

constexpr std::uint64_t mix(std::uint64_t h, std::uint64_t v) noexcept {
  h = (h ^ v) * 0x9E3779B97F4A7C15ULL;
  return h ^ (h >> 29);
}

}  // namespace

bool iequal_wire(const std::uint8_t* a, const std::uint8_t* b, std::size_t n) noexcept {
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    if (lower8(load8(a + i)) != lower8(load8(b + i))) {
      return false;
    }
  }
  for (; i < n; ++i) {
    if (ascii_lower(a[i]) != ascii_lower(b[i])) {
      return false;
    }
  }
  return true;
}

bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (ascii_lower(static_cast<std::uint8_t>(a[i])) !=
        ascii_lower(static_cast<std::uint8_t>(b[i]))) {
      return false;
    }
  }
  return true;
}

Result<Name> Name::from_text(std::string_view text) noexcept {
  Name n;
  if (text.empty() || text == ".") {
    return n;
  }
  std::size_t pos = 0;     // write position in wire_
  std::size_t len_at = 0;  // position of the current label's length byte
  std::size_t label_len = 0;
  pos = 1;
  for (std::size_t i = 0; i < text.size(); ++i) {
    std::uint8_t c = static_cast<std::uint8_t>(text[i]);
    if (c == '.') {
      if (label_len == 0) {
        return fail(Errc::empty_label);
      }
      n.wire_[len_at] = static_cast<std::uint8_t>(label_len);
      if (i + 1 == text.size()) {
        label_len = 0;
        break;  // trailing dot
      }
      len_at = pos++;
      label_len = 0;
      if (pos >= kMaxWire) {
        return fail(Errc::too_long);
      }
      continue;
    }
    if (c == '\\') {
      if (i + 1 >= text.size()) {
        return fail(Errc::bad_escape);
      }
      const auto d = static_cast<std::uint8_t>(text[i + 1]);
      if (d >= '0' && d <= '9') {
        if (i + 3 >= text.size()) {
          return fail(Errc::bad_escape);
        }
        unsigned v = 0;
        for (std::size_t k = 1; k <= 3; ++k) {
          const char ch = text[i + k];
          if (ch < '0' || ch > '9') {
            return fail(Errc::bad_escape);
          }
          v = v * 10 + static_cast<unsigned>(ch - '0');
        }
        if (v > 255) {
          return fail(Errc::bad_escape);
        }
        c = static_cast<std::uint8_t>(v);
        i += 3;
      } else {
        c = d;
        i += 1;
      }
    }
    if (label_len == kMaxLabel) {
      return fail(Errc::label_too_long);
    }
    if (pos + 1 >= kMaxWire) {  // room for this byte and the root label
      return fail(Errc::too_long);
    }
    n.wire_[pos++] = c;
    ++label_len;
  }
  if (label_len > 0) {
    n.wire_[len_at] = static_cast<std::uint8_t>(label_len);
  }
  n.wire_[pos++] = 0;
  n.wire_len_ = static_cast<std::uint8_t>(pos);
  n.index_labels();
  return n;
}

Errc Name::assign_wire(std::span<const std::uint8_t> in, std::size_t& used) noexcept {
  // One pass: check every length byte and note where each label starts; the bytes are copied
  // once the end is known.
  std::size_t pos = 0;
  std::uint8_t count = 0;
  auto failed = [this](Errc e) {
    *this = Name{};
    return e;
  };
  while (true) {
    if (pos >= in.size()) {
      return failed(Errc::truncated);
    }
    const std::uint8_t len = in[pos];
    if (len == 0) {
      break;
    }
    if (len > kMaxLabel) {
      return failed(len >= 0xC0 ? Errc::bad_pointer : Errc::bad_label_type);
    }
    if (pos + 1U + len + 1U > kMaxWire) {  // this label and the root must still fit
      return failed(Errc::too_long);
    }
    offsets_[count++] = static_cast<std::uint8_t>(pos);
    pos += 1U + len;
  }
  used = pos + 1;
  std::memcpy(wire_.data(), in.data(), used);
  wire_len_ = static_cast<std::uint8_t>(used);
  label_count_ = count;
  return Errc::ok;
}

Result<Name> Name::read_wire(std::span<const std::uint8_t> in, std::size_t& used) noexcept {
  Name n;
  const Errc e = n.assign_wire(in, used);
  if (e != Errc::ok) {
    return fail(e);
  }
  return n;
}

Result<Name> Name::from_wire(std::span<const std::uint8_t> wire) noexcept {
  std::size_t used = 0;
  auto n = read_wire(wire, used);
  if (n && used != wire.size()) {
    return fail(Errc::malformed);
  }
  return n;
}

bool Name::index_hostname(std::size_t n) noexcept {
  // wire_[1, n] holds the text; wire_[0] stands for a dot before the first label.
  if (wire_[n] != '.') {
    if (n + 1 >= kMaxWire) {
      return false;  // no room for the root label
    }
    wire_[++n] = '.';
  }
  std::size_t labels = 0;
  std::size_t len_at = 0;
  auto dot_at = [&](std::size_t i) {
    const std::size_t len = i - len_at - 1;
    if (len == 0 || len > kMaxLabel || labels == kMaxLabels) {
      return false;
    }
    wire_[len_at] = static_cast<std::uint8_t>(len);
    offsets_[labels++] = static_cast<std::uint8_t>(len_at);
    len_at = i;
    return true;
  };
  // Eight bytes at a time: find the dots and any byte that is not in a plain hostname
  // (<= 0x20 or '\\'); the rest byte by byte.
  constexpr std::uint64_t k7f = swar::kLow7;
  auto zero_bytes = [](std::uint64_t x) {  // 0x80 in every byte of x that is 0
    return ~(((x & k7f) + k7f) | x | k7f);
  };
  std::uint64_t bad = 0;
  std::size_t i = 1;
  for (; i + 8 <= n + 1; i += 8) {
    const std::uint64_t v = load8(wire_.data() + i);
    const std::uint64_t below_21 = ~(((v & k7f) + kOnes * (0x80 - 0x21)) | v | k7f);
    bad |= below_21 | zero_bytes(v ^ (kOnes * '\\'));
    for (std::uint64_t dots = zero_bytes(v ^ (kOnes * '.')); dots != 0; dots &= dots - 1) {
      if (!dot_at(i + static_cast<std::size_t>(std::countr_zero(dots)) / 8)) {
        return false;
      }
    }
  }
  for (; i <= n; ++i) {
    const std::uint8_t c = wire_[i];
    bad |= c == '\\' || c <= 0x20;
    if (c == '.' && !dot_at(i)) {
      return false;
    }
  }
  if (bad != 0) {
    return false;
  }
  wire_[n] = 0;  // the trailing dot becomes the root label
  wire_len_ = static_cast<std::uint8_t>(n + 1);
  label_count_ = static_cast<std::uint8_t>(labels);
  return true;
}

void Name::index_labels() noexcept {
  std::size_t pos = 0;
  std::uint8_t count = 0;
  while (wire_[pos] != 0) {
    offsets_[count++] = static_cast<std::uint8_t>(pos);
    pos += 1U + wire_[pos];
  }
  label_count_ = count;
}

Name Name::suffix(std::size_t n) const noexcept {
  if (n >= label_count_) {
    return *this;
  }
  Name out;
  if (n == 0) {
    return out;  // the root
  }
  const std::size_t from = offsets_[label_count_ - n];
  const std::size_t len = wire_len_ - from;
  std::memcpy(out.wire_.data(), wire_.data() + from, len);
  out.wire_len_ = static_cast<std::uint8_t>(len);
  out.index_labels();
  return out;
}

bool Name::is_subdomain_of(const Name& zone) const noexcept {
  if (zone.label_count_ > label_count_) {
    return false;
  }
  const std::size_t from =
      zone.label_count_ == 0 ? wire_len_ - 1U : offsets_[label_count_ - zone.label_count_];
  if (wire_len_ - from != zone.wire_len_) {
    return false;
  }
  return iequal_wire(wire_.data() + from, zone.wire_.data(), zone.wire_len_);
}

Status Name::prepend(std::string_view label) noexcept {
  if (label.empty()) {
    return fail(Errc::empty_label);
  }
  if (label.size() > kMaxLabel) {
    return fail(Errc::label_too_long);
  }
  if (wire_len_ + label.size() + 1 > kMaxWire) {
    return fail(Errc::too_long);
  }
  std::memmove(wire_.data() + label.size() + 1, wire_.data(), wire_len_);
  wire_[0] = static_cast<std::uint8_t>(label.size());
  std::memcpy(wire_.data() + 1, label.data(), label.size());
  wire_len_ = static_cast<std::uint8_t>(wire_len_ + label.size() + 1);
  index_labels();
  return {};
}

std::size_t Name::to_text(char* out, std::size_t cap, bool trailing_dot) const noexcept {
  std::size_t o = 0;
  auto put = [&](char c) {
    if (o < cap) {
      out[o] = c;
    }
    ++o;
  };
  if (label_count_ == 0) {
    put('.');
  }
  for (std::size_t i = 0; i < label_count_; ++i) {
    for (const char ch : label(i)) {
      const auto c = static_cast<std::uint8_t>(ch);
      if (c == '.' || c == '\\') {
        put('\\');
        put(static_cast<char>(c));
      } else if (c <= 0x20 || c >= 0x7F) {
        put('\\');
        put(static_cast<char>('0' + c / 100));
        put(static_cast<char>('0' + (c / 10) % 10));
        put(static_cast<char>('0' + c % 10));
      } else {
        put(static_cast<char>(c));
      }
    }
    if (trailing_dot || i + 1 < label_count_) {
      put('.');
    }
  }
  if (o >= cap) {
    if (cap > 0) {
      out[0] = '\0';
    }
    return 0;
  }
  out[o] = '\0';
  return o;
}

std::string Name::to_string(bool trailing_dot) const {
  char buf[kMaxText + 1];
  return std::string(buf, to_text(buf, sizeof buf, trailing_dot));
}

std::size_t Name::hash() const noexcept {
  std::uint64_t h = 1469598103934665603ULL;  // FNV-1a
  for (std::size_t i = 0; i < wire_len_; ++i) {
    h ^= ascii_lower(wire_[i]);
    h *= 1099511628211ULL;
  }
  return static_cast<std::size_t>(h);
}

bool operator==(const Name& a, const Name& b) noexcept {
  return a.wire_len_ == b.wire_len_ && a.label_count_ == b.label_count_ &&
         iequal_wire(a.wire_.data(), b.wire_.data(), a.wire_len_);
}

void suffix_hashes(const Name& name, SuffixHashes& out, std::size_t max_labels) noexcept {
  // Eight bytes of a label per step. A label's last len % 8 bytes come from one load that
  // ends where the label ends: those bytes before it belong to earlier labels of the same
  // name, so nothing outside the name is read. Only a short label at the very start of the
  // name is gathered byte by byte.
  const std::uint8_t* wire = name.wire().data();
  std::uint64_t h = 0x243F6A8885A308D3ULL;  // any seed
  out[0] = h;
  const std::size_t labels = name.label_count();
  const std::size_t last = std::min(labels, max_labels);
  for (std::size_t k = 1; k <= last; ++k) {
    const std::size_t off = name.label_offset(labels - k);
    const std::size_t len = wire[off];
    const std::uint8_t* p = wire + off + 1;
    h = mix(h, len);
    std::size_t i = 0;
    for (; i + 8 <= len; i += 8) {
      h = mix(h, lower8(load8(p + i)));
    }
    const std::size_t tail = len - i;
    if (tail != 0) {
      std::uint64_t v = 0;
      if (off + 1 + len >= 8) {
        v = swar::load_last(p + len, tail);  // the label's last `tail` bytes
      } else {
        for (std::size_t j = 0; j < tail; ++j) {
          v |= std::uint64_t{p[i + j]} << (8 * j);
        }
      }
      h = mix(h, lower8(v));
    }
    out[k] = h;
  }
}

std::uint64_t suffix_hash(const Name& name) noexcept {
  SuffixHashes h;
  suffix_hashes(name, h, name.label_count());
  return h[name.label_count()];
}

}  // namespace amap::dns
