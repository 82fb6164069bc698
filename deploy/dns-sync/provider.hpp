// Where the records live. Two real implementations: RFC 2136 dynamic updates (rfc2136.hpp)
// and Route 53 change batches (route53.hpp). Calls block; the controller runs them on its
// own thread, one at a time.
#pragma once

#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "deploy/dns-sync/plan.hpp"
#include "deploy/dns-sync/records.hpp"

namespace portico::dnssync {

// The server or tool refused or could not be reached; the message says which and why.
struct provider_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct apply_result {
  std::size_t applied = 0;          // name changes that took effect
  std::vector<std::string> errors;  // what went wrong, one line each
  std::set<std::string> failed;      // names whose changes did not (or may not) take effect
};

class provider {
 public:
  virtual ~provider() = default;
  // The zone's current records (every name; at least A, AAAA, CNAME and TXT sets).
  virtual zone_records read() = 0;
  // Applies the plan's changes; a failed change does not stop the others.
  virtual apply_result apply(const plan& p) = 0;
  virtual std::string describe() const = 0;
};

}  // namespace portico::dnssync
