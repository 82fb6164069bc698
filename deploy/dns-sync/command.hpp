// `portico dns-sync`: keeps DNS records of the Ingress hosts in a zone in line with the
// addresses Portico publishes in Ingress status (see deploy/dns-sync/README.md).
#pragma once

#include <string>
#include <vector>

namespace portico::dnssync {

// The command's own arguments (after "dns-sync"). Returns the process exit code.
int run_command(const std::vector<std::string>& args);

}  // namespace portico::dnssync
