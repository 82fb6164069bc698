// The bytes of an ingress-nginx mirror copy (proxy/mirror.hpp write_mirror_copy): request
// line from mirror-target, the client's fields without hop-by-hop and framing ones, Host,
// the body with its framing or none with mirror-request-body "off", and the size bound.
#include <gtest/gtest.h>

#include <deque>
#include <string>

#include "config/annotations_mirror.hpp"
#include "proxy/mirror.hpp"
#include "tests/proxy/head_fixtures.hpp"

namespace portico::proxy {
namespace {

using test::fields;
using test::head_of;

config::ingress_mirror target(const std::string& url) {
  std::string why;
  auto m = config::parse_mirror_target(url, "uid-1", why);
  EXPECT_TRUE(m) << url << ": " << why;
  return m ? *m : config::ingress_mirror{};
}

bool has_line(const std::string& out, const std::string& line) {
  return out.find("\r\n" + line + "\r\n") != std::string::npos;
}

const fields client = {{"Host", "app.test"},           {"Content-Type", "text/plain"},
                       {"Content-Length", "5"},         {"Connection", "keep-alive, X-Hop"},
                       {"X-Hop", "1"},                  {"Expect", "100-continue"},
                       {"X_Underscore", "1"},           {"Authorization", "Bearer t"}};

mirror_source source(const message_head& h, std::string_view target_uri, std::string_view body) {
  mirror_source s;
  s.head = &h;
  s.vars.target = target_uri;
  s.vars.path = target_uri.substr(0, target_uri.find('?'));
  s.vars.host = "app.test";
  s.vars.method = "POST";
  s.body = body;
  return s;
}

TEST(mirror_copy, request_uri_fields_host_and_body) {
  const message_head h = head_of(client);
  std::string out;
  ASSERT_TRUE(write_mirror_copy(out, target("https://test.env.com$request_uri"), source(h, "/a/b?x=1", "hello")));
  EXPECT_EQ(out.rfind("POST /a/b?x=1 HTTP/1.1\r\n", 0), 0u) << out;
  for (auto line : {"Host: test.env.com", "Content-Type: text/plain", "Authorization: Bearer t",
                    "Content-Length: 5", "Connection: close"})
    EXPECT_TRUE(has_line(out, line)) << line << "\n" << out;
  for (auto gone : {"app.test", "X-Hop", "Expect", "X_Underscore", "keep-alive"})
    EXPECT_EQ(out.find(gone), std::string::npos) << gone << "\n" << out;
  EXPECT_TRUE(out.ends_with("\r\n\r\nhello")) << out;
}

TEST(mirror_copy, uri_forms) {
  const message_head h = head_of({{"Host", "app.test"}});
  auto line = [&](const std::string& url, std::string_view uri) {
    std::string out;
    EXPECT_TRUE(write_mirror_copy(out, target(url), source(h, uri, "")));
    return out.substr(0, out.find("\r\n"));
  };
  // A path without variables: the query appended (nginx proxy_pass with a URI).
  EXPECT_EQ(line("http://10.0.0.1/mirror", "/p?q=1"), "POST /mirror?q=1 HTTP/1.1");
  EXPECT_EQ(line("http://10.0.0.1/mirror?m=2", "/p?q=1"), "POST /mirror?m=2&q=1 HTTP/1.1");
  EXPECT_EQ(line("http://10.0.0.1/mirror", "/p"), "POST /mirror HTTP/1.1");
  // No path: nginx's internal mirror location.
  EXPECT_EQ(line("http://10.0.0.1", "/p?q=1"), "POST /_mirror-uid-1?q=1 HTTP/1.1");
  // Variables: sent as expanded ("/$request_uri" gives nginx's double slash too).
  EXPECT_EQ(line("http://10.0.0.1/copy$request_uri", "/p?q=1"), "POST /copy/p?q=1 HTTP/1.1");
  EXPECT_EQ(line("http://10.0.0.1/$request_uri", "/p"), "POST //p HTTP/1.1");
  EXPECT_EQ(line("http://10.0.0.1$uri$is_args$args", "/p?q=1"), "POST /p?q=1 HTTP/1.1");
  // A variable's value a request line cannot carry is escaped.
  const message_head hx = head_of({{"Host", "app.test"}, {"X-Tag", "a b"}});
  std::string out;
  ASSERT_TRUE(write_mirror_copy(out, target("http://10.0.0.1/t/$http_x_tag"), source(hx, "/", "")));
  EXPECT_EQ(out.substr(0, out.find("\r\n")), "POST /t/a%20b HTTP/1.1");
}

TEST(mirror_copy, body_off_chunked_and_too_large) {
  const message_head h = head_of(client);
  auto m = target("http://10.0.0.1$request_uri");
  m.body = false;
  m.host_header = "shadow.example";
  std::string out;
  ASSERT_TRUE(write_mirror_copy(out, m, source(h, "/", "hello")));
  EXPECT_TRUE(has_line(out, "Host: shadow.example")) << out;
  EXPECT_EQ(out.find("Content-Length"), std::string::npos) << out;
  EXPECT_TRUE(out.ends_with("Connection: close\r\n\r\n")) << out;

  const message_head hc = head_of({{"Host", "app.test"}, {"Transfer-Encoding", "chunked"}});
  auto src = source(hc, "/", "5\r\nhello\r\n0\r\n\r\n");
  src.chunked = true;
  out.clear();
  ASSERT_TRUE(write_mirror_copy(out, target("http://10.0.0.1$request_uri"), src));
  EXPECT_TRUE(has_line(out, "Transfer-Encoding: chunked")) << out;
  EXPECT_EQ(out.find("Content-Length"), std::string::npos) << out;
  EXPECT_TRUE(out.ends_with("\r\n\r\n5\r\nhello\r\n0\r\n\r\n")) << out;

  // A GET without body gets no length.
  const message_head hg = head_of({{"Host", "app.test"}});
  out.clear();
  ASSERT_TRUE(write_mirror_copy(out, target("http://10.0.0.1$request_uri"), source(hg, "/", "")));
  EXPECT_EQ(out.find("Content-Length"), std::string::npos) << out;

  // Over the bound: no copy (the request is not mirrored).
  const std::string big(mirror_max_bytes, 'x');
  out.clear();
  EXPECT_FALSE(write_mirror_copy(out, target("http://10.0.0.1$request_uri"), source(h, "/", big)));
}

}  // namespace
}  // namespace portico::proxy
