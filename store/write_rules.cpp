// SPDX-License-Identifier: MIT
#include "store/write_rules.h"

#include <algorithm>

namespace amap::store {

using detail::collision_candidate;
using detail::for_each_collision;
using detail::TemplateOwner;

std::string WriteConflict::message(std::string_view other_where) const {
  const std::string where(other_where);
  if (kind == Kind::shared_name) {
    return "the name " + subject + " is already the override of " + other + where +
           ": two addresses cannot share one name, as only one of them can have its forward "
           "answer; give each address its own name, or allow shared names (mapctl: --force), "
           "and the latest write wins the forward answer";
  }
  return mapper::collision_message(subject, "the override " + key.to_string(), other + where);
}

std::string WriteConflict::message() const {
  if (other_seq != 0) {
    return message(" (in the same batch)");
  }
  return message(other_in_config ? "" : " in the store");
}

namespace {
std::string conflicts_text(const std::vector<WriteConflict>& conflicts) {
  std::string s = conflicts.empty() ? std::string("write rules broken") : conflicts[0].message();
  if (conflicts.size() > 1) {
    s += " (and " + std::to_string(conflicts.size() - 1) + " more conflicts)";
  }
  return s;
}
}  // namespace

WriteConflictError::WriteConflictError(std::vector<WriteConflict> conflicts)
    : StoreError(conflicts_text(conflicts)), conflicts_(std::move(conflicts)) {}

std::vector<std::string> find_template_collisions(
    std::span<const std::pair<dns::Prefix, std::string>> prefix_templates,
    std::span<const ConfigTemplate> config_templates) {
  std::vector<mapper::Template> compiled;
  for (const auto& [p, text] : prefix_templates) {
    if (!text.empty()) {
      if (auto t = collision_candidate(text, p)) {
        compiled.push_back(std::move(*t));
      }
    }
  }
  std::vector<TemplateOwner> owners;
  owners.reserve(compiled.size() + config_templates.size());
  for (const mapper::Template& t : compiled) {
    owners.push_back(TemplateOwner{&t, t.prefix(), nullptr, false, 0});
  }
  for (const ConfigTemplate& ct : config_templates) {
    const dns::Prefix& p = ct.name.prefix();
    const bool replaced =
        std::any_of(prefix_templates.begin(), prefix_templates.end(),
                    [&](const std::pair<dns::Prefix, std::string>& o) { return o.first == p; });
    if (!ct.name.self_contained() && !replaced) {
      owners.push_back(TemplateOwner{&ct.name, p, &ct.origin, false, 0});
    }
  }
  std::vector<std::string> out;
  for_each_collision(
      owners, /*only_written=*/false, [&](const TemplateOwner& a, const TemplateOwner& b) {
        out.push_back(mapper::collision_message(a.name->text(), a.describe(), b.describe()));
      });
  return out;
}

namespace detail {

void for_each_collision(
    std::vector<TemplateOwner>& owners, bool only_written,
    const std::function<void(const TemplateOwner& owner, const TemplateOwner& other)>& report) {
  std::sort(owners.begin(), owners.end(), [](const TemplateOwner& a, const TemplateOwner& b) {
    const auto fa = a.prefix.family();
    const auto fb = b.prefix.family();
    if (fa != fb) {
      return fa < fb;
    }
    if (const int c = a.name->text().compare(b.name->text()); c != 0) {
      return c < 0;
    }
    if (a.written != b.written) {
      return !a.written;  // stored and configured first
    }
    if ((a.origin != nullptr) != (b.origin != nullptr)) {
      return a.origin != nullptr;  // the configuration first: overrides are reported against it
    }
    if (a.seq != b.seq) {
      return a.seq < b.seq;
    }
    return a.prefix.address < b.prefix.address ||
           (a.prefix.address == b.prefix.address && a.prefix.length < b.prefix.length);
  });
  for (std::size_t first = 0; first < owners.size();) {
    std::size_t end = first + 1;
    while (end < owners.size() && owners[end].prefix.family() == owners[first].prefix.family() &&
           owners[end].name->text() == owners[first].name->text()) {
      ++end;
    }
    for (std::size_t k = first + 1; k < end; ++k) {
      if ((!only_written || owners[k].written) &&
          mapper::templates_collide(*owners[first].name, *owners[k].name)) {
        report(owners[k], owners[first]);
      }
    }
    first = end;
  }
}

std::optional<mapper::Template> collision_candidate(std::string_view text, const dns::Prefix& p) {
  auto t = mapper::Template::compile(text, p, /*samples=*/0);
  if (!t || t->self_contained()) {
    return std::nullopt;
  }
  return std::move(*t);
}

}  // namespace detail
}  // namespace amap::store
