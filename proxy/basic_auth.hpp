// Basic authentication (auth-type basic): the request's "Authorization: Basic" credentials
// against the route's htpasswd users (config/htpasswd.hpp). Hashes are computed by vetted
// implementations: libxcrypt's crypt_r (bcrypt, $1$, $5$, $6$, $y$, DES), apr-util's
// apr_md5_encode ($apr1$) and OpenSSL's SHA-1 ({SHA}); the result is compared in constant
// time (CRYPTO_memcmp).
//
// bcrypt is deliberately slow (tens of milliseconds at the usual cost), so each worker keeps
// the SHA-256 digests of credentials it verified: the digest covers the user, the password
// and the user's current hash, so a password changed or a user removed in the Secret is
// checked afresh, and no password is kept. Failures are never cached. The cache is bounded
// (it is cleared when full).
#pragma once

#include <array>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_set>

#include "config/htpasswd.hpp"

namespace portico::proxy {

// Whether `password` matches `hash` (one of config::known_hash_format's).
bool password_matches(std::string_view password, std::string_view hash);

// "Basic <base64(user:password)>" into user and password; false when it is not that.
bool parse_basic_credentials(std::string_view authorization, std::string& user, std::string& password);

class credential_cache {
 public:
  credential_cache();
  ~credential_cache();
  // Whether the Authorization value's credentials match a user of `users`.
  bool verify(const config::htpasswd& users, std::string_view authorization);
  std::size_t size() const { return verified_.size(); }
  static constexpr std::size_t max_entries = 4096;

 private:
  std::unordered_set<std::string> verified_;  // SHA-256 digests, 32 bytes each
  std::string user_, password_;              // reused buffers
};

}  // namespace portico::proxy
