// The users of basic authentication (auth-secret): an htpasswd file (auth-secret-type
// auth-file, the Secret's key "auth") or a map of user to hash (auth-map, one Secret key per
// user). Hashes stay as written; proxy/basic_auth.hpp verifies passwords against them.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace portico::config {

struct htpasswd {
  std::vector<std::pair<std::string, std::string>> users;  // sorted by user; second: hash
  const std::string* find(std::string_view user) const;
};

// The hash formats Portico verifies: bcrypt ($2y$, $2b$, $2a$), Apache MD5 ($apr1$), SHA-1
// ({SHA}), and the crypt(3) schemes of libxcrypt: MD5 ($1$), SHA-256 ($5$), SHA-512 ($6$),
// yescrypt ($y$) and traditional DES (13 characters).
bool known_hash_format(std::string_view hash);

// "user:hash" lines (a third ":field" is a comment, as nginx reads it); blank lines and '#'
// lines are skipped. A problem names the line number, never the line (it holds a hash).
htpasswd parse_htpasswd(std::string_view text, std::vector<std::string>& problems);

// htdigest "user:realm:HA1" lines (HA1: 32 hex digits, MD5(user:realm:password)); users of
// another realm than `realm` are reported and left out (nginx's auth_digest matches both).
htpasswd parse_htdigest(std::string_view text, std::string_view realm,
                        std::vector<std::string>& problems);

}  // namespace portico::config
