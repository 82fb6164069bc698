// RFC 2136 dynamic updates signed with TSIG (RFC 8945), on ldns. The current state is read
// with a TSIG-signed zone transfer (AXFR), so the key must be allowed to transfer the zone.
// Each name's changes go in one UPDATE message whose prerequisites make it safe against
// concurrent writers: a create requires that the name has no A, AAAA or CNAME set and no
// owner record; an update or removal requires that our owner TXT record is still there.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "deploy/dns-sync/provider.hpp"

namespace portico::dnssync {

struct rfc2136_options {
  std::string server = "127.0.0.1:53";  // "addr:port", "[v6addr]:port" or "addr"
  std::string zone;                     // normalised
  std::string tsig_key_name;            // empty: unsigned (only for servers that allow it)
  std::string tsig_secret;              // base64
  std::string tsig_algorithm = "hmac-sha256";
  std::chrono::seconds timeout{5};
  std::string owner_id = "default";     // for the prerequisites (our owner TXT value)
};

class rfc2136_provider final : public provider {
 public:
  explicit rfc2136_provider(rfc2136_options opts);  // throws provider_error on bad options
  zone_records read() override;
  apply_result apply(const plan& p) override;
  std::string describe() const override;

 private:
  struct resolver_deleter {
    void operator()(void* r) const;
  };
  using resolver_ptr = std::unique_ptr<void, resolver_deleter>;
  resolver_ptr make_resolver() const;
  void send_update(void* res, const name_change& c);

  rfc2136_options opts_;
  std::string host_;
  unsigned short port_ = 53;
};

// "NOTAUTH", "REFUSED", ... for a DNS RCODE; "BADSIG", "BADKEY", "BADTIME" for TSIG errors.
std::string rcode_text(int rcode);

}  // namespace portico::dnssync
