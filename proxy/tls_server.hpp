// Server-side TLS: the one accepting context every worker's HTTPS connections start from, and
// each worker's certificate choice.
//
// The accepting context carries the policy (TLS 1.2 and 1.3 only, the Mozilla "intermediate"
// TLS 1.2 cipher list and the default TLS 1.3 suites, server cipher preference, ALPN http/1.1
// only, the session cache, the session ticket callback) and the self-signed certificate. It is
// made once and never changed afterwards, so the workers share it without locks. The TLS 1.2
// session-ID cache is process-wide behind a mutex (the handshake path, never the request
// path), serialized outside OpenSSL's own store (see tls_server.cpp).
//
// Per connection, the ClientHello callback asks for a client certificate when the server name's
// host wants one (auth-tls-*, proxy/client_cert.hpp), and the server-name callback, on the
// worker's thread, replaces the
// connection's certificates with the chosen ones: the worker's current Snapshot's
// find_certificates(SNI) (one per key type: an RSA and an ECDSA certificate of one host both
// go on, and OpenSSL picks by the client's signature algorithms), else its default
// certificate, else the self-signed one. Parsed certificates are cached per worker by
// tls_certificate::version, so new Secret data is picked up by the next handshake while open
// connections keep the certificate they negotiated.
//
// Session tickets are encrypted with per-worker copies of a key set that the control thread
// rotates (every worker gets the same keys, so a ticket from one worker resumes on another);
// the previous key still decrypts (and the ticket is renewed) for one more rotation period.
#pragma once

#include <boost/asio/ssl/context.hpp>

#include <array>
#include <cstdint>
#include <memory>
#include <unordered_map>

#include "config/snapshot.hpp"
#include "proxy/tls_material.hpp"

namespace portico::proxy {

struct ticket_key {
  std::array<unsigned char, 16> name{};
  std::array<unsigned char, 32> aes_key{};
  std::array<unsigned char, 32> hmac_key{};
};

// The current key encrypts new tickets; the previous one only decrypts.
struct ticket_keys {
  ticket_key current;
  ticket_key previous;
  bool has_previous = false;
};

ticket_key make_ticket_key();

class tls_worker;

// The certificates one handshake is served with (at most one per key type). No allocation.
class tls_choice {
 public:
  void add(const tls_material* m) {
    if (m != nullptr && n_ < items_.size()) items_[n_++] = m;
  }
  bool empty() const { return n_ == 0; }
  std::size_t size() const { return n_; }
  const tls_material* operator[](std::size_t i) const { return items_[i]; }
  const tls_material* const* begin() const { return items_.data(); }
  const tls_material* const* end() const { return items_.data() + n_; }

 private:
  std::array<const tls_material*, config::tls_key_type_count> items_{};
  std::size_t n_ = 0;
};

class tls_server_context {
 public:
  tls_server_context();
  ~tls_server_context();
  tls_server_context(const tls_server_context&) = delete;
  tls_server_context& operator=(const tls_server_context&) = delete;

  boost::asio::ssl::context& context() { return ctx_; }
  const tls_material_ptr& self_signed() const { return self_signed_; }

  // Control thread: a fresh key becomes current, the current one previous. Returns the set to
  // post to every worker.
  ticket_keys rotate();
  const ticket_keys& keys() const { return keys_; }

  // Marks `ssl` as served by `w` (its callbacks find the worker through it).
  static void attach(SSL* ssl, tls_worker* w);

 private:
  boost::asio::ssl::context ctx_;
  tls_material_ptr self_signed_;
  ticket_keys keys_;
};

// One worker's side: which certificate a server name gets, and the ticket keys. Worker thread
// only.
class tls_worker {
 public:
  explicit tls_worker(const tls_server_context& shared);

  // The worker's current Snapshot changed: certificates no longer listed leave the cache.
  void on_snapshot(const config::snapshot_ptr& snap);
  void set_keys(const ticket_keys& keys) { keys_ = keys; }

  // The certificates for a ClientHello server name ("" when none was sent). Never empty.
  tls_choice choose(std::string_view server_name);

  // OpenSSL callbacks (static trampolines find the tls_worker through the connection).
  // The ClientHello (before session resumption): client certificates for the server name
  // (proxy/client_cert.hpp).
  void on_client_hello(SSL* ssl);
  int on_servername(SSL* ssl);
  int on_ticket(SSL* ssl, unsigned char* name, unsigned char* iv, EVP_CIPHER_CTX* cipher_ctx,
                EVP_MAC_CTX* mac_ctx, int enc);

  std::size_t cached_certificates() const { return cache_.size(); }
  // Whether ALPN may choose "h2" (--http2 and the ConfigMap's use-http2).
  void allow_h2(bool on) { h2_ = on; }
  bool h2_allowed() const { return h2_; }

 private:
  const tls_material* material_for(const config::tls_certificate& cert);

  const tls_server_context& shared_;
  bool h2_ = false;
  config::snapshot_ptr snap_;
  ticket_keys keys_;
  // version -> parsed certificate (null: did not parse; the default answers).
  std::unordered_map<std::uint64_t, tls_material_ptr> cache_;
};

}  // namespace portico::proxy
