// auth-type digest: RFC 7616 MD5 answers checked against the users' HA1, nonces that are ours
// and fresh, the nonce count rising, and the module's reuse limits (stale=true).
#include <gtest/gtest.h>

#include <openssl/evp.h>

#include <string>

#include "config/htpasswd.hpp"
#include "proxy/digest_auth.hpp"

namespace portico::proxy {
namespace {

std::string md5(const std::string& s) {
  unsigned char d[EVP_MAX_MD_SIZE];
  unsigned n = 0;
  EVP_Digest(s.data(), s.size(), d, &n, EVP_md5(), nullptr);
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < n; ++i) {
    out += hex[d[i] >> 4];
    out += hex[d[i] & 15];
  }
  return out;
}

// What a client computes (RFC 7616 3.4.1, MD5, qop=auth).
std::string authorization(const std::string& user, const std::string& realm, const std::string& password,
                          const std::string& method, const std::string& uri, const std::string& nonce,
                          const std::string& nc, const std::string& cnonce = "0a4f113b") {
  const std::string ha1 = md5(user + ":" + realm + ":" + password);
  const std::string response =
      md5(ha1 + ":" + nonce + ":" + nc + ":" + cnonce + ":auth:" + md5(method + ":" + uri));
  return "Digest username=\"" + user + "\", realm=\"" + realm + "\", nonce=\"" + nonce +
         "\", uri=\"" + uri + "\", algorithm=MD5, qop=auth, nc=" + nc + ", cnonce=\"" + cnonce +
         "\", response=\"" + response + "\"";
}

config::htpasswd users() {
  std::vector<std::string> problems;
  return config::parse_htdigest("alice:Portico:" + md5("alice:Portico:secret") + "\n", "Portico", problems);
}

TEST(digest_auth, a_right_answer_passes_and_wrong_ones_are_refused) {
  digest_verifier v;
  const auto u = users();
  const std::int64_t t = 1'700'000'000;
  const std::string nonce = make_digest_nonce(t);
  EXPECT_EQ(nonce.size(), nonce_size);
  EXPECT_NE(make_digest_nonce(t), nonce);  // a nonce of its own per challenge, same second
  EXPECT_EQ(v.verify(u, "Portico", "GET", "/a?b=1",
                     authorization("alice", "Portico", "secret", "GET", "/a?b=1", nonce, "00000001"), t + 1),
            digest_result::ok);
  EXPECT_EQ(v.verify(u, "Portico", "GET", "/a", "", t), digest_result::missing);
  EXPECT_EQ(v.verify(u, "Portico", "GET", "/a", "Basic YWxpY2U6c2VjcmV0", t), digest_result::missing);
  auto refused = [&](const std::string& auth, const std::string& method = "GET", const std::string& uri = "/a") {
    return v.verify(u, "Portico", method, uri, auth, t + 1) == digest_result::refused;
  };
  EXPECT_TRUE(refused(authorization("alice", "Portico", "wrong", "GET", "/a", nonce, "00000001")));
  EXPECT_TRUE(refused(authorization("mallory", "Portico", "secret", "GET", "/a", nonce, "00000001")));
  EXPECT_TRUE(refused(authorization("alice", "Other", "secret", "GET", "/a", nonce, "00000001")));
  // An answer for another URI or method than the request's.
  EXPECT_TRUE(refused(authorization("alice", "Portico", "secret", "GET", "/other", nonce, "00000001")));
  EXPECT_TRUE(refused(authorization("alice", "Portico", "secret", "GET", "/a", nonce, "00000001"), "POST"));
  // A nonce Portico did not make (its MAC does not match), even with a right answer to it.
  std::string forged = nonce;
  forged[47] = forged[47] == '0' ? '1' : '0';
  EXPECT_TRUE(refused(authorization("alice", "Portico", "secret", "GET", "/a", forged, "00000001")));
  std::string other_time = make_digest_nonce(t - 100);
  other_time.replace(0, 16, nonce.substr(0, 16));  // a newer time under an old nonce's MAC
  EXPECT_TRUE(refused(authorization("alice", "Portico", "secret", "GET", "/a", other_time, "00000001")));
}

TEST(digest_auth, nonces_go_stale_as_the_module_says) {
  const auto u = users();
  const std::int64_t t = 1'700'000'000;
  {
    digest_verifier v;  // an unused nonce older than the challenge timeout
    const std::string n = make_digest_nonce(t);
    EXPECT_EQ(v.verify(u, "Portico", "GET", "/", authorization("alice", "Portico", "secret", "GET", "/", n, "00000001"),
                       t + digest_verifier::challenge_timeout + 1),
              digest_result::stale);
  }
  digest_verifier v;
  const std::string n = make_digest_nonce(t);
  auto at = [&](const std::string& nc, std::int64_t now) {
    return v.verify(u, "Portico", "GET", "/", authorization("alice", "Portico", "secret", "GET", "/", n, nc), now);
  };
  EXPECT_EQ(at("00000001", t), digest_result::ok);
  EXPECT_EQ(at("00000002", t + 1), digest_result::ok);
  EXPECT_EQ(at("00000002", t + 1), digest_result::stale);  // a replayed nonce count
  EXPECT_EQ(at("00000001", t + 1), digest_result::stale);
  EXPECT_EQ(at("00000003", t + digest_verifier::reuse_period + 1), digest_result::stale);  // reuse over
  digest_verifier w;
  for (unsigned i = 1; i <= digest_verifier::max_uses; ++i) {
    char nc[9];
    std::snprintf(nc, sizeof nc, "%08x", i);
    EXPECT_EQ(w.verify(u, "Portico", "GET", "/", authorization("alice", "Portico", "secret", "GET", "/", n, nc), t),
              digest_result::ok) << i;
  }
  EXPECT_EQ(w.verify(u, "Portico", "GET", "/",
                     authorization("alice", "Portico", "secret", "GET", "/", n, "00000099"), t),
            digest_result::stale);
}

TEST(digest_auth, challenges_and_authorization_fields) {
  EXPECT_EQ(digest_challenge("R", "abc", false), "Digest algorithm=\"MD5\", qop=\"auth\", realm=\"R\", nonce=\"abc\"");
  EXPECT_EQ(digest_challenge("R", "abc", true),
            "Digest algorithm=\"MD5\", qop=\"auth\", realm=\"R\", nonce=\"abc\", stale=\"true\"");
  digest_fields f;
  ASSERT_TRUE(parse_digest_authorization(
      "digest username=\"a\\\"b\", realm=\"R\", nonce=n1,uri=\"/x?a=1,2\" , qop=auth, nc=00000001, cnonce=\"c\", response=\"r\"", f));
  EXPECT_EQ(f.username, "a\"b");
  EXPECT_EQ(f.nonce, "n1");
  EXPECT_EQ(f.uri, "/x?a=1,2");
  EXPECT_EQ(f.qop, "auth");
  EXPECT_FALSE(parse_digest_authorization("Digest username=\"unterminated", f));
  EXPECT_FALSE(parse_digest_authorization("Basic abc", f));
}

TEST(htdigest, users_of_the_realm) {
  std::vector<std::string> problems;
  const std::string ha1 = "939e7578ed9e3c518a452acee763bce9";
  auto u = config::parse_htdigest("alice:R:" + ha1 + "\r\nbob:Other:" + ha1 + "\ncarol:R:xyz\nbad\nalice:R:" +
                                      std::string(32, 'a') + "\n# comment\n",
                                  "R", problems);
  ASSERT_EQ(u.users.size(), 1u);
  EXPECT_EQ(u.users[0].first, "alice");
  EXPECT_EQ(u.users[0].second, ha1);  // the first line of a user
  EXPECT_EQ(problems.size(), 3u);
}

}  // namespace
}  // namespace portico::proxy
