// Client certificate authentication (auth-tls-*, config/client_auth.hpp) on both sides of a
// TLS connection:
//
// - The handshake: the ClientHello callback looks up the server name's settings and asks for a
//   certificate (the CA names of ca.crt), verifying it against the host's CA store and CRL at
//   the host's depth. The handshake always completes, as nginx's does: what a request gets
//   for a missing or bad certificate is decided per request, with a proper HTTP answer. The
//   connection's TLS session id context becomes the settings' id, so a session made for
//   another host (or other settings) is never resumed here.
// - The request: the Host's settings must be the ones the connection was verified for (the
//   server name's), else 421 (RFC 9110 15.5.20), so SNI cannot be used to skip mutual TLS;
//   then verify "on" wants a verified certificate (400 "No required SSL certificate was sent"
//   or "The SSL certificate error", as nginx's 496 and 495), "optional" a verified one when
//   any was sent, "optional_no_ca" none; auth-tls-match-cn is searched in the subject DN
//   (403). The upstream gets ssl-client-verify, -subject-dn, -issuer-dn (and -cert).
#pragma once

#include <openssl/ssl.h>

#include <string>
#include <string_view>

#include "config/client_auth.hpp"

namespace portico::proxy {

// The server name of the ClientHello being processed (the ClientHello callback); "" none.
std::string_view client_hello_server_name(SSL* ssl);

// Asks the handshake of `ssl` for a client certificate as `a` says.
void ask_for_client_certificate(SSL* ssl, const config::client_auth& a);

enum class client_cert_result : std::uint8_t {
  ok,
  misdirected,      // 421: the Host's settings are not the connection's
  no_certificate,   // 400 "No required SSL certificate was sent"
  bad_certificate,  // 400 "The SSL certificate error"
  cn_mismatch,      // 403
};

// What the upstream is told (nginx's $ssl_client_verify, $ssl_client_s_dn, $ssl_client_i_dn,
// $ssl_client_escaped_cert).
struct client_cert_info {
  std::string verify;   // SUCCESS, NONE, FAILED:<reason>
  std::string subject;  // RFC 2253
  std::string issuer;
  std::string escaped_cert;  // URL-encoded PEM (auth-tls-pass-certificate-to-upstream)
};

// `required`: the request host's settings; `negotiated`: the server name's (the handshake's).
// `ssl` is the connection (never null here: plain HTTP is decided by the caller).
client_cert_result check_client_certificate(SSL* ssl, const config::client_auth* required,
                                            const config::client_auth* negotiated,
                                            client_cert_info& info);

}  // namespace portico::proxy
