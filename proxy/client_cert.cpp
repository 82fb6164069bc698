#include "proxy/client_cert.hpp"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <re2/re2.h>

#include <cstring>
#include <memory>

namespace portico::proxy {

namespace {

// The handshake completes whatever the verification says (as nginx's verify callback); the
// result is read per request.
int accept_for_now(int /*ok*/, X509_STORE_CTX* /*ctx*/) { return 1; }

std::string name_text(const X509_NAME* n) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
  if (!bio || n == nullptr) return {};
  if (X509_NAME_print_ex(bio.get(), n, 0, XN_FLAG_RFC2253) < 0) return {};
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  return len > 0 ? std::string(data, static_cast<std::size_t>(len)) : std::string();
}

// nginx's ngx_escape_uri (NGX_ESCAPE_URI_COMPONENT) of the PEM text.
std::string escaped_pem(X509* cert) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
  if (!bio || PEM_write_bio_X509(bio.get(), cert) != 1) return {};
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (long i = 0; i < len; ++i) {
    const auto c = static_cast<unsigned char>(data[i]);
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

}  // namespace

std::string_view client_hello_server_name(SSL* ssl) {
  const unsigned char* p = nullptr;
  std::size_t len = 0;
  if (SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_server_name, &p, &len) != 1 || len < 5)
    return {};
  const std::size_t list = (std::size_t{p[0]} << 8) | p[1];
  if (list + 2 > len || p[2] != TLSEXT_NAMETYPE_host_name) return {};
  const std::size_t n = (std::size_t{p[3]} << 8) | p[4];
  if (n == 0 || 5 + n > len || 5 + n > list + 2) return {};
  return {reinterpret_cast<const char*>(p + 5), n};
}

void ask_for_client_certificate(SSL* ssl, const config::client_auth& a) {
  if (a.verify == config::client_verify::off) return;
  SSL_set_verify(ssl, SSL_VERIFY_PEER, accept_for_now);
  SSL_set_verify_depth(ssl, static_cast<int>(a.depth));
  SSL_set1_verify_cert_store(ssl, a.store.get());
  if (STACK_OF(X509_NAME)* names = SSL_dup_CA_list(a.ca_names.get())) SSL_set_client_CA_list(ssl, names);
  unsigned char ctx[sizeof a.id];
  std::memcpy(ctx, &a.id, sizeof a.id);
  SSL_set_session_id_context(ssl, ctx, sizeof ctx);
  ERR_clear_error();
}

client_cert_result check_client_certificate(SSL* ssl, const config::client_auth* required,
                                            const config::client_auth* negotiated,
                                            client_cert_info& info) {
  using config::client_verify;
  const auto id = [](const config::client_auth* a) { return a != nullptr ? a->id : 0; };
  if (id(required) != id(negotiated)) return client_cert_result::misdirected;
  if (required == nullptr || required->verify == client_verify::off) return client_cert_result::ok;
  X509* cert = SSL_get0_peer_certificate(ssl);
  const long result = SSL_get_verify_result(ssl);
  if (cert == nullptr) {
    info.verify = "NONE";
    info.subject.clear();
    info.issuer.clear();
    info.escaped_cert.clear();
    if (required->verify == client_verify::on) return client_cert_result::no_certificate;
  } else {
    info.subject = name_text(X509_get_subject_name(cert));
    info.issuer = name_text(X509_get_issuer_name(cert));
    if (result == X509_V_OK) {
      info.verify = "SUCCESS";
    } else {
      info.verify = "FAILED:";
      info.verify += X509_verify_cert_error_string(result);
      if (required->verify != client_verify::optional_no_ca) return client_cert_result::bad_certificate;
    }
    info.escaped_cert = required->pass_certificate ? escaped_pem(cert) : std::string();
  }
  if (required->match_cn_re && !re2::RE2::PartialMatch(info.subject, *required->match_cn_re))
    return client_cert_result::cn_mismatch;
  return client_cert_result::ok;
}

}  // namespace portico::proxy
