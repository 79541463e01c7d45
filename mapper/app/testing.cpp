// SPDX-License-Identifier: MIT
#include "mapper/app/testing.h"

#include <stdexcept>

namespace amap::app::testing {

Request make_request(std::string_view qname, std::string_view qtype, const QueryOptions& o) {
  Request req;
  auto name = dns::Name::from_text(qname);
  auto type = dns::RRType::from_text(qtype);
  auto remote = dns::IpAddress::parse(o.remote);
  auto local = dns::IpAddress::parse(o.local);
  if (!name || !type || !remote || !local) {
    throw std::invalid_argument("make_request: bad qname, qtype or address");
  }
  req.qname = *name;
  req.qtype = *type;
  req.qclass = o.qclass;
  req.remote = *remote;
  req.local = *local;
  req.frontend = o.frontend;
  if (!o.ecs.empty()) {
    auto p = dns::Prefix::parse(o.ecs, true);
    if (!p) {
      throw std::invalid_argument("make_request: bad ECS prefix");
    }
    req.has_ecs = true;
    req.ecs = *p;
  }
  return req;
}

std::string record_text(const Answer& ans, const Record& r) {
  char buf[4096];
  dns::TextWriter w(buf, sizeof buf);
  w.put_with([&](char* p, std::size_t cap) { return r.owner.to_text(p, cap); });
  w.put(' ');
  w.put_uint(r.ttl);
  w.put(' ');
  char cls[16];
  w.put(dns::rrclass_to_text(r.rclass, cls));
  w.put(' ');
  char type[16];
  w.put(r.type.to_text(type));
  w.put(' ');
  if (!dns::rdata_to_text(r.type, ans.rdata(r), w)) {
    w.put("<bad rdata>");
  }
  return std::string(w.view());
}

QueryResult query(const App& app, std::string_view qname, std::string_view qtype,
                  const QueryOptions& options) {
  Worker worker(app);
  return query(worker, qname, qtype, options);
}

QueryResult query(Worker& worker, std::string_view qname, std::string_view qtype,
                  const QueryOptions& options) {
  const Request req = make_request(qname, qtype, options);
  Answer& ans = worker.answer();
  worker.app().resolve(worker, req, ans);
  QueryResult out;
  out.rcode = ans.rcode;
  out.authoritative = ans.authoritative;
  for (const Record& r : ans.records()) {
    auto& section = r.section == Section::answer      ? out.answer
                    : r.section == Section::authority ? out.authority
                                                      : out.additional;
    section.push_back(record_text(ans, r));
  }
  return out;
}

std::vector<std::string> lookup(const App& app, std::string_view qname, std::string_view qtype,
                                const QueryOptions& options) {
  const Request req = make_request(qname, qtype, options);
  Worker worker(app);
  Answer& ans = worker.answer();
  std::vector<std::string> out;
  if (app.answer(worker, req, ans, App::Need::records) == Outcome::error) {
    out.emplace_back("FAIL");
    return out;
  }
  for (const Record& r : ans.records()) {
    if (r.section == Section::answer) {
      out.push_back(record_text(ans, r));
    }
  }
  return out;
}

std::string_view rcode_name(Rcode rcode) noexcept {
  switch (rcode) {
    case Rcode::noerror:
      return "NOERROR";
    case Rcode::formerr:
      return "FORMERR";
    case Rcode::servfail:
      return "SERVFAIL";
    case Rcode::nxdomain:
      return "NXDOMAIN";
    case Rcode::notimp:
      return "NOTIMP";
    case Rcode::refused:
      return "REFUSED";
    case Rcode::badvers:
      return "BADVERS";
  }
  return "RCODE?";
}

}  // namespace amap::app::testing
