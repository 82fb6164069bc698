// The live routing table as JSON, for the admin server's /debug/snapshot.
#pragma once

#include <string>

#include "config/snapshot.hpp"

namespace portico::proxy {

std::string snapshot_to_json(const config::snapshot& snap);

}  // namespace portico::proxy
