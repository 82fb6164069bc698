// The client request reader (proxy/request_head.hpp): its own parse of plain heads against
// Beast's parser over the same head, on the request heads of the fuzz corpus, heads written
// here for the rules it declines, and every one-byte insertion, replacement and deletion of
// them: the same acceptance, the same parse (start line, fields, what note_request_field drew
// from them), the same framing.
#include "proxy/request_head.hpp"

#include "proxy/plain_head.hpp"
#include "proxy/request_check.hpp"
#include "tests/proxy/one_byte_edits.hpp"

#include <gtest/gtest.h>

#include <boost/asio/buffer.hpp>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace portico::proxy {
namespace {

constexpr std::uint32_t limit = 8 * 1024 + 64;  // as the session's, for its default 8 KiB

template <class P>
std::string describe(P& p, bool ok) {
  if (!ok) return "refused, error " + std::to_string(static_cast<int>(p.error));
  const message_head& h = p.head();
  std::string s = "[" + std::string(p.method_text) + "] [" + std::string(p.target) + "] " +
                  std::to_string(p.version);
  for (const auto& f : h.fields)
    s += "\n" + std::to_string(static_cast<int>(f.name)) + " " + std::string(f.name_text) + ": [" +
         std::string(f.value) + "]";
  const auto cl = p.content_length();
  s += "\ncl=" + (cl ? std::to_string(*cl) : std::string("none")) +
       " chunked=" + std::to_string(p.chunked()) + " done=" + std::to_string(p.is_done()) +
       " close=" + std::to_string(h.conn.close) + " keep_alive=" + std::to_string(h.conn.keep_alive) +
       " upgrade=" + std::to_string(h.conn.upgrade) + " [" + std::string(h.upgrade) + "]" +
       " host=" + std::to_string(h.host_count) + " [" + std::string(h.host) + "]" +
       " xff=[" + std::string(h.x_forwarded_for) + "] xfp=[" + std::string(h.x_forwarded_proto) +
       "] xfh=[" + std::string(h.x_forwarded_host) + "] xfport=[" + std::string(h.x_forwarded_port) +
       "] xri=[" + std::string(h.x_real_ip) + "] rid=[" + std::string(h.x_request_id) +
       "] expect=" + std::to_string(h.expect_continue) + " te=" + std::to_string(h.has_transfer_encoding) +
       " has_cl=" + std::to_string(h.has_content_length) + " error=" + std::to_string(static_cast<int>(p.error));
  return s;
}

struct outcome {
  std::string parsed;
  std::size_t used = 0;
  bool plain = false;
};

outcome run_reader(const std::string& head) {
  message_head h;
  request_reader r(h, limit);
  boost::beast::error_code ec;
  outcome o;
  o.used = r.take_head(head, ec);
  o.parsed = describe(r, !ec && r.is_header_done());
  o.plain = r.parsed_plain();
  return o;
}

outcome run_beast(const std::string& head) {
  message_head h;
  request_parser p(h);
  p.header_limit(limit);
  p.body_limit(boost::none);
  boost::beast::error_code ec;
  outcome o;
  o.used = p.put(boost::asio::buffer(head.data(), head.size()), ec);
  o.parsed = describe(p, !ec && p.is_header_done());
  return o;
}

struct tally {
  int plain = 0;
  int beast = 0;
};

// The head as the session hands it over: one that head_scanner found whole and unfolded (Beast's
// parser would point a folded value into its own stack, which the session never lets it see),
// up to and with its blank line.
void compare(std::string_view raw, tally& t) {
  const auto sc = scan_head(raw, limit);
  if (sc.state != head_scan::complete) return;
  const std::string head(raw.substr(0, sc.length));
  const outcome a = run_reader(head), b = run_beast(head);
  EXPECT_EQ(a.parsed, b.parsed) << testing::PrintToString(head) << (a.plain ? " (plain)" : " (Beast)");
  if (b.parsed.rfind("refused", 0) != 0) {
    EXPECT_EQ(a.used, b.used) << testing::PrintToString(head);
  }
  ++(a.plain ? t.plain : t.beast);
}

std::vector<std::string> corpus() {
  std::vector<std::string> out;
  testing_edits::read_corpus(PORTICO_SOURCE_DIR "/tests/fuzz/corpus/http_request_head", out);
  for (const char* s : {
           "GET / HTTP/1.1\r\nHost: a.example\r\nUser-Agent: curl/8.0\r\nAccept: */*\r\n\r\n",
           "GET /p?q=1 HTTP/1.0\r\nHost: a\r\nConnection: keep-alive\r\n\r\n",
           "HEAD /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
           "GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, keep-alive\r\nUpgrade: websocket\r\n\r\n",
           "GET / HTTP/1.1\r\nHost: a\r\nConnection: ,close\r\n\r\n",
           "GET / HTTP/1.1\r\nHost: a\r\nConnection: a b\r\n\r\n",
           "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
           "GET / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n\r\n",
           "GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 1.2.3.4\r\nX-Forwarded-Proto: https\r\n"
           "X-Forwarded-Host: b\r\nX-Forwarded-Port: 443\r\nX-Real-IP: 1.2.3.4\r\nX-Request-ID: r1\r\n\r\n",
           "POST /u HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n",
           "POST /u HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
           "POST /u HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n",
           "GET /caf\xc3\xa9 HTTP/1.1\r\nHost: a\r\nX: caf\xc3\xa9\r\n\r\n",
           "GET / HTTP/1.1\r\nHost: a\r\nX:\t v \t\r\nY:\r\n\r\n",
           "GET / HTTP/1.1\r\nHost : a\r\n\r\n",
           "GET / HTTP/1.1\r\n Host: a\r\n\r\n",
           "GET  / HTTP/1.1\r\nHost: a\r\n\r\n",
           "GET / HTTP/1.2\r\nHost: a\r\n\r\n",
           "GET / HTTP/1.1 \r\nHost: a\r\n\r\n",
           "GET / http/1.1\r\nHost: a\r\n\r\n",
           "G@T / HTTP/1.1\r\nHost: a\r\n\r\n",
           "\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
           "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
           "CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n",
           "GET http://a/x HTTP/1.1\r\nHost: a\r\n\r\n",
           "GET / HTTP/1.1\r\nHost: a\r\nProxy-Connection: keep-alive\r\nKeep-Alive: 5\r\nTE: trailers\r\n\r\n",
       })
    out.emplace_back(s);
  return out;
}

TEST(request_reader, agrees_with_beast_on_the_corpus) {
  tally t;
  for (const auto& raw : corpus()) compare(raw, t);
  EXPECT_GT(t.plain, 20);  // both parses are compared on many heads
  EXPECT_GT(t.beast, 15);
}

TEST(request_reader, agrees_with_beast_on_every_one_byte_edit) {
  static constexpr char edits[] = {'\r', '\n', '\0', ' ', '\t', '\x7f', ':', '\x80', 'a', ',', '0', '@'};
  int cases = 0;
  tally t;
  for (const auto& raw : corpus()) {
    cases += testing_edits::for_each_one_byte_edit(
        raw, {edits, sizeof edits}, 300, [&](const std::string& e, std::size_t, int) { compare(e, t); });
    if (testing::Test::HasFailure()) return;  // one broken head is enough to read
  }
  EXPECT_GT(cases, 10000);
  EXPECT_GT(t.plain, cases / 10);  // many edits leave a plain head: the comparison has teeth
  EXPECT_GT(t.beast, cases / 10);
}

TEST(request_reader, parses_plain_heads_itself) {
  const auto plain = [](const std::string& head) {
    message_head h;
    request_reader r(h, limit);
    boost::beast::error_code ec;
    r.take_head(head, ec);
    EXPECT_FALSE(ec) << head;
    EXPECT_TRUE(r.is_header_done()) << head;
    return r.parsed_plain();
  };
  EXPECT_TRUE(plain("GET / HTTP/1.1\r\nHost: a\r\nUser-Agent: x\r\n\r\n"));
  EXPECT_TRUE(plain("GET /a HTTP/1.0\r\n\r\n"));
  EXPECT_FALSE(plain("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n"));
  EXPECT_FALSE(plain("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"));
}

// The quick field lookup answers as Beast's for every name Beast knows, whatever the case, and
// for names it does not know (of the lengths the quick lookup compares).
TEST(plain_head, field_of_agrees_with_beast) {
  namespace http = boost::beast::http;
  int known = 0;
  // Beast's fields run from 1 to xref, the last of its list.
  for (unsigned i = 1; i <= static_cast<unsigned>(http::field::xref); ++i) {
    const std::string name(http::to_string(static_cast<http::field>(i)));
    ++known;
    std::string lower = name, upper = name;
    for (char& c : lower) c = ascii::lower(c);
    for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    for (const std::string& n : {name, lower, upper}) {
      EXPECT_EQ(plain_head::field_of(n), http::string_to_field(n)) << n;
      std::string other = n;  // one letter changed: mostly unknown
      other[0] = other[0] == 'q' ? 'z' : 'q';
      EXPECT_EQ(plain_head::field_of(other), http::string_to_field(other)) << other;
    }
  }
  EXPECT_GT(known, 300);
  for (const char* n : {"X-Cache", "Hostx", "Hos", "Content-Lengths", "Content-Lengt"})
    EXPECT_EQ(plain_head::field_of(n), http::string_to_field(n)) << n;
}

}  // namespace
}  // namespace portico::proxy
