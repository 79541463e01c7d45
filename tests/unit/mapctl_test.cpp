// SPDX-License-Identifier: MIT
// mapctl's pure parts: the JSON string escaper and line parser, CSV splitting, keys, TTLs,
// validation against a configuration, and import parsing with line numbers.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "mapper/core/template.h"
#include "tools/mapctl/json.h"
#include "tools/mapctl/records.h"

namespace amap::mapctl {
namespace {

// ------------------------------------------------------------------------------------- JSON

TEST(Json, EscapesQuotesBackslashesAndControls) {
  EXPECT_EQ(json::quote("plain"), "\"plain\"");
  EXPECT_EQ(json::quote("a\"b\\c"), "\"a\\\"b\\\\c\"");
  EXPECT_EQ(json::quote("\n\t\r\b\f"), "\"\\n\\t\\r\\b\\f\"");
  // DEL is not a control character for JSON (RFC 8259 section 7): nlohmann keeps it.
  EXPECT_EQ(json::quote(std::string("\x01\x1f\x7f", 3)), "\"\\u0001\\u001f\x7f\"");
  EXPECT_EQ(json::quote(std::string("a\0b", 3)), "\"a\\u0000b\"");
  EXPECT_EQ(json::quote("/{ip}"), "\"/{ip}\"");
}

TEST(Json, KeepsValidUtf8AndEscapesInvalidBytes) {
  EXPECT_EQ(json::quote("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"),
            "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"");
  // A byte that is not UTF-8 is read as Latin-1: 0xFF is U+00FF, written as UTF-8.
  EXPECT_EQ(json::quote("\xff"), "\"\xc3\xbf\"");
  EXPECT_EQ(json::quote("\xc3"), "\"\xc3\x83\"");                          // truncated sequence
  EXPECT_EQ(json::quote("\xc0\xaf"), "\"\xc3\x80\xc2\xaf\"");              // overlong
  EXPECT_EQ(json::quote("\xed\xa0\x80"), "\"\xc3\xad\xc2\xa0\xc2\x80\"");  // surrogate
}

TEST(Json, PrintableEscapesWhatATerminalOrLogMustNotSee) {
  EXPECT_EQ(json::printable("plain text: 10.1.2.3"), "plain text: 10.1.2.3");
  EXPECT_EQ(json::printable(std::string("a\0b", 3)), "a\\x00b");
  EXPECT_EQ(json::printable("red \x1b[31m\r\n\x7f"), "red \\x1b[31m\\x0d\\x0a\\x7f");
  EXPECT_EQ(json::printable("caf\xC3\xA9 \xFF\xC3"), "caf\xC3\xA9 \\xff\\xc3");
  EXPECT_EQ(json::printable("\xEF\xBB\xBF"
                            "10.1.1.1"),
            "\\xef\\xbb\\xbf10.1.1.1");
  EXPECT_EQ(json::printable("a\\b"), "a\\\\b");
}

TEST(Json, EscapedStringsParseBack) {
  for (const std::string& s : {std::string("x\"y\\z"), std::string("\x01\n\x7f", 3),
                               std::string("caf\xc3\xa9"), std::string()}) {
    std::vector<json::Member> m;
    std::string err;
    ASSERT_TRUE(json::parse_flat_object("{\"k\":" + json::quote(s) + "}", m, err)) << err;
    ASSERT_EQ(m.size(), 1U);
    EXPECT_EQ(m[0].value.text, s);
  }
}

TEST(Json, DumpKeepsKeyOrderAndIsCompact) {
  json::Json j;
  j["z"] = 1;
  j["b"] = json::Json::array({"x", true, nullptr});
  j["c"]["d"] = std::uint64_t{7};
  j["e"] = json::rounded(0.123456);
  EXPECT_EQ(json::dump(j), R"({"z":1,"b":["x",true,null],"c":{"d":7},"e":0.1235})");
  j["bad"] = std::string("\xff");
  EXPECT_EQ(json::dump(j),
            "{\"z\":1,\"b\":[\"x\",true,null],\"c\":{\"d\":7},\"e\":0.1235,"
            "\"bad\":\"\xc3\xbf\"}");
}

TEST(Json, ParsesFlatObjects) {
  std::vector<json::Member> m;
  std::string err;
  ASSERT_TRUE(json::parse_flat_object(
      R"( {"s":"a\u00e9\ud83d\ude00\/","n":-1.5e3,"t":true,"f":false,"z":null} )", m, err))
      << err;
  ASSERT_EQ(m.size(), 5U);
  EXPECT_EQ(m[0].value.text, "a\xc3\xa9\xf0\x9f\x98\x80/");
  EXPECT_EQ(m[1].value.type, json::Value::Type::number);
  EXPECT_EQ(m[1].value.text, "-1500.0");
  EXPECT_TRUE(m[2].value.boolean);
  EXPECT_EQ(m[4].value.type, json::Value::Type::null);
  ASSERT_TRUE(json::parse_flat_object("{}", m, err));
  EXPECT_TRUE(m.empty());
}

TEST(Json, RejectsBadInputWithColumns) {
  std::vector<json::Member> m;
  std::string err;
  EXPECT_FALSE(json::parse_flat_object(R"({"a":1,"a":2})", m, err));
  EXPECT_EQ(err, "the key \"a\" is given twice");
  EXPECT_FALSE(json::parse_flat_object(R"({"a":[1]})", m, err));
  EXPECT_EQ(
      err, "the value of \"a\" is an object or array: only strings, numbers, true, false and null");
  EXPECT_FALSE(json::parse_flat_object(R"({"a":1} x)", m, err));
  EXPECT_TRUE(err.starts_with("column 9: ")) << err;
  EXPECT_FALSE(json::parse_flat_object(R"({"a":"\q"})", m, err));
  EXPECT_TRUE(err.starts_with("column 8: ")) << err;
  EXPECT_FALSE(json::parse_flat_object(R"({"a":"\ud800"})", m, err));
  EXPECT_FALSE(json::parse_flat_object(R"({"a":01})", m, err));
  EXPECT_FALSE(json::parse_flat_object(R"({"a":"x)", m, err));
  EXPECT_TRUE(err.starts_with("column 8: ")) << err;
  EXPECT_FALSE(json::parse_flat_object("{\"a\":\"\t\"}", m, err));
  EXPECT_FALSE(json::parse_flat_object("[]", m, err));
  EXPECT_FALSE(json::parse_flat_object(R"({"a" 1})", m, err));
  EXPECT_FALSE(json::parse_flat_object(R"({"a":tru})", m, err));
}

// -------------------------------------------------------------------------------------- CSV

TEST(Csv, SplitsQuotedAndTrimmedFields) {
  std::vector<std::string> f;
  std::string err;
  ASSERT_TRUE(split_csv(" 10.1.2.3 , name,\"a,\"\"b\"\" \" ,300", f, err)) << err;
  EXPECT_EQ(f, (std::vector<std::string>{"10.1.2.3", "name", "a,\"b\" ", "300"}));
  ASSERT_TRUE(split_csv("a,,", f, err));
  EXPECT_EQ(f, (std::vector<std::string>{"a", "", ""}));
  EXPECT_FALSE(split_csv("a,\"b", f, err));
  EXPECT_EQ(err, "column 3: unterminated quoted field");
  EXPECT_FALSE(split_csv("a,\"b\"c", f, err));
  EXPECT_EQ(err, "column 6: text after a closing quote");
}

// -------------------------------------------------------------------------------- keys, ttl

TEST(Keys, AddressesAndPrefixes) {
  Key k;
  std::string err;
  ASSERT_TRUE(parse_key("10.1.2.3", k, err));
  EXPECT_FALSE(k.is_prefix);
  EXPECT_EQ(k.to_string(), "10.1.2.3");
  ASSERT_TRUE(parse_key("2001:db8:1200::/56", k, err));
  EXPECT_TRUE(k.is_prefix);
  EXPECT_EQ(k.to_string(), "2001:db8:1200::/56");
  ASSERT_TRUE(parse_key("10.1.2.3/32", k, err));
  EXPECT_TRUE(k.is_prefix);
  EXPECT_FALSE(parse_key("10.1.2.3/8", k, err));
  EXPECT_EQ(err,
            "bad prefix '10.1.2.3/8': address has bits set beyond the prefix length (did you "
            "mean 10.0.0.0/8?)");
  EXPECT_FALSE(parse_key("10.0.0.0/33", k, err));
  EXPECT_EQ(err,
            "bad prefix '10.0.0.0/33': bad prefix length (IPv4 allows /0 to /32, IPv6 /0 "
            "to /128)");
  EXPECT_FALSE(parse_key("10.1.2", k, err));
  EXPECT_NE(err.find("bad address '10.1.2': not a valid IP address"), std::string::npos);
}

TEST(Keys, Ttls) {
  std::uint32_t t = 1;
  std::string err;
  ASSERT_TRUE(parse_ttl("", t, err));
  EXPECT_EQ(t, 0U);
  ASSERT_TRUE(parse_ttl(" 300 ", t, err));
  EXPECT_EQ(t, 300U);
  ASSERT_TRUE(parse_ttl("2147483647", t, err));
  EXPECT_FALSE(parse_ttl("2147483648", t, err));
  EXPECT_EQ(err, "ttl '2147483648' is above 2147483647 (the RFC 2181 maximum)");
  EXPECT_FALSE(parse_ttl("99999999999999999999999", t, err));
  EXPECT_FALSE(parse_ttl("-1", t, err));
  EXPECT_FALSE(parse_ttl("1h", t, err));
}

TEST(Formats, ByNameAndExtension) {
  EXPECT_EQ(format_for_path("x.csv"), Format::csv);
  EXPECT_EQ(format_for_path("x.jsonl"), Format::jsonl);
  EXPECT_EQ(format_for_path("x.JSON"), Format::jsonl);
  EXPECT_EQ(format_for_path("x.txt"), Format::csv);
  EXPECT_EQ(format_from_name("jsonl"), Format::jsonl);
  EXPECT_FALSE(format_from_name("xml").has_value());
}

// ------------------------------------------------------------------------------- validation

constexpr const char* kConfig = R"(
soa:  { mname: ns1.example.net., rname: hostmaster.example.net., refresh: 10800,
        retry: 3600, expire: 604800, minimum: 3600, ttl: 3600 }
ns:   [ns1.example.net.]
zones:
  - name: pool.example.net.
prefixes:
  - prefix: 10.0.0.0/8
    name: "ip-{a}-{b}-{c}-{d}.pool.example.net."
  - prefix: 2001:db8::/32
    name: "{ip}.v6.pool.example.net."
)";

class Validation : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto loaded = config::load_text(kConfig, "test.yaml");
    ASSERT_TRUE(loaded.ok()) << loaded.errors[0].to_string();
    config::Diagnostics errors;
    mapper::Mapper::BuildOptions bo;
    bo.open_store = false;
    mapper_ = mapper::Mapper::build(loaded.config, errors, bo);
    ASSERT_NE(mapper_, nullptr);
  }
  static void TearDownTestSuite() { mapper_.reset(); }

  static bool check(std::string_view key, store::OverrideKind kind, std::string target,
                    std::string& err, bool force = false, std::string* normalized = nullptr) {
    Validator v(mapper_, "test.yaml", force);
    Record r;
    if (!parse_key(key, r.key, err)) {
      return false;
    }
    r.value.kind = kind;
    r.value.target = std::move(target);
    const bool ok = v.check(r, err);
    if (normalized != nullptr) {
      *normalized = r.value.target;
    }
    return ok;
  }
  static ParsedFile parse(std::string_view text, Format f, bool force = false) {
    Validator v(mapper_, "test.yaml", force);
    return parse_import(text, f, v);
  }
  static inline std::shared_ptr<const mapper::Mapper> mapper_;
};

using K = store::OverrideKind;

TEST_F(Validation, NamesAreMadeAbsolute) {
  std::string err;
  std::string norm;
  ASSERT_TRUE(check("10.1.2.3", K::name, "Mail.Customer.example", err, false, &norm)) << err;
  EXPECT_EQ(norm, "Mail.Customer.example.");
  ASSERT_TRUE(check("10.1.2.3", K::name, "mail.customer.example.", err, false, &norm));
  EXPECT_EQ(norm, "mail.customer.example.");
}

TEST_F(Validation, BadNames) {
  std::string err;
  EXPECT_FALSE(check("10.1.2.3", K::name, "under_score.example.", err));
  EXPECT_EQ(err,
            "name 'under_score.example.' is not a valid host name: character outside "
            "[a-z0-9-]");
  EXPECT_FALSE(check("10.1.2.3", K::name, std::string(64, 'a') + ".example.", err));
  EXPECT_NE(err.find("label longer than 63 octets"), std::string::npos);
  std::string long_name;
  for (int i = 0; i < 5; ++i) {
    long_name += std::string(60, 'a') + ".";
  }
  EXPECT_FALSE(check("10.1.2.3", K::name, long_name, err));
  EXPECT_NE(err.find("longer than 255 octets"), std::string::npos);
  EXPECT_FALSE(check("10.1.2.3", K::name, "", err));
  EXPECT_FALSE(check("10.1.2.3", K::name, "h-{ip}.example.", err));
  EXPECT_EQ(err,
            "'h-{ip}.example.' looks like a template, but 10.1.2.3 is a single address, "
            "which takes a plain name: write 10.1.2.3/32 to give it a template");
}

TEST_F(Validation, TemplatesUseCompileErrorsVerbatim) {
  std::string err;
  EXPECT_TRUE(
      check("2001:db8:1200::/56", K::name_template, "cust42-{ip}.biz.pool.example.net.", err))
      << err;
  const dns::Prefix p = *dns::Prefix::parse("10.1.0.0/16");
  const auto compiled = mapper::Template::compile("x-{nope}.example.", p);
  ASSERT_FALSE(compiled);
  EXPECT_FALSE(check("10.1.0.0/16", K::name_template, "x-{nope}.example.", err));
  EXPECT_EQ(err, "template 'x-{nope}.example.' for 10.1.0.0/16: " + compiled.error());
  // A fixed name cannot serve a whole prefix (it would not parse back uniquely).
  EXPECT_FALSE(check("10.1.0.0/16", K::name_template, "fixed.example.", err));
}

TEST_F(Validation, KindMustFitTheKey) {
  std::string err;
  EXPECT_FALSE(check("10.1.0.0/16", K::name, "a.example.", err));
  EXPECT_NE(err.find("kind name is for a single address, but 10.1.0.0/16 is a prefix"),
            std::string::npos);
  EXPECT_FALSE(check("10.1.2.3", K::name_template, "a-{ip}.example.", err));
  EXPECT_NE(err.find("write 10.1.2.3/32"), std::string::npos);
  EXPECT_FALSE(check("10.1.2.3", K::none, "a.example.", err));
  EXPECT_NE(err.find("kind none takes no target"), std::string::npos);
  EXPECT_TRUE(check("10.1.2.3", K::none, "", err));
  EXPECT_TRUE(check("10.1.0.0/16", K::none, "", err));
}

TEST_F(Validation, OutsideEveryPrefixNeedsForce) {
  std::string err;
  EXPECT_FALSE(check("192.0.2.1", K::name, "a.example.", err));
  EXPECT_EQ(err,
            "192.0.2.1 is outside every prefix configured in test.yaml, so automap never "
            "answers for it: add a prefix covering it under 'prefixes:' there, or pass "
            "--force to store it anyway");
  EXPECT_TRUE(check("192.0.2.1", K::name, "a.example.", err, true));
  // A prefix must lie inside one configured prefix, not just overlap it.
  EXPECT_FALSE(check("10.0.0.0/7", K::none, "", err));
  EXPECT_NE(err.find("10.0.0.0/7 is not inside any prefix configured in test.yaml"),
            std::string::npos);
  EXPECT_TRUE(check("10.0.0.0/8", K::none, "", err));
}

TEST_F(Validation, AnotherAddressesSynthesizedNameNeedsForce) {
  std::string err;
  EXPECT_FALSE(check("10.1.2.3", K::name, "ip-10-1-2-4.pool.example.net.", err));
  EXPECT_NE(err.find("already the synthesized name of 10.1.2.4 (prefix 10.0.0.0/8)"),
            std::string::npos);
  EXPECT_TRUE(check("10.1.2.3", K::name, "ip-10-1-2-4.pool.example.net.", err, true));
  // Its own synthesized name is fine.
  EXPECT_TRUE(check("10.1.2.3", K::name, "ip-10-1-2-3.pool.example.net.", err)) << err;
}

// ----------------------------------------------------------------------------------- import

TEST_F(Validation, CsvImportSkipsHeaderCommentsAndBlanks) {
  const auto p = parse(
      "address_or_prefix,kind,target,ttl\r\n"
      "# a comment\n"
      "\n"
      "10.1.2.4,none,,\n"
      "10.1.2.3,name,mail.customer.example,300\r\n"
      "2001:db8:1200::/56,template,cust42-{ip}.biz.pool.example.net.\n"
      "10.9.0.0/16,none,\n",
      Format::csv);
  ASSERT_TRUE(p.errors.empty()) << p.errors[0].line << ": " << p.errors[0].message;
  EXPECT_EQ(p.lines, 7U);
  EXPECT_EQ(p.records, 4U);
  ASSERT_EQ(p.changes.size(), 4U);
  // Sorted by key (address order, IPv4 first).
  EXPECT_EQ(p.changes[0].key.to_string(), "10.1.2.3/32");
  EXPECT_EQ(p.changes[0].value, store::Override::name("mail.customer.example.", 300));
  EXPECT_EQ(p.changes[1].key.to_string(), "10.1.2.4/32");
  EXPECT_EQ(p.changes[1].value, store::Override::none());
  EXPECT_TRUE(p.changes[2].is_prefix);
  EXPECT_EQ(p.changes[3].value.kind, K::name_template);
}

TEST_F(Validation, CsvImportCollectsEveryErrorWithItsLine) {
  const auto p = parse(
      "address_or_prefix,kind,target,ttl\n"
      "10.1.2.3,name,ok.example.,\n"
      "10.1.2.300,name,a.example.,\n"
      "10.1.2.5,nam,a.example.,\n"
      "10.1.2.6,name,a.example.,forever\n"
      "10.1.2.7,name\n"
      "10.1.0.1/16,template,x-{ip}.example.\n"
      "192.0.2.1,name,a.example.\n"
      "10.1.2.3,none,\n",
      Format::csv);
  ASSERT_EQ(p.errors.size(), 7U);
  EXPECT_TRUE(p.changes.empty());
  std::vector<std::size_t> lines;
  for (const auto& e : p.errors) {
    lines.push_back(e.line);
  }
  EXPECT_EQ(lines, (std::vector<std::size_t>{3, 4, 5, 6, 7, 8, 9}));
  EXPECT_NE(p.errors[0].message.find("bad address '10.1.2.300'"), std::string::npos);
  EXPECT_EQ(p.errors[1].message, "unknown kind 'nam': use name, template or none");
  EXPECT_NE(p.errors[2].message.find("ttl 'forever' is not a number"), std::string::npos);
  EXPECT_EQ(p.errors[3].message,
            "expected 3 or 4 comma-separated fields (address_or_prefix,kind,target,ttl), "
            "found 2");
  EXPECT_NE(p.errors[4].message.find("did you mean 10.1.0.0/16?"), std::string::npos);
  EXPECT_NE(p.errors[5].message.find("outside every prefix"), std::string::npos);
  EXPECT_EQ(p.errors[6].message,
            "10.1.2.3 is already given on line 2: give each address or prefix once");
}

/// Issue 17 item 14: a UTF-8 BOM before the first line is no part of it (CSV and JSON lines);
/// a NUL byte is rejected with its line and column.
TEST_F(Validation, ImportAcceptsALeadingBomAndRejectsNulBytes) {
  auto p = parse(
      "\xEF\xBB\xBF"
      "10.1.2.3,name,bom.example.,\n10.1.2.4,name,b.example.,\n",
      Format::csv);
  EXPECT_TRUE(p.errors.empty()) << p.errors[0].message;
  ASSERT_EQ(p.changes.size(), 2U);
  EXPECT_EQ(p.changes[0].key.address, amap::dns::IpAddress::parse("10.1.2.3").value());
  p = parse("\xEF\xBB\xBF{\"address_or_prefix\":\"10.1.2.3\",\"kind\":\"none\"}\n", Format::jsonl);
  EXPECT_TRUE(p.errors.empty()) << p.errors[0].message;
  EXPECT_EQ(p.changes.size(), 1U);

  p = parse(std::string("10.1.2.3,name,ok.example.,\n10.1.2.4,name,nul\0x.example.,\n", 54),
            Format::csv);
  ASSERT_EQ(p.errors.size(), 1U);
  EXPECT_EQ(p.errors[0].line, 2U);
  EXPECT_EQ(p.errors[0].message,
            "a NUL byte at column 18: the file is not UTF-8 text (UTF-16? save it as UTF-8)");
}

TEST_F(Validation, ForceAcceptsKeysOutsideThePrefixes) {
  const auto p = parse("192.0.2.1,name,a.example.\n", Format::csv, true);
  EXPECT_TRUE(p.errors.empty());
  EXPECT_EQ(p.changes.size(), 1U);
}

TEST_F(Validation, JsonLinesImport) {
  const auto p = parse(
      R"({"address_or_prefix":"10.1.2.3","kind":"name","target":"mail.example.","ttl":60}
{"address_or_prefix":"10.1.2.4","kind":"none"}
{"address_or_prefix":"10.1.2.5","kind":"none","target":null,"ttl":null,"updated":"x"}

{"address_or_prefix":"2001:db8:1200::/56","kind":"template","target":"c-{ip}.pool.example.net."}
)",
      Format::jsonl);
  ASSERT_TRUE(p.errors.empty()) << p.errors[0].line << ": " << p.errors[0].message;
  ASSERT_EQ(p.changes.size(), 4U);
  EXPECT_EQ(p.changes[0].value, store::Override::name("mail.example.", 60));
}

TEST_F(Validation, JsonLinesErrors) {
  const auto p = parse(R"({"address_or_prefix":"10.1.2.3","kind":"name","target":"a.example."
{"address_or_prefix":"10.1.2.4","kind":"name","target":"a.example.","colour":"red"}
{"kind":"none"}
{"address_or_prefix":"10.1.2.6","kind":"none","ttl":"60"}
{"address_or_prefix":"10.1.2.7","kind":"none","ttl":1.5}
{"address_or_prefix":"10.1.2.8","kind":"name","target":7}
)",
                       Format::jsonl);
  ASSERT_EQ(p.errors.size(), 6U);
  EXPECT_EQ(p.errors[0].line, 1U);
  EXPECT_EQ(p.errors[0].message, "invalid JSON: column 68: unexpected end of input; expected '}'");
  EXPECT_EQ(p.errors[1].message,
            "unknown key \"colour\": expected address_or_prefix, kind, target and ttl");
  EXPECT_EQ(p.errors[2].message, "\"address_or_prefix\" (a string) is required");
  EXPECT_EQ(p.errors[3].message, "\"ttl\" must be a number of seconds");
  EXPECT_NE(p.errors[4].message.find("not a whole number"), std::string::npos);
  EXPECT_EQ(p.errors[5].message, "\"target\" must be a string (or null for kind none)");
}

TEST_F(Validation, ExportLinesImportBack) {
  for (const Format f : {Format::csv, Format::jsonl}) {
    std::string text;
    Key a;
    Key p;
    std::string err;
    ASSERT_TRUE(parse_key("10.1.2.3", a, err));
    ASSERT_TRUE(parse_key("2001:db8:1200::/56", p, err));
    append_record(text, f, a, K::name, "mail.customer.example.", 300);
    append_record(text, f, p, K::name_template, "c-{ip}.pool.example.net.", 0);
    append_record(text, f, p, K::none, "", 0);  // duplicate key on purpose: line 3
    if (f == Format::csv) {
      EXPECT_EQ(text,
                "10.1.2.3,name,mail.customer.example.,300\n"
                "2001:db8:1200::/56,template,c-{ip}.pool.example.net.,0\n"
                "2001:db8:1200::/56,none,,0\n");
    } else {
      EXPECT_EQ(
          text.substr(0, text.find('\n')),
          R"({"address_or_prefix":"10.1.2.3","kind":"name","target":"mail.customer.example.","ttl":300})");
    }
    const auto parsed = parse(text, f);
    ASSERT_EQ(parsed.errors.size(), 1U) << format_name(f);
    EXPECT_EQ(parsed.errors[0].line, 3U);
    const auto good = parse(text.substr(0, text.rfind('\n', text.size() - 2) + 1), f);
    ASSERT_TRUE(good.errors.empty()) << good.errors[0].message;
    ASSERT_EQ(good.changes.size(), 2U);
    EXPECT_EQ(good.changes[0].value, store::Override::name("mail.customer.example.", 300));
    EXPECT_EQ(good.changes[1].value, store::Override::name_template("c-{ip}.pool.example.net.", 0));
  }
}

TEST(Timestamps, Iso8601) {
  EXPECT_EQ(format_timestamp(0), "");
  EXPECT_EQ(format_timestamp(1700000000ULL * 1000000000ULL + 5), "2023-11-14T22:13:20Z");
}

}  // namespace
}  // namespace amap::mapctl
