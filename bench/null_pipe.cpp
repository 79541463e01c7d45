// SPDX-License-Identifier: MIT
// automap_null_pipe: the baseline PowerDNS pipe coprocesses of bench/automap-bench (ABI 1).
//
//   automap_null_pipe                 do-nothing: HELO -> OK, every other line -> END. PowerDNS
//                                     finds no zone and answers REFUSED after its SOA walk.
//   automap_null_pipe --apex ZONE...  canned: the same answer shapes automap gives, with
//                                     constant data and no lookup, so PowerDNS does the same
//                                     work as with automapd pipe (same SOA walk depth, same
//                                     ANY walk, one answer row) and only the coprocess differs:
//                                       SOA/ANY at an apex       -> a constant SOA row
//                                       a reverse name of full depth below a reverse apex
//                                       (6 labels in-addr.arpa, 34 labels ip6.arpa) -> a PTR
//                                       any other name below a forward apex, qtype ANY/A/AAAA
//                                                                -> an A and an AAAA row
//                                       everything else          -> END (reverse names above
//                                       full depth are empty non-terminals, as in automap)
//                                     --nxdomain FILE (with --apex): the names listed there
//                                     (automap_gen_queries --nxdomain-names) and wildcard
//                                     names ("*." first) get END too, so PowerDNS does the
//                                     same NXDOMAIN work (its wildcard and parent walk) as
//                                     behind automapd pipe. A hash set lookup, no synthesis.
//
// One read() and one write() per batch of request lines, the same I/O shape as automapd pipe.

#include <strings.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

namespace {

bool write_all(const char* p, std::size_t n) {
  while (n > 0) {
    const ssize_t w = ::write(STDOUT_FILENO, p, n);
    if (w < 0) {
      if (errno == EINTR) {
        continue;
      }
      return false;
    }
    p += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

bool iequal(std::string_view a, std::string_view b) {
  return a.size() == b.size() && ::strncasecmp(a.data(), b.data(), a.size()) == 0;
}

bool ends_with_label(std::string_view name, std::string_view apex) {
  return name.size() > apex.size() + 1 && name[name.size() - apex.size() - 1] == '.' &&
         iequal(name.substr(name.size() - apex.size()), apex);
}

std::size_t labels(std::string_view name) {
  std::size_t n = name.empty() ? 0 : 1;
  for (const char c : name) {
    n += c == '.' ? 1 : 0;
  }
  return n;
}

struct Apex {
  std::string name;             // without the trailing dot, as PowerDNS sends names
  std::size_t leaf_labels = 0;  // reverse: labels of a full-depth name; 0 = forward
};

void to_lower(std::string& s) {
  for (char& c : s) {
    c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  }
}

class Canned {
 public:
  Canned(std::vector<Apex> apexes, std::unordered_set<std::string> nxdomain)
      : apexes_(std::move(apexes)), nxdomain_(std::move(nxdomain)) {}

  // Appends the reply to one request line (without its newline) to `out`.
  void reply(std::string_view line, std::string& out) const {
    if (line.starts_with("HELO")) {
      out += "OK\tautomap canned pipe\n";
      return;
    }
    // Q <qname> <qclass> <qtype> <id> <remote>
    std::string_view f[4];
    std::size_t n = 0;
    while (n < 4) {
      const std::size_t tab = line.find('\t');
      f[n++] = line.substr(0, tab);
      if (tab == std::string_view::npos) {
        break;
      }
      line.remove_prefix(tab + 1);
    }
    if (n < 4 || f[0] != "Q") {
      out += "END\n";
      return;
    }
    const std::string_view qname = f[1];
    const std::string_view qtype = f[3];
    const bool any = qtype == "ANY";
    for (const Apex& a : apexes_) {
      if (iequal(qname, a.name)) {
        if (any || qtype == "SOA") {
          row(out, qname, "SOA", "ns1.example.net. hostmaster.example.net. 1 3600 600 604800 300");
        }
        break;
      }
      if (!ends_with_label(qname, a.name) || qtype == "SOA") {
        continue;
      }
      if (qname.starts_with("*.") || is_nxdomain(qname)) {
        break;
      }
      if (a.leaf_labels != 0) {
        if ((any || qtype == "PTR") && labels(qname) == a.leaf_labels) {
          row(out, qname, "PTR", "host.example.net.");
        }
      } else {
        if (any || qtype == "A") {
          row(out, qname, "A", "192.0.2.1");
        }
        if (any || qtype == "AAAA") {
          row(out, qname, "AAAA", "2001:db8::1");
        }
      }
      break;
    }
    out += "END\n";
  }

 private:
  static void row(std::string& out, std::string_view qname, std::string_view type,
                  std::string_view content) {
    out += "DATA\t";
    out += qname;
    out += "\tIN\t";
    out += type;
    out += "\t300\t-1\t";
    out += content;
    out += '\n';
  }

  bool is_nxdomain(std::string_view qname) const {
    if (nxdomain_.empty()) {
      return false;
    }
    key_.assign(qname);  // reused: no allocation per line once it is long enough
    to_lower(key_);
    return nxdomain_.count(key_) != 0;
  }

  std::vector<Apex> apexes_;
  std::unordered_set<std::string> nxdomain_;  // lower case, no trailing dot
  mutable std::string key_;
};

/// Reads request lines and writes `reply(line, out)` for each, one write per read.
template <class Reply>
int serve(const Reply& reply) {
  static char in[1 << 16];
  std::string pending;  // an incomplete line carried over to the next read
  std::string out;
  out.reserve(1 << 16);
  for (;;) {
    const ssize_t r = ::read(STDIN_FILENO, in, sizeof in);
    if (r < 0 && errno == EINTR) {
      continue;
    }
    if (r <= 0) {
      return 0;
    }
    pending.append(in, static_cast<std::size_t>(r));
    out.clear();
    std::size_t start = 0;
    for (std::size_t nl; (nl = pending.find('\n', start)) != std::string::npos; start = nl + 1) {
      reply(std::string_view(pending).substr(start, nl - start), out);
    }
    pending.erase(0, start);
    if (!out.empty() && !write_all(out.data(), out.size())) {
      return 1;
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<Apex> apexes;
  std::unordered_set<std::string> nxdomain;
  for (int i = 1; i < argc; ++i) {
    const bool apex = std::strcmp(argv[i], "--apex") == 0;
    if ((!apex && std::strcmp(argv[i], "--nxdomain") != 0) || i + 1 == argc) {
      std::fprintf(stderr, "usage: %s [--apex ZONE]... [--nxdomain FILE]\n", argv[0]);
      return 2;
    }
    std::string name = argv[++i];
    if (!apex) {
      std::ifstream in(name);
      if (!in) {
        std::perror(name.c_str());
        return 2;
      }
      for (std::string line; std::getline(in, line);) {
        if (!line.empty()) {
          to_lower(line);
          nxdomain.insert(std::move(line));
        }
      }
      continue;
    }
    while (!name.empty() && name.back() == '.') {
      name.pop_back();
    }
    std::size_t leaf = 0;
    if (name.find('/') != std::string::npos) {
      leaf = labels(name) + 1;  // RFC 2317 classless zone: hosts are one label below
    } else if (ends_with_label(name, "in-addr.arpa") || iequal(name, "in-addr.arpa")) {
      leaf = 6;
    } else if (ends_with_label(name, "ip6.arpa") || iequal(name, "ip6.arpa")) {
      leaf = 34;
    }
    apexes.push_back(Apex{name, leaf});
  }
  // Most specific first: a name belongs to the deepest apex above it.
  std::stable_sort(apexes.begin(), apexes.end(),
                   [](const Apex& a, const Apex& b) { return labels(a.name) > labels(b.name); });
  if (apexes.empty()) {
    return serve([](std::string_view line, std::string& out) {
      out += line.starts_with("HELO") ? "OK\tautomap null pipe\n" : "END\n";
    });
  }
  const Canned canned(std::move(apexes), std::move(nxdomain));
  return serve([&](std::string_view line, std::string& out) { canned.reply(line, out); });
}
