// auth-type digest: HTTP Digest authentication (RFC 7616, MD5, qop "auth") as ingress-nginx's
// nginx auth_digest module answers it. Users are htdigest entries (config::parse_htdigest):
// HA1 = MD5(user:realm:password). Nonces carry their issue time and an HMAC-SHA-256 under a key
// made at process start, so any worker accepts another's nonce; a nonce is good for
// `challenge_timeout` after it was issued and for `reuse_period` after its first successful
// use, at most `max_uses` times with a rising nonce count -- then the answer is 401 with
// stale=true and the client retries with a fresh nonce without asking its user (the module's
// auth_digest_timeout 60s, auth_digest_expires 10s, auth_digest_replays 20). The use counts
// are kept per worker.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>

#include "config/htpasswd.hpp"

namespace portico::proxy {

enum class digest_result : std::uint8_t {
  ok,
  missing,  // no Digest credentials: 401 with a challenge
  refused,  // wrong user, password, realm, uri or a forged nonce: 401 with a challenge
  stale,    // a good answer to an old nonce: 401 with stale=true
};

// A fresh nonce for `now` (seconds since the epoch): hex issue time, 8 random bytes and 16
// bytes of HMAC over both, nonce_size hex digits.
inline constexpr std::size_t nonce_size = 64;
std::string make_digest_nonce(std::int64_t now);
// The WWW-Authenticate value of a challenge.
std::string digest_challenge(std::string_view realm, std::string_view nonce, bool stale);

// The fields of "Digest username=..., realm=..., ..." (quoted or token values); false when the
// header is not a Digest one or a field is malformed.
struct digest_fields {
  std::string username, realm, nonce, uri, response, qop, nc, cnonce, algorithm;
};
bool parse_digest_authorization(std::string_view authorization, digest_fields& out);

class digest_verifier {
 public:
  static constexpr std::int64_t challenge_timeout = 60;  // seconds
  static constexpr std::int64_t reuse_period = 10;       // seconds after the first use
  static constexpr unsigned max_uses = 20;
  static constexpr std::size_t max_nonces = 10000;       // tracked per worker

  // `request_uri` as received; `now` seconds since the epoch.
  digest_result verify(const config::htpasswd& users, std::string_view realm,
                       std::string_view method, std::string_view request_uri,
                       std::string_view authorization, std::int64_t now);
  std::size_t tracked() const { return uses_.size(); }

 private:
  struct use {
    std::int64_t first = 0;  // first successful use
    std::uint64_t last_nc = 0;
    unsigned count = 0;
  };
  std::unordered_map<std::string, use> uses_;
};

}  // namespace portico::proxy
