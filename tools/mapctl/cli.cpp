// SPDX-License-Identifier: MIT
// mapctl's command line: CLI11 options per verb; parse errors exit 2.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <utility>
#include <vector>

#include "automap/version.h"
#include "mapper/app/log.h"
#include "mapper/config/config.h"
#include "tools/mapctl/commands.h"
#include "tools/mapctl/json.h"
#include "tools/unknown_verb.h"

namespace amap::mapctl {

int run(int argc, char** argv) {
  CLI::App cli{
      "mapctl: manage automap's overrides (per-address names, per-prefix templates) in the LMDB "
      "store, and ask what automap answers.\nExit status: 0 success, 1 error, 2 usage."};
  cli.require_subcommand(1);
  cli.fallthrough();  // -c may also follow the verb
  cli.set_version_flag("--version",
                       std::string("mapctl ") + kVersion + " (git " + kGitDescribe + ")");
  Options o;
  cli.add_option("-c,--config", o.config, "automap YAML configuration (also $AUTOMAP_CONFIG)")
      ->envname("AUTOMAP_CONFIG")
      ->capture_default_str();

  auto add_json = [&](CLI::App* sub) {
    sub->add_flag("--json", o.json, "Print JSON instead of text");
  };
  auto add_purge = [&](CLI::App* sub) {
    sub->add_flag("--purge", o.purge.enabled,
                  "After the change, run `pdns_control purge NAME$` for the names it affects "
                  "(PowerDNS caches hide changes for up to cache-ttl)");
    sub->add_option("--pdns-control", o.purge.pdns_control, "pdns_control binary")
        ->capture_default_str();
    sub->add_option("--pdns-socket-dir", o.purge.socket_dir,
                    "PowerDNS socket-dir, passed as --socket-dir= to pdns_control");
  };

  auto* add = cli.add_subcommand(
      "add", "Add or replace an override: ADDR NAME (PTR name), PREFIX TEMPLATE, or --none");
  add->add_option("ADDR_OR_PREFIX", o.key, "10.1.2.3 or 2001:db8:1200::/56")->required();
  auto* target = add->add_option(
      "NAME_OR_TEMPLATE", o.target,
      "a host name for an address (made absolute), a template such as cust42-{ip}.example.net. "
      "for a prefix");
  auto* none = add->add_flag("--none", o.none, "No name: NXDOMAIN for the PTR(s)");
  none->excludes(target);
  std::uint32_t ttl = 0;
  auto* ttl_opt = add->add_option("--ttl", ttl, "TTL in seconds (default: the configured TTL)")
                      ->check(CLI::Range(0U, 2147483647U));
  add->add_flag("--force", o.force,
                "Store it even outside every configured prefix, when the name is another "
                "address's synthesized name, or when another address's override has the name");
  add_purge(add);

  auto* del = cli.add_subcommand(
      "del",
      "Delete the override of an address or prefix, every override inside a prefix (--within), "
      "or those listed in a file (--from); a bulk delete is one transaction, all or nothing");
  auto* del_key = del->add_option("ADDR_OR_PREFIX", o.key, "10.1.2.3 or 2001:db8:1200::/56");
  auto* del_within = del->add_option(
      "--within", o.within,
      "Delete every address and prefix override inside this prefix (itself included)");
  auto* del_from = del->add_option(
      "--from", o.from,
      "Delete the keys listed in FILE: one address or prefix per line (or CSV, first field)");
  del_key->excludes(del_within)->excludes(del_from);
  del_within->excludes(del_from);
  del->add_flag("--dry-run", o.dry_run, "With --within/--from: count only; write nothing");
  del->add_option("--max-errors", o.max_errors, "Print at most N bad lines of --from (0 = all)")
      ->capture_default_str();
  add_json(del);
  add_purge(del);

  auto* get = cli.add_subcommand("get", "Show the override of an address or prefix");
  get->add_option("ADDR_OR_PREFIX", o.key, "10.1.2.3 or 2001:db8:1200::/56")->required();
  add_json(get);

  auto* list = cli.add_subcommand("list", "List overrides in address order");
  list->add_option("PREFIX", o.key, "only those inside this prefix");
  list->add_option("--limit", o.limit, "at most N entries (0 = all)");
  add_json(list);

  auto* imp = cli.add_subcommand(
      "import",
      "Add or replace overrides from a CSV or JSON lines file, all or nothing (one transaction)");
  imp->add_option("FILE", o.file, "CSV (address_or_prefix,kind,target,ttl) or .jsonl")->required();
  imp->add_option("--format", o.format, "csv or jsonl (default: by extension, else csv)")
      ->check(CLI::IsMember({"csv", "jsonl", "json"}));
  imp->add_flag("--force", o.force,
                "Accept keys outside every configured prefix, and names shared by two addresses "
                "(the later line wins)");
  imp->add_flag("--dry-run", o.dry_run, "Check the file only; write nothing (counts included)");
  imp->add_option("--replace-within", o.replace_within,
                  "A sync: also delete the overrides inside PREFIX that the file does not have "
                  "(every line must lie inside it)");
  add_json(imp);
  imp->add_option("--max-errors", o.max_errors, "Print at most N errors (0 = all)")
      ->capture_default_str();
  add_purge(imp);

  auto* exp = cli.add_subcommand("export", "Write every override as CSV or JSON lines");
  exp->add_option("FILE", o.file, "output file (default: stdout)");
  exp->add_option("--format", o.format, "csv or jsonl (default: by extension, else csv)")
      ->check(CLI::IsMember({"csv", "jsonl", "json"}));
  exp->add_flag(
      "--json", [&](std::int64_t) { o.format = "jsonl"; }, "Same as --format jsonl");

  auto* lookup = cli.add_subcommand(
      "lookup",
      "What automap answers for an address or a name, and why (same code as the servers)");
  lookup->add_option("QNAME_OR_ADDR", o.qname, "10.1.2.3, 3.2.1.10.in-addr.arpa. or a host name")
      ->required();
  lookup->add_option("QTYPE", o.qtype, "record type (default: PTR for addresses, else A/AAAA)");
  add_json(lookup);

  auto* check = cli.add_subcommand(
      "check", "Validate the configuration (as automapd checkconf) and the stored overrides");
  add_json(check);
  check->add_flag("--deep", o.deep,
                  "Also walk every page and value of the store and report damage (exit 1)");

  auto* stats = cli.add_subcommand("stats", "Store statistics: counts, map use, readers");
  add_json(stats);

  auto* compact = cli.add_subcommand(
      "compact", "Purge tombstones older than store.tombstone_retention; their pages are reused");
  std::string retention;
  auto* retention_opt = compact->add_option(
      "--retention", retention,
      "purge tombstones older than this (7d, 36h, 90m, seconds; 0 = all) instead of the "
      "configured store.tombstone_retention");
  add_json(compact);

  auto* api_key = cli.add_subcommand(
      "api-key",
      "Manage the HTTP API's keys in http.api_keys_file (scrypt hashes; a new key is printed "
      "once)");
  api_key->require_subcommand(1);
  api_key->add_option("--file", o.keys_file,
                      "the key file (default: the config's http.api_keys_file)");
  auto* api_key_add = api_key->add_subcommand("add", "Make a new key NAME and append its hash");
  api_key_add->add_option("NAME", o.api_key_name, "a name for the key: letters, digits, . _ -")
      ->required();
  api_key_add->add_flag("--rw", o.rw,
                        "Read-write: may PUT, DELETE and import (default: read-only)");
  add_json(api_key_add);
  auto* api_key_del = api_key->add_subcommand("del", "Remove the key NAME");
  api_key_del->add_option("NAME", o.api_key_name, "the key's name")->required();
  auto* api_key_list = api_key->add_subcommand("list", "List the keys' names and roles");
  add_json(api_key_list);
  auto* key = cli.add_subcommand("key", "DNSSEC keys of dnssec.keys (BIND's file format)");
  key->require_subcommand(1);
  auto* key_gen = key->add_subcommand(
      "generate", "Make a key: a CSK (ECDSA P-256 unless dnssec.algorithm says otherwise)");
  key_gen->add_option("--algorithm", o.algorithm, "ecdsap256sha256 or ed25519")
      ->check(CLI::IsMember({"ecdsap256sha256", "ed25519"}));
  key_gen->add_flag("--zsk", o.zsk, "A zone-signing key (no SEP flag) beside a KSK");
  key_gen->add_flag("--publish-only", o.publish_only,
                    "Publish the DNSKEY now, sign with it only once activated");
  auto* key_list = key->add_subcommand("list", "List the keys, their role, state and timing");
  auto* key_ds = key->add_subcommand(
      "ds", "Print the DS (SHA-256) records for the parent: every apex, or ZONE only");
  key_ds->add_option("ZONE", o.zone, "a forward zone or a derived reverse zone");
  auto* key_imp = key->add_subcommand(
      "import", "Copy a key made by dnssec-keygen or ldns-keygen into the keys directory");
  key_imp->add_option("FILE", o.file, "Kzone+013+12345 (.key/.private)")->required();
  std::vector<CLI::App*> key_steps;
  for (const auto& [verb, help] :
       {std::pair<const char*, const char*>{"publish", "Publish a key's DNSKEY from now on"},
        {"activate",
         "Sign with a key from now on (a ZSK or CSK: refused before its DNSKEY was published "
         "for the DNSKEY TTL plus the propagation delay; a KSK beside an active ZSK: at once)"},
        {"retire",
         "Stop signing with a key (refused when it is the only active one of its "
         "role); its DNSKEY stays until old signatures have expired from caches"}}) {
    auto* step = key->add_subcommand(verb, help);
    step->add_option("TAG", o.tag, "the key tag (mapctl key list)")->required();
    step->add_flag("--force", o.force, "Skip the timing and order checks");
    step->add_option("--propagation-delay", o.propagation_delay,
                     "Seconds allowed beyond the TTL for every server to have the change")
        ->capture_default_str();
    key_steps.push_back(step);
  }

  try {
    cli.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (tools::report_unknown_verb(cli, "mapctl")) {
      return kExitUsage;
    }
    // CLI11's own codes (105, 106, 109, ...) mean "usage" here: exit 2. Help is 0.
    const int rc = cli.exit(e);
    return rc == 0 ? kExitOk : kExitUsage;
  }
  if (*add && o.target.empty() && !o.none) {
    std::fprintf(stderr,
                 "mapctl add: give NAME (for an address), TEMPLATE (for a prefix) or --none\n"
                 "Run with --help for more information.\n");
    return kExitUsage;
  }
  if (*del && o.key.empty() && o.within.empty() && o.from.empty()) {
    std::fprintf(stderr,
                 "mapctl del: give ADDR_OR_PREFIX, --within PREFIX or --from FILE\n"
                 "Run with --help for more information.\n");
    return kExitUsage;
  }
  if (*del && o.key.empty() == false && (o.dry_run || o.json)) {
    std::fprintf(stderr,
                 "mapctl del: --dry-run and --json go with --within or --from\n"
                 "Run with --help for more information.\n");
    return kExitUsage;
  }
  if (ttl_opt->count() > 0) {
    o.ttl = ttl;
  }
  if (retention_opt->count() > 0) {
    o.retention_s = config::parse_duration(retention);
    if (!o.retention_s) {
      std::fprintf(stderr,
                   "mapctl compact: bad --retention '%s': give a duration such as 7d, 36h, 90m or "
                   "a number of seconds\n",
                   json::printable(retention).c_str());
      return kExitUsage;
    }
  }
  log::set_program("mapctl");

  if (*add)
    return cmd_add(o);
  if (*del)
    return cmd_del(o);
  if (*get)
    return cmd_get(o);
  if (*list)
    return cmd_list(o);
  if (*imp)
    return cmd_import(o);
  if (*exp)
    return cmd_export(o);
  if (*lookup)
    return cmd_lookup(o);
  if (*check)
    return cmd_check(o);
  if (*stats)
    return cmd_stats(o);
  if (*compact)
    return cmd_compact(o);
  if (*api_key) {
    o.api_key_verb = *api_key_add ? "add" : *api_key_del ? "del" : "list";
    return cmd_api_key(o);
  }
  if (*key_gen)
    return cmd_key_generate(o);
  if (*key_list)
    return cmd_key_list(o);
  if (*key_ds)
    return cmd_key_ds(o);
  if (*key_imp)
    return cmd_key_import(o);
  for (CLI::App* step : key_steps) {
    if (*step)
      return cmd_key_step(o, step->get_name());
  }
  return kExitUsage;
}

}  // namespace amap::mapctl
