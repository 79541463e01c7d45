// SPDX-License-Identifier: MIT
#pragma once
// mapctl's side of etcd sync: an OverrideStore::set_replication function that turns a checked
// write transaction into one etcd transaction (store/sync/README.md, "Writes").

#include <memory>
#include <string>

#include "store/sync/etcd_client.h"
#include "store/writer.h"

namespace amap::store::sync {

/// One etcd txn per store transaction: its compare holds every key under `prefix` at a
/// mod_revision no newer than the replica's revision (so the rules were checked against the
/// state etcd holds), its success branch puts every value. When the compare fails, the
/// result names the newest mod_revision under the prefix, and the store waits for the
/// replica. Throws EtcdError (nothing applied) when etcd is unreachable or refuses the txn
/// (too many operations, too large: the message names etcd's limit).
Replication etcd_replication(std::shared_ptr<EtcdClient> client, std::string prefix);

}  // namespace amap::store::sync
