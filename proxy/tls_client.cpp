#include "proxy/tls_client.hpp"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <boost/asio/ip/address.hpp>
#include <stdexcept>

#include "config/fnv.hpp"

namespace portico::proxy {

namespace ssl = boost::asio::ssl;

namespace {

std::string_view without_port(std::string_view host) {
  if (!host.empty() && host.front() == '[') {
    auto close = host.find(']');
    return close == std::string_view::npos ? host : host.substr(1, close - 1);
  }
  auto colon = host.rfind(':');
  return colon == std::string_view::npos ? host : host.substr(0, colon);
}

bool is_ip(std::string_view s) {
  boost::system::error_code ec;
  boost::asio::ip::make_address(std::string(s), ec);
  return !ec;
}

std::uint64_t context_key(const config::upstream_tls& t) {
  const bool plain = t.client_cert_pem.empty() && t.verify_depth == 0 && t.protocols == 0 &&
                     t.ciphers.empty();
  if (!t.verify && plain) return 1;
  config::fnv1a h;
  h.add(t.verify ? "verify" : "none").add(t.verify ? std::string_view(t.ca_pem) : std::string_view());
  if (!plain)
    h.add(t.client_cert_pem).add(t.client_key_pem).add(t.verify_depth).add(t.protocols).add(t.ciphers);
  return h.value() | 2;
}

// proxy-ssl-secret's tls.crt (leaf first, then its chain) and tls.key.
void load_client_certificate(SSL_CTX* c, const std::string& cert_pem, const std::string& key_pem) {
  BIO* b = BIO_new_mem_buf(cert_pem.data(), static_cast<int>(cert_pem.size()));
  X509* leaf = PEM_read_bio_X509(b, nullptr, nullptr, nullptr);
  bool ok = leaf != nullptr && SSL_CTX_use_certificate(c, leaf) == 1;
  X509_free(leaf);
  while (ok) {
    X509* x = PEM_read_bio_X509(b, nullptr, nullptr, nullptr);
    if (x == nullptr) break;
    if (SSL_CTX_add1_chain_cert(c, x) != 1) ok = false;
    X509_free(x);
  }
  BIO_free(b);
  if (ok) {
    BIO* kb = BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size()));
    EVP_PKEY* key = PEM_read_bio_PrivateKey(kb, nullptr, nullptr, nullptr);
    ok = key != nullptr && SSL_CTX_use_PrivateKey(c, key) == 1 && SSL_CTX_check_private_key(c) == 1;
    EVP_PKEY_free(key);
    BIO_free(kb);
  }
  ERR_clear_error();
  if (!ok) throw std::runtime_error("upstream TLS: the client certificate cannot be used");
}

void load_ca(SSL_CTX* c, const std::string& pem) {
  X509_STORE* store = SSL_CTX_get_cert_store(c);
  BIO* b = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  int added = 0;
  while (X509* x = PEM_read_bio_X509(b, nullptr, nullptr, nullptr)) {
    if (X509_STORE_add_cert(store, x) == 1) ++added;
    X509_free(x);
  }
  BIO_free(b);
  ERR_clear_error();
  if (added == 0) throw std::runtime_error("upstream TLS: the CA bundle holds no certificate");
}

}  // namespace

std::string upstream_server_name(const config::upstream_tls& t, std::string_view request_host) {
  std::string name = t.server_name.empty() ? std::string(without_port(request_host))
                                           : t.server_name;
  if (name.empty() || is_ip(name)) return {};
  for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return name;
}

std::uint64_t upstream_tls_key(const config::upstream_tls& t, std::string_view server_name) {
  const std::uint64_t k =
      config::fnv1a().add(context_key(t)).add(server_name).value();
  return k == 0 ? 1 : k;
}

ssl::context& tls_client_contexts::context_for(const config::upstream_tls& t) {
  const std::uint64_t key = context_key(t);
  auto it = by_key_.find(key);
  if (it != by_key_.end()) return *it->second;
  auto ctx = std::make_unique<ssl::context>(ssl::context::tls_client);
  SSL_CTX* c = ctx->native_handle();
  SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION);
  SSL_CTX_set_mode(c, SSL_MODE_RELEASE_BUFFERS);
  SSL_CTX_set_options(c, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
  static constexpr unsigned char alpn[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
  SSL_CTX_set_alpn_protos(c, alpn, sizeof alpn);
  if (t.protocols != 0) {
    using U = config::upstream_tls;
    SSL_CTX_set_min_proto_version(c, (t.protocols & U::tls12) ? TLS1_2_VERSION : TLS1_3_VERSION);
    SSL_CTX_set_max_proto_version(c, (t.protocols & U::tls13) ? TLS1_3_VERSION : TLS1_2_VERSION);
  }
  if (!t.ciphers.empty() && SSL_CTX_set_cipher_list(c, t.ciphers.c_str()) != 1) {
    ERR_clear_error();
    throw std::runtime_error("upstream TLS: no cipher of proxy-ssl-ciphers is known");
  }
  if (!t.client_cert_pem.empty()) load_client_certificate(c, t.client_cert_pem, t.client_key_pem);
  if (t.verify) {
    if (t.ca_pem.empty())
      SSL_CTX_set_default_verify_paths(c);
    else
      load_ca(c, t.ca_pem);
    SSL_CTX_set_verify(c, SSL_VERIFY_PEER, nullptr);
    if (t.verify_depth != 0) SSL_CTX_set_verify_depth(c, static_cast<int>(t.verify_depth));
  } else {
    SSL_CTX_set_verify(c, SSL_VERIFY_NONE, nullptr);
  }
  return *by_key_.emplace(key, std::move(ctx)).first->second;
}

bool tls_client_contexts::prepare(SSL* s, const config::upstream_tls& t,
                                  const std::string& server_name, std::string_view peer_ip) {
  if (!server_name.empty() && SSL_set_tlsext_host_name(s, server_name.c_str()) != 1) return false;
  if (!t.verify) return true;
  X509_VERIFY_PARAM* p = SSL_get0_param(s);
  X509_VERIFY_PARAM_set_hostflags(p, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  if (!server_name.empty()) return SSL_set1_host(s, server_name.c_str()) == 1;
  return X509_VERIFY_PARAM_set1_ip_asc(p, std::string(peer_ip).c_str()) == 1;
}

}  // namespace portico::proxy
