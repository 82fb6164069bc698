#include "config/client_auth.hpp"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include "config/fnv.hpp"

namespace portico::config {

namespace {

struct bio_free {
  void operator()(BIO* b) const { BIO_free(b); }
};
using bio_ptr = std::unique_ptr<BIO, bio_free>;

bio_ptr mem_bio(std::string_view s) {
  return bio_ptr(BIO_new_mem_buf(s.data(), static_cast<int>(s.size())));
}

}  // namespace

std::shared_ptr<client_auth> make_client_auth(std::string_view ca_pem, std::string_view crl_pem,
                                              std::string& why) {
  auto out = std::make_shared<client_auth>();
  out->store = std::shared_ptr<X509_STORE>(X509_STORE_new(), X509_STORE_free);
  out->ca_names = std::shared_ptr<STACK_OF(X509_NAME)>(
      sk_X509_NAME_new_null(), [](STACK_OF(X509_NAME)* s) { sk_X509_NAME_pop_free(s, X509_NAME_free); });
  if (!out->store || !out->ca_names) {
    why = "out of memory";
    return nullptr;
  }
  unsigned certs = 0;
  {
    auto bio = mem_bio(ca_pem);
    while (X509* x = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
      ++certs;
      const bool added = X509_STORE_add_cert(out->store.get(), x) == 1;
      X509_NAME* name = X509_NAME_dup(X509_get_subject_name(x));
      if (name != nullptr) sk_X509_NAME_push(out->ca_names.get(), name);
      X509_free(x);
      if (!added) {
        ERR_clear_error();
        why = "ca.crt: certificate " + std::to_string(certs) + " cannot be used as a CA";
        return nullptr;
      }
    }
    ERR_clear_error();
  }
  if (certs == 0) {
    why = ca_pem.empty() ? "has no ca.crt" : "ca.crt holds no PEM certificate";
    return nullptr;
  }
  if (!crl_pem.empty()) {
    auto bio = mem_bio(crl_pem);
    unsigned crls = 0;
    while (X509_CRL* crl = PEM_read_bio_X509_CRL(bio.get(), nullptr, nullptr, nullptr)) {
      ++crls;
      X509_STORE_add_crl(out->store.get(), crl);
      X509_CRL_free(crl);
    }
    ERR_clear_error();
    if (crls == 0) {
      why = "ca.crl holds no PEM CRL";
      return nullptr;
    }
    // As nginx's ssl_crl: every certificate of the chain is checked.
    X509_STORE_set_flags(out->store.get(), X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL);
    out->has_crl = true;
  }
  fnv1a h;
  h.add(ca_pem).add(crl_pem);
  out->id = h.value();
  return out;
}

}  // namespace portico::config
