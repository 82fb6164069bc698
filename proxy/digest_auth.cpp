#include "proxy/digest_auth.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <array>
#include <charconv>
#include <cstdio>
#include <cstdlib>

#include "config/snapshot.hpp"
#include "proxy/ascii.hpp"

namespace portico::proxy {

namespace {

constexpr char hex_digits[] = "0123456789abcdef";

std::string hex(const unsigned char* p, std::size_t n) {
  std::string out;
  out.reserve(n * 2);
  for (std::size_t i = 0; i < n; ++i) {
    out.push_back(hex_digits[p[i] >> 4]);
    out.push_back(hex_digits[p[i] & 15]);
  }
  return out;
}


// The process's nonce key: random, made once.
const std::array<unsigned char, 32>& nonce_key() {
  static const std::array<unsigned char, 32> key = [] {
    std::array<unsigned char, 32> k{};
    if (RAND_bytes(k.data(), static_cast<int>(k.size())) != 1) std::abort();  // no entropy: no nonces
    return k;
  }();
  return key;
}

// `stamp` (hex time and hex random) + the first 16 bytes of HMAC-SHA-256(key, stamp), hex.
std::string sign(std::string_view stamp) {
  const auto& key = nonce_key();
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned n = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(stamp.data()), stamp.size(), mac, &n);
  return std::string(stamp) + hex(mac, 16);
}

bool same(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace

std::string make_digest_nonce(std::int64_t now) {
  // Random per challenge (as the module's ngx_random part): two clients challenged in the same
  // second get nonces of their own, so one's use counts never make the other's stale.
  unsigned char rnd[8];
  if (RAND_bytes(rnd, sizeof rnd) != 1) std::abort();
  char stamp[17];
  std::snprintf(stamp, sizeof stamp, "%016llx", static_cast<unsigned long long>(now));
  return sign(std::string(stamp, 16) + hex(rnd, sizeof rnd));
}

std::string digest_challenge(std::string_view realm, std::string_view nonce, bool stale) {
  std::string v = "Digest algorithm=\"MD5\", qop=\"auth\", realm=\"";
  v.append(realm).append("\", nonce=\"").append(nonce).append("\"");
  if (stale) v.append(", stale=\"true\"");
  return v;
}

bool parse_digest_authorization(std::string_view a, digest_fields& out) {
  while (!a.empty() && (a.front() == ' ' || a.front() == '\t')) a.remove_prefix(1);
  if (a.size() < 7 || !ascii::iequals(a.substr(0, 6), "Digest") || (a[6] != ' ' && a[6] != '\t'))
    return false;
  a.remove_prefix(7);
  out = digest_fields{};
  while (!a.empty()) {
    while (!a.empty() && (a.front() == ' ' || a.front() == '\t' || a.front() == ',')) a.remove_prefix(1);
    if (a.empty()) break;
    const auto eq = a.find('=');
    if (eq == std::string_view::npos || eq == 0) return false;
    std::string_view name = a.substr(0, eq);
    while (!name.empty() && (name.back() == ' ' || name.back() == '\t')) name.remove_suffix(1);
    a.remove_prefix(eq + 1);
    while (!a.empty() && (a.front() == ' ' || a.front() == '\t')) a.remove_prefix(1);
    std::string value;
    if (!a.empty() && a.front() == '"') {
      a.remove_prefix(1);
      bool closed = false;
      while (!a.empty()) {
        const char c = a.front();
        a.remove_prefix(1);
        if (c == '\\' && !a.empty()) {
          value.push_back(a.front());
          a.remove_prefix(1);
        } else if (c == '"') {
          closed = true;
          break;
        } else {
          value.push_back(c);
        }
      }
      if (!closed) return false;
    } else {
      const auto end = a.find(',');
      std::string_view v = a.substr(0, end);
      while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
      value.assign(v);
      a = end == std::string_view::npos ? std::string_view{} : a.substr(end);
    }
    std::string* slot = nullptr;
    if (ascii::iequals(name, "username")) slot = &out.username;
    else if (ascii::iequals(name, "realm")) slot = &out.realm;
    else if (ascii::iequals(name, "nonce")) slot = &out.nonce;
    else if (ascii::iequals(name, "uri")) slot = &out.uri;
    else if (ascii::iequals(name, "response")) slot = &out.response;
    else if (ascii::iequals(name, "qop")) slot = &out.qop;
    else if (ascii::iequals(name, "nc")) slot = &out.nc;
    else if (ascii::iequals(name, "cnonce")) slot = &out.cnonce;
    else if (ascii::iequals(name, "algorithm")) slot = &out.algorithm;
    if (slot != nullptr) *slot = std::move(value);
  }
  return true;
}

digest_result digest_verifier::verify(const config::htpasswd& users, std::string_view realm,
                                      std::string_view method, std::string_view request_uri,
                                      std::string_view authorization, std::int64_t now) {
  digest_fields f;
  if (authorization.empty() || !parse_digest_authorization(authorization, f)) return digest_result::missing;
  if (f.username.empty() || f.nonce.size() != nonce_size || f.response.size() != 32 || f.qop != "auth" ||
      f.nc.size() != 8 || f.cnonce.empty() || f.realm != realm || f.uri != request_uri ||
      !(f.algorithm.empty() || ascii::iequals(f.algorithm, "MD5")))
    return digest_result::refused;
  // The nonce is ours (its MAC), and when it was issued.
  if (!same(sign(std::string_view(f.nonce).substr(0, 32)), f.nonce)) return digest_result::refused;
  std::uint64_t issued = 0, nc = 0;
  std::from_chars(f.nonce.data(), f.nonce.data() + 16, issued, 16);
  if (std::from_chars(f.nc.data(), f.nc.data() + 8, nc, 16).ptr != f.nc.data() + 8 || nc == 0)
    return digest_result::refused;
  const std::string* ha1 = users.find(f.username);
  if (ha1 == nullptr) return digest_result::refused;
  const std::string ha2 = config::md5_hex(std::string(method) + ":" + f.uri);
  std::string response = config::md5_hex(*ha1 + ":" + f.nonce + ":" + f.nc + ":" + f.cnonce + ":" + f.qop + ":" + ha2);
  std::string given = f.response;
  for (auto& c : given) c = ascii::lower(c);
  if (!same(response, given)) return digest_result::refused;
  // Right credentials: is the nonce still good?
  auto it = uses_.find(f.nonce);
  if (it == uses_.end()) {
    if (now - static_cast<std::int64_t>(issued) > challenge_timeout ||
        static_cast<std::int64_t>(issued) > now + 5)
      return digest_result::stale;
    if (uses_.size() >= max_nonces) {
      for (auto e = uses_.begin(); e != uses_.end();)
        e = now - e->second.first > reuse_period ? uses_.erase(e) : std::next(e);
      if (uses_.size() >= max_nonces) uses_.clear();
    }
    uses_.emplace(f.nonce, use{now, nc, 1});
    return digest_result::ok;
  }
  use& u = it->second;
  if (now - u.first > reuse_period || u.count >= max_uses || nc <= u.last_nc) return digest_result::stale;
  u.last_nc = nc;
  ++u.count;
  return digest_result::ok;
}

}  // namespace portico::proxy
