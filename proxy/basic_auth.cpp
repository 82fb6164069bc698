#include "proxy/basic_auth.hpp"

#include <apr_md5.h>
#include <crypt.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include <cstring>

#include "proxy/ascii.hpp"

namespace portico::proxy {

namespace {

bool same(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

// The stored hash and the password as NUL-terminated strings for the C interfaces.
struct c_strings {
  std::string password, hash;
  c_strings(std::string_view p, std::string_view h) : password(p), hash(h) {}
};

}  // namespace

bool password_matches(std::string_view password, std::string_view hash) {
  if (password.find('\0') != std::string_view::npos) return false;
  c_strings s(password, hash);
  if (hash.starts_with("$apr1$")) {
    char out[120];
    if (apr_md5_encode(s.password.c_str(), s.hash.c_str(), out, sizeof out) != 0) return false;
    return same(out, hash);
  }
  if (hash.starts_with("{SHA}")) {
    unsigned char digest[SHA_DIGEST_LENGTH];
    SHA1(reinterpret_cast<const unsigned char*>(password.data()), password.size(), digest);
    unsigned char b64[64];
    const int n = EVP_EncodeBlock(b64, digest, SHA_DIGEST_LENGTH);
    return same(std::string_view(reinterpret_cast<const char*>(b64), static_cast<std::size_t>(n)),
                hash.substr(5));
  }
  // crypt(3): bcrypt ($2y$ is $2b$ to libxcrypt), MD5, SHA-256/512, yescrypt, DES.
  auto data = std::make_unique<crypt_data>();
  std::memset(data.get(), 0, sizeof(crypt_data));
  const char* out = crypt_r(s.password.c_str(), s.hash.c_str(), data.get());
  if (out == nullptr || out[0] == '*') return false;
  return same(out, hash);
}

bool parse_basic_credentials(std::string_view a, std::string& user, std::string& password) {
  while (!a.empty() && (a.front() == ' ' || a.front() == '\t')) a.remove_prefix(1);
  if (a.size() < 6 || !ascii::iequals(a.substr(0, 5), "basic") || (a[5] != ' ' && a[5] != '\t'))
    return false;
  a.remove_prefix(6);
  while (!a.empty() && (a.front() == ' ' || a.front() == '\t')) a.remove_prefix(1);
  while (!a.empty() && (a.back() == ' ' || a.back() == '\t')) a.remove_suffix(1);
  if (a.empty() || a.size() % 4 != 0 || a.size() > 4096) return false;
  for (char ch : a)
    if (!(std::isalnum(static_cast<unsigned char>(ch)) || ch == '+' || ch == '/' || ch == '='))
      return false;
  std::string decoded(a.size() / 4 * 3, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(decoded.data()),
                                reinterpret_cast<const unsigned char*>(a.data()),
                                static_cast<int>(a.size()));
  if (n < 0) return false;
  std::size_t len = static_cast<std::size_t>(n);
  // EVP_DecodeBlock counts the padding's zero bytes.
  if (a.ends_with("==")) len -= 2;
  else if (a.ends_with("=")) len -= 1;
  decoded.resize(len);
  const auto colon = decoded.find(':');
  if (colon == std::string::npos) return false;
  user.assign(decoded, 0, colon);
  password.assign(decoded, colon + 1);
  OPENSSL_cleanse(decoded.data(), decoded.size());
  return true;
}

credential_cache::credential_cache() = default;
credential_cache::~credential_cache() = default;

bool credential_cache::verify(const config::htpasswd& users, std::string_view authorization) {
  if (!parse_basic_credentials(authorization, user_, password_)) return false;
  const std::string* hash = users.find(user_);
  bool ok = false;
  if (hash != nullptr) {
    unsigned char digest[SHA256_DIGEST_LENGTH];
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    const unsigned char zero = 0;
    EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
    EVP_DigestUpdate(ctx, hash->data(), hash->size());
    EVP_DigestUpdate(ctx, &zero, 1);
    EVP_DigestUpdate(ctx, user_.data(), user_.size());
    EVP_DigestUpdate(ctx, &zero, 1);
    EVP_DigestUpdate(ctx, password_.data(), password_.size());
    EVP_DigestFinal_ex(ctx, digest, nullptr);
    EVP_MD_CTX_free(ctx);
    std::string key(reinterpret_cast<const char*>(digest), sizeof digest);
    if (verified_.contains(key)) {
      ok = true;
    } else if (password_matches(password_, *hash)) {
      if (verified_.size() >= max_entries) verified_.clear();
      verified_.insert(std::move(key));
      ok = true;
    }
  }
  OPENSSL_cleanse(password_.data(), password_.size());
  return ok;
}

}  // namespace portico::proxy
