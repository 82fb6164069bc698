// RFC 2136 provider: option checks and error texts (the exchanges with a real server are in
// tests/system/dns_sync_bind_test.py).
#include <gtest/gtest.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/io_context.hpp>

#include "deploy/dns-sync/rfc2136.hpp"

using namespace portico::dnssync;

namespace {
rfc2136_options base() {
  rfc2136_options o;
  o.zone = "example.test";
  o.tsig_key_name = "k";
  o.tsig_secret = "c2VjcmV0";
  return o;
}
}  // namespace

TEST(dns_sync_rfc2136, server_forms_and_bad_options) {
  auto o = base();
  o.server = "[::1]:5353";
  EXPECT_EQ(rfc2136_provider(o).describe(), "rfc2136 server [::1]:5353 zone example.test key k (hmac-sha256)");
  o.server = "127.0.0.1";
  EXPECT_NO_THROW(rfc2136_provider{o});
  o.server = "ns.example.test:53";
  EXPECT_THROW(rfc2136_provider{o}, provider_error);
  o.server = "127.0.0.1:99999";
  EXPECT_THROW(rfc2136_provider{o}, provider_error);
  o = base();
  o.tsig_secret = "not base64!";
  EXPECT_THROW(rfc2136_provider{o}, provider_error);
  o = base();
  o.tsig_secret.clear();
  EXPECT_THROW(rfc2136_provider{o}, provider_error);
}

TEST(dns_sync_rfc2136, rcode_names_include_tsig_errors) {
  EXPECT_EQ(rcode_text(9), "NOTAUTH");
  EXPECT_EQ(rcode_text(5), "REFUSED");
  EXPECT_EQ(rcode_text(8), "NXRRSET");
  EXPECT_EQ(rcode_text(16), "BADSIG");
  EXPECT_EQ(rcode_text(17), "BADKEY");
}

TEST(dns_sync_rfc2136, unreachable_server_is_a_provider_error_naming_it) {
  // A loopback port with nothing listening: bind one, note it, close it.
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor a(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
  auto port = a.local_endpoint().port();
  a.close();
  auto o = base();
  o.server = "127.0.0.1:" + std::to_string(port);
  o.timeout = std::chrono::seconds(2);
  rfc2136_provider p(o);
  try {
    p.read();
    FAIL() << "read() succeeded";
  } catch (const provider_error& e) {
    EXPECT_NE(std::string(e.what()).find("zone transfer of example.test from 127.0.0.1:" + std::to_string(port)),
              std::string::npos) << e.what();
  }
}
