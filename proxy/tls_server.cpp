#include "proxy/tls_server.hpp"

#include "proxy/client_cert.hpp"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <cstring>
#include <ctime>
#include <deque>
#include <mutex>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <unordered_set>

namespace portico::proxy {

namespace ssl = boost::asio::ssl;

namespace {

// Mozilla "intermediate" (v5.7) for TLS 1.2, ECDHE only (no DH parameters are configured).
constexpr const char* tls12_ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
constexpr const char* tls13_suites =
    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";
constexpr const char* groups = "X25519:P-256:P-384";
constexpr unsigned char session_id_context[] = "portico";
// ingress-nginx: ssl-session-cache-size 10m (about 40,000 sessions), ssl-session-timeout 10m.
constexpr long session_cache_size = 40000;
constexpr long session_timeout_seconds = 600;

// The server-side session cache (TLS 1.2 session IDs; TLS 1.3 and TLS 1.2 tickets are
// stateless). Kept outside OpenSSL's internal store, serialized: OpenSSL marks a session
// object not resumable (and drops it from its own store) whenever a connection is freed
// without a sent close_notify, which is how idle HTTP connections usually end. Here only a
// fatal alert (info callback), expiry and the size bound remove a session. Shared by every
// worker: a mutex on the handshake path, never on the request path.
class session_store {
 public:
  void add(SSL_SESSION* s) {
    unsigned int len = 0;
    const unsigned char* id = SSL_SESSION_get_id(s, &len);
    const int n = i2d_SSL_SESSION(s, nullptr);
    if (len == 0 || n <= 0) return;
    std::string der(static_cast<std::size_t>(n), '\0');
    auto* p = reinterpret_cast<unsigned char*>(der.data());
    i2d_SSL_SESSION(s, &p);
    const std::time_t expires = SSL_SESSION_get_time(s) + SSL_SESSION_get_timeout(s);
    std::string key(reinterpret_cast<const char*>(id), len);
    std::lock_guard lock(mu_);
    auto [it, fresh] = by_id_.insert_or_assign(key, entry{std::move(der), expires});
    if (!fresh) return;
    order_.push_back(std::move(key));
    while (by_id_.size() > static_cast<std::size_t>(session_cache_size)) evict_oldest();
    if (order_.size() > 2 * by_id_.size() + 1024) {  // removed sessions left stale keys
      std::deque<std::string> live;
      for (auto& k : order_)
        if (by_id_.count(k) != 0) live.push_back(std::move(k));
      order_ = std::move(live);
    }
  }
  SSL_SESSION* get(const unsigned char* id, int len) {
    std::string key(reinterpret_cast<const char*>(id), static_cast<std::size_t>(len));
    std::lock_guard lock(mu_);
    auto it = by_id_.find(key);
    if (it == by_id_.end()) return nullptr;
    if (it->second.expires < std::time(nullptr)) {
      by_id_.erase(it);
      return nullptr;
    }
    const auto* p = reinterpret_cast<const unsigned char*>(it->second.der.data());
    return d2i_SSL_SESSION(nullptr, &p, static_cast<long>(it->second.der.size()));
  }
  void remove(SSL_SESSION* s) {
    unsigned int len = 0;
    const unsigned char* id = SSL_SESSION_get_id(s, &len);
    std::lock_guard lock(mu_);
    by_id_.erase(std::string(reinterpret_cast<const char*>(id), len));
  }

 private:
  struct entry {
    std::string der;
    std::time_t expires;
  };
  void evict_oldest() {
    while (!order_.empty()) {
      const bool erased = by_id_.erase(order_.front()) != 0;
      order_.pop_front();
      if (erased) return;
    }
  }
  std::mutex mu_;
  std::unordered_map<std::string, entry> by_id_;
  std::deque<std::string> order_;  // insertion order; stale keys are skipped
};

session_store& sessions() {
  static session_store store;
  return store;
}

int new_session_cb(SSL* /*ssl*/, SSL_SESSION* s) {
  // A TLS 1.3 session travels in its stateless ticket and is never looked up by ID: storing
  // it would only cost memory (measured: about 1 KB per handshake, bench idle-tls).
  if (SSL_SESSION_get_protocol_version(s) == TLS1_3_VERSION) return 0;
  sessions().add(s);
  return 0;  // stored as a copy: OpenSSL keeps its reference
}

SSL_SESSION* get_session_cb(SSL* /*ssl*/, const unsigned char* id, int len, int* copy) {
  *copy = 0;  // a fresh object, owned by the caller
  return sessions().get(id, len);
}

// A fatal alert invalidates the connection's session (RFC 5246 7.2.2).
void info_cb(const SSL* ssl, int where, int ret) {
  if ((where & SSL_CB_ALERT) == 0 || (ret >> 8) != SSL3_AL_FATAL) return;
  if (SSL_SESSION* s = SSL_get_session(ssl)) sessions().remove(s);
}

int worker_index() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

tls_worker* worker_of(SSL* ssl) {
  return static_cast<tls_worker*>(SSL_get_ex_data(ssl, worker_index()));
}

int servername_cb(SSL* ssl, int* /*alert*/, void* /*arg*/) {
  tls_worker* w = worker_of(ssl);
  return w != nullptr ? w->on_servername(ssl) : SSL_TLSEXT_ERR_OK;
}

int client_hello_cb(SSL* ssl, int* /*alert*/, void* /*arg*/) {
  if (tls_worker* w = worker_of(ssl)) w->on_client_hello(ssl);
  return SSL_CLIENT_HELLO_SUCCESS;
}

int ticket_cb(SSL* ssl, unsigned char* name, unsigned char* iv, EVP_CIPHER_CTX* cctx,
              EVP_MAC_CTX* hctx, int enc) {
  tls_worker* w = worker_of(ssl);
  return w != nullptr ? w->on_ticket(ssl, name, iv, cctx, hctx, enc) : -1;
}

// The offered protocol `want` in the client's ALPN list (RFC 7301 3.1), or null.
const unsigned char* offered(const unsigned char* in, unsigned int inlen, std::string_view want) {
  for (unsigned int i = 0; i < inlen;) {
    const unsigned len = in[i];
    if (i + 1 + len > inlen) break;
    if (len == want.size() && std::memcmp(in + i + 1, want.data(), len) == 0) return in + i + 1;
    i += 1 + len;
  }
  return nullptr;
}

// ALPN: h2 when the client offers it and HTTP/2 is on (whatever the client's order, as nginx),
// else http/1.1 when offered; otherwise no ALPN at all.
int alpn_cb(SSL* ssl, const unsigned char** out, unsigned char* outlen,
            const unsigned char* in, unsigned int inlen, void* /*arg*/) {
  const tls_worker* w = worker_of(ssl);
  if (w != nullptr && w->h2_allowed()) {
    if (const unsigned char* p = offered(in, inlen, "h2")) {
      *out = p;
      *outlen = 2;
      return SSL_TLSEXT_ERR_OK;
    }
  }
  if (const unsigned char* p = offered(in, inlen, "http/1.1")) {
    *out = p;
    *outlen = 8;
    return SSL_TLSEXT_ERR_OK;
  }
  return SSL_TLSEXT_ERR_NOACK;
}

void check(int ok, const char* what) {
  if (ok != 1) {
    ERR_clear_error();
    throw std::runtime_error(std::string("TLS setup: ") + what);
  }
}

void configure(SSL_CTX* c) {
  // Level 2 (keys and signatures of at least 112 bits: RSA 2048, P-256, SHA-256), whatever
  // the system's openssl.cnf says; config::parse_tls_secret refuses what it would not load.
  SSL_CTX_set_security_level(c, 2);
  check(SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION), "minimum protocol");
  check(SSL_CTX_set_max_proto_version(c, TLS1_3_VERSION), "maximum protocol");
  check(SSL_CTX_set_cipher_list(c, tls12_ciphers), "TLS 1.2 ciphers");
  check(SSL_CTX_set_ciphersuites(c, tls13_suites), "TLS 1.3 suites");
  check(SSL_CTX_set1_groups_list(c, groups), "groups");
  SSL_CTX_set_options(c, SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_RENEGOTIATION |
                             SSL_OP_NO_COMPRESSION | SSL_OP_SINGLE_ECDH_USE);
  // The chain is sent as tls.crt gives it (as nginx does), never completed from a store.
  SSL_CTX_set_mode(c, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_NO_AUTO_CHAIN);
  check(SSL_CTX_set_session_id_context(c, session_id_context, sizeof session_id_context - 1),
        "session id context");
  SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_SERVER | SSL_SESS_CACHE_NO_INTERNAL);
  SSL_CTX_sess_set_new_cb(c, new_session_cb);
  SSL_CTX_sess_set_get_cb(c, get_session_cb);
  SSL_CTX_set_info_callback(c, info_cb);
  SSL_CTX_set_timeout(c, session_timeout_seconds);
  SSL_CTX_set_client_hello_cb(c, client_hello_cb, nullptr);
  SSL_CTX_set_tlsext_servername_callback(c, servername_cb);
  check(SSL_CTX_set_tlsext_ticket_key_evp_cb(c, ticket_cb), "ticket callback");
  SSL_CTX_set_alpn_select_cb(c, alpn_cb, nullptr);
}

}  // namespace

ticket_key make_ticket_key() {
  ticket_key k;
  if (RAND_bytes(k.name.data(), static_cast<int>(k.name.size())) != 1 ||
      RAND_bytes(k.aes_key.data(), static_cast<int>(k.aes_key.size())) != 1 ||
      RAND_bytes(k.hmac_key.data(), static_cast<int>(k.hmac_key.size())) != 1)
    throw std::runtime_error("TLS setup: no random bytes for a session ticket key");
  return k;
}

tls_server_context::tls_server_context() : ctx_(ssl::context::tls_server) {
  configure(ctx_.native_handle());
  self_signed_ = make_self_signed_material();
  if (!self_signed_ || !self_signed_->use_on(ctx_.native_handle()))
    throw std::runtime_error("TLS setup: cannot make the self-signed default certificate");
  keys_.current = make_ticket_key();
}

tls_server_context::~tls_server_context() = default;

ticket_keys tls_server_context::rotate() {
  keys_.previous = keys_.current;
  keys_.has_previous = true;
  keys_.current = make_ticket_key();
  return keys_;
}

void tls_server_context::attach(SSL* ssl, tls_worker* w) {
  SSL_set_ex_data(ssl, worker_index(), w);
}

// ---------------------------------------------------------------------------- tls_worker

tls_worker::tls_worker(const tls_server_context& shared)
    : shared_(shared), keys_(shared.keys()) {}

void tls_worker::on_snapshot(const config::snapshot_ptr& snap) {
  snap_ = snap;
  if (cache_.empty()) return;
  std::unordered_set<std::uint64_t> live;
  if (snap_)
    for (const auto& c : snap_->tls().certificates)
      if (c) live.insert(c->version);
  for (auto it = cache_.begin(); it != cache_.end();)
    it = live.count(it->first) != 0 ? std::next(it) : cache_.erase(it);
}

const tls_material* tls_worker::material_for(const config::tls_certificate& cert) {
  auto it = cache_.find(cert.version);
  if (it == cache_.end())
    it = cache_.emplace(cert.version, parse_tls_material(cert.cert_pem, cert.key_pem)).first;
  return it->second.get();
}

tls_choice tls_worker::choose(std::string_view server_name) {
  tls_choice out;
  if (snap_) {
    if (!server_name.empty())
      if (const auto* set = snap_->find_certificates(server_name))
        for (const auto& cert : *set) out.add(material_for(*cert));
    if (out.empty())
      if (const auto& def = snap_->tls().default_cert) out.add(material_for(*def));
  }
  if (out.empty()) out.add(shared_.self_signed().get());
  return out;
}

void tls_worker::on_client_hello(SSL* ssl) {
  if (!snap_ || snap_->tls().client_auth_by_host.empty()) return;
  const std::string_view name = client_hello_server_name(ssl);
  if (name.empty()) return;
  if (const config::client_auth* a = snap_->find_client_auth(name)) ask_for_client_certificate(ssl, *a);
}

int tls_worker::on_servername(SSL* ssl) {
  const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  const tls_choice chosen =
      choose(name != nullptr ? std::string_view(name) : std::string_view());
  // The connection starts with the accepting context's self-signed certificate. Any other
  // choice replaces it: OpenSSL keeps one certificate per key type, so an RSA certificate put
  // beside the self-signed ECDSA one would lose to it with every client that offers ECDSA.
  if (chosen.size() == 1 && chosen[0] == shared_.self_signed().get()) return SSL_TLSEXT_ERR_OK;
  SSL_certs_clear(ssl);
  bool any = false;
  for (const tls_material* m : chosen) any = m->use_on(ssl) || any;
  if (!any) {
    ERR_clear_error();
    SSL_certs_clear(ssl);
    shared_.self_signed()->use_on(ssl);
  }
  ERR_clear_error();
  return SSL_TLSEXT_ERR_OK;
}

int tls_worker::on_ticket(SSL* /*ssl*/, unsigned char* name, unsigned char* iv,
                          EVP_CIPHER_CTX* cctx, EVP_MAC_CTX* hctx, int enc) {
  const ticket_key* k = nullptr;
  int result = 1;
  if (enc == 1) {
    k = &keys_.current;
    std::memcpy(name, k->name.data(), k->name.size());
    if (RAND_bytes(iv, EVP_CIPHER_iv_length(EVP_aes_256_cbc())) != 1) return -1;
  } else if (std::memcmp(name, keys_.current.name.data(), keys_.current.name.size()) == 0) {
    k = &keys_.current;
  } else if (keys_.has_previous &&
             std::memcmp(name, keys_.previous.name.data(), keys_.previous.name.size()) == 0) {
    k = &keys_.previous;
    result = 2;  // valid, but issue a ticket under the current key
  } else {
    return 0;  // unknown key: full handshake
  }
  const int ok = enc == 1 ? EVP_EncryptInit_ex(cctx, EVP_aes_256_cbc(), nullptr,
                                               k->aes_key.data(), iv)
                          : EVP_DecryptInit_ex(cctx, EVP_aes_256_cbc(), nullptr,
                                               k->aes_key.data(), iv);
  if (ok != 1) return -1;
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY,
                                        const_cast<unsigned char*>(k->hmac_key.data()),
                                        k->hmac_key.size()),
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_end()};
  if (EVP_MAC_CTX_set_params(hctx, params) != 1) return -1;
  return result;
}

}  // namespace portico::proxy
