// SPDX-License-Identifier: MIT
#pragma once
// Online signing of an app's answers (app::AnswerSigner), for every zone of the app with one
// key set: the DNSKEY RRset at each apex, an RRSIG over every RRset of the answer and
// authority sections, and compact denial of existence (RFC 9824): NODATA is proved by an NSEC
// at the query name whose next name is its immediate successor (`\000.QNAME`) and whose type
// bitmap lists what exists there; a nonexistent name is answered NOERROR with such an NSEC
// whose bitmap is RRSIG, NSEC and NXNAME (128). Nothing else of the zone is revealed, so the
// zone cannot be walked.
//
// Signatures: inception = the start of the current aligned period (a day) minus
// `inception_offset`, expiration = that start plus `validity`; within a period the signed
// data of an RRset is the same from one query to the next, so each worker keeps the RRSIGs
// it made in a cache keyed by the RRset (owner, type, class, TTL, the RDATAs in canonical
// form and order), the key and the period, compared exactly. A hit is the key, a hash, one
// index line, a compare and a copy of the encoded RRSIG: no allocation, no cryptography.

#include <cstdint>
#include <ctime>
#include <functional>
#include <memory>
#include <vector>

#include "mapper/app/app.h"
#include "mapper/dnssec/key.h"

namespace amap::dnssec {

struct SignerOptions {
  std::uint32_t validity = 7 * 86400;
  std::uint32_t inception_offset = 3600;
  /// RRSIGs cached per worker, rounded up to a power of two (>= 4); the log keeps about 192
  /// bytes for each.
  std::uint32_t cache_entries = 16384;
  /// The clock (tests): seconds since the epoch.
  std::function<std::int64_t()> now;
};

class Signer : public app::AnswerSigner {
 public:
  /// Builds the signer for `keys` (at least one active key), reserves its per-worker state in
  /// `app` and sets it as the app's signer. Throws std::invalid_argument when no key is
  /// published and active.
  static std::shared_ptr<const Signer> install(app::App& app, std::vector<Key> keys,
                                               SignerOptions options = {});

  void sign(app::Worker& worker, const app::Request& req, app::Answer& ans, bool dnssec_ok,
            app::SigningCounters& counters) const noexcept override;

  struct State;

 private:
  Signer() = default;
  std::vector<Key> keys_;         // published (their DNSKEYs are served)
  std::vector<std::size_t> zsk_;  // indexes of the active keys signing other RRsets
  std::vector<std::size_t> ksk_;  // indexes of the active keys signing the DNSKEY RRset
  SignerOptions options_;
  app::Slot<State> slot_;
};

}  // namespace amap::dnssec
