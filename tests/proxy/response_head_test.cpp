// The upstream response reader (proxy/response_head.hpp): its own parse of plain heads and
// bodies, and the line rules it applies before Beast's parser sees any other head, checked
// against a reference (tests/fuzz/response_reference.hpp: a search for CRLFCRLF, a scan of every
// byte of the head for obs-fold, bare CR, bare LF and NUL, then Beast's parser for the head and
// the body) over the response heads of the fuzz corpus, their regressions, and every one-byte
// insertion, replacement and deletion of them; each with the bytes after the head read as its
// body, in pieces and into a sink that fills up.
#include "proxy/response_head.hpp"

#include <gtest/gtest.h>

#include <boost/asio/buffer.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <vector>

#include "proxy/request_check.hpp"
#include "tests/fuzz/response_reference.hpp"
#include "tests/proxy/one_byte_edits.hpp"

namespace portico::proxy {
namespace {

using fuzz::reference_take;

// What a parse produced, for comparing two of them.
struct outcome {
  response_head_state state = response_head_state::incomplete;
  std::size_t length = 0;
  std::string parsed;  // status, version, reason, fields, framing (complete heads)
  std::string body;    // the body read from the bytes after the head, and how it ended
  bool plain = false;  // response_reader: parsed without Beast
};

// The head as parsed (P: Beast's parser or response_reader).
template <class P>
std::string describe(P& p) {
  std::string s = std::to_string(p.status) + " " + std::to_string(p.version) + " [" +
                  std::string(p.reason) + "]";
  for (const auto& f : p.head().fields)
    s += "\n" + std::to_string(static_cast<int>(f.name)) + " " + std::string(f.name_text) + ": [" +
         std::string(f.value) + "]";
  const auto cl = p.content_length();
  s += "\ncl=" + (cl ? std::to_string(*cl) : std::string("none")) +
       " chunked=" + std::to_string(p.chunked()) + " eof=" + std::to_string(p.need_eof()) +
       " keep_alive=" + std::to_string(p.keep_alive()) + " done=" + std::to_string(p.is_done()) +
       " other_te=" + std::to_string(p.head().other_transfer_coding);
  return s;
}

// The bytes after the head as the session reads them (relay_body): in pieces of `piece`, into
// a sink of 5 bytes emptied whenever it is full, then the upstream's EOF if the body is not done.
template <class P>
std::string read_body(P& p, std::string_view rest, std::size_t piece) {
  std::string out, got;
  body_sink sink{&out, 5, false, 0, 0};
  p.set_sink(&sink);
  std::string ends;
  std::size_t fed = 0, arrived = 0;  // consumed, and received so far
  while (!p.is_done()) {
    if (fed == arrived) {
      if (arrived == rest.size()) break;
      arrived = std::min(rest.size(), arrived + piece);
    }
    boost::beast::error_code ec;
    const std::size_t n = p.put(boost::asio::buffer(rest.data() + fed, arrived - fed), ec);
    fed += n;
    got += out;  // the sink emptied, as the session writes it to the client
    out.clear();
    if (ec == boost::beast::http::error::need_buffer) continue;
    if (ec && ec != boost::beast::http::error::need_more) {
      ends = "error " + ec.message();
      break;
    }
    if (n == 0 || ec) {  // waits for more bytes
      if (arrived == rest.size()) break;
      arrived = std::min(rest.size(), arrived + piece);
    }
  }
  if (ends.empty() && !p.is_done()) {
    boost::beast::error_code ec;
    p.put_eof(ec);
    ends = ec ? "eof: " + ec.message() : "eof";
  }
  return "[" + got + "] used " + std::to_string(fed) + " " + ends + " done=" +
         std::to_string(p.is_done()) + " keep_alive=" + std::to_string(p.keep_alive()) +
         " eof=" + std::to_string(p.need_eof());
}

// The reader over `raw` arriving in pieces of `piece` bytes (0: all at once).
outcome run_new(std::string_view raw, std::size_t piece, bool head_request, std::size_t limit) {
  message_head h;
  response_reader reader(h, head_request, limit);
  outcome o;
  std::string buf;  // a copy per step: the views must survive only the last one
  buf.reserve(raw.size() + 1);  // (and the body's bytes, below, do not move them)
  std::size_t fed = 0;
  do {
    fed = piece == 0 ? raw.size() : std::min(raw.size(), fed + piece);
    buf.assign(raw.substr(0, fed));
    o.state = reader.take(buf);
  } while (o.state == response_head_state::incomplete && fed < raw.size());
  if (o.state == response_head_state::complete) {
    o.length = reader.length();
    o.parsed = describe(reader);
    o.plain = reader.parsed_plain();
    buf.assign(raw);  // the body's bytes follow; the head's views stay in place
    o.body = read_body(reader, std::string_view(buf).substr(o.length), piece == 0 ? 64 : piece);
  }
  return o;
}

outcome run_reference(std::string_view raw, bool head_request, std::size_t limit) {
  message_head h;
  response_parser p(h);
  p.header_limit(64 * 1024);
  p.body_limit(boost::none);
  if (head_request) p.skip(true);
  outcome o;
  o.state = reference_take(p, raw, limit, o.length);
  if (o.state == response_head_state::complete) {
    o.parsed = describe(p);
    p.eager(true);
    o.body = read_body(p, raw.substr(o.length), 64);
  }
  return o;
}

std::string shown(std::string_view s) { return testing::PrintToString(std::string(s)); }

// Heads compared that the reader parsed itself, and that it handed to Beast.
struct tally {
  int plain = 0;
  int beast = 0;
};

// The reader agrees with the reference: the same complete heads with the same parse and the
// same body; a head the reference refuses is refused; one it is still waiting for may already
// be refused (a bare LF or a fold is seen before the head ends). Whole or in pieces, the reader
// answers alike. Counts the heads both read as complete.
void compare(std::string_view raw, bool head_request, tally& t, std::size_t limit = 64 * 1024) {
  const outcome ref = run_reference(raw, head_request, limit);
  const outcome once = run_new(raw, 0, head_request, limit);
  for (std::size_t piece : {std::size_t{1}, std::size_t{7}}) {
    const outcome split = run_new(raw, piece, head_request, limit);
    EXPECT_EQ(split.state, once.state) << shown(raw) << " in pieces of " << piece;
    EXPECT_EQ(split.length, once.length) << shown(raw);
    EXPECT_EQ(split.parsed, once.parsed) << shown(raw);
    EXPECT_EQ(split.body, once.body) << shown(raw) << " in pieces of " << piece;
  }
  switch (ref.state) {
    case response_head_state::complete:
      EXPECT_EQ(once.state, response_head_state::complete) << shown(raw);
      EXPECT_EQ(once.length, ref.length) << shown(raw);
      EXPECT_EQ(once.parsed, ref.parsed) << shown(raw) << (once.plain ? " (plain)" : " (Beast)");
      EXPECT_EQ(once.body, ref.body) << shown(raw) << (once.plain ? " (plain)" : " (Beast)");
      if (once.state == response_head_state::complete) ++(once.plain ? t.plain : t.beast);
      return;
    case response_head_state::malformed:
    case response_head_state::too_large:
      EXPECT_TRUE(once.state == response_head_state::malformed ||
                  once.state == response_head_state::too_large)
          << shown(raw) << ": " << static_cast<int>(once.state);
      return;
    case response_head_state::incomplete:
      EXPECT_TRUE(once.state == response_head_state::incomplete ||
                  once.state == response_head_state::malformed)
          << shown(raw) << ": " << static_cast<int>(once.state);
      return;
  }
}

std::vector<std::string> corpus() {
  std::vector<std::string> out;
  for (const char* dir : {"/tests/fuzz/corpus/http_response_head", "/tests/fuzz/regressions/http_response_head"})
    testing_edits::read_corpus(PORTICO_SOURCE_DIR + std::string(dir), out);
  // Heads written here for the rules the corpus shows less of.
  out.push_back("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\nok\n");
  out.push_back("HTTP/1.1 200 OK\r\nA: 1\r\n folded\r\nContent-Length: 0\r\n\r\n");
  out.push_back("HTTP/1.1 200 OK\r\nA: x\ry\r\nContent-Length: 0\r\n\r\n");
  out.push_back(std::string("HTTP/1.1 200 O\0K\r\nB: v\0w\r\n\r\n", 26));
  out.push_back("HTTP/1.1 200 OK\nA: 1\r\n\r\n");
  out.push_back("HTTP/1.1 200 OK\r\nA: 1\n\r\n");
  out.push_back("HTTP/1.1 200 OK\r\nA: 1\r\n\n\r\n\r\n");
  out.push_back("\r\nHTTP/1.1 200 OK\r\n\r\n");
  out.push_back("HTTP/1.1 200 OK\r\n\tA: 1\r\n\r\n");
  out.push_back("HTTP/1.1 200 OK\r\nA : 1\r\nB:\t2 \t\r\nC:\r\n\r\n");
  out.push_back("HTTP/1.1 200 OK\r\nA: \x7f\r\nB: \x80\xff\r\n\r\n");
  out.push_back("HTTP/1.1 304 Not Modified\r\nContent-Length: 5, 5\r\n\r\n");
  out.push_back("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nContent-Length: 4\r\n\r\n");
  out.push_back("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\nx");
  // The reader's own parse: framings, Connection lists, lengths, and what it leaves to Beast.
  out.push_back("HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\nhello, world and more");
  out.push_back("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nnext");
  out.push_back("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the connection closes");
  out.push_back("HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nabc");
  out.push_back("HTTP/1.1 204 No Content\r\nContent-Length: 7\r\n\r\n");
  out.push_back("HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n");
  out.push_back("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  out.push_back("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n");
  out.push_back("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok");
  out.push_back("HTTP/1.1 200 OK\r\nConnection: keep-alive ,\tclose\r\nContent-Length: 2\r\n\r\nok");
  out.push_back("HTTP/1.1 200 OK\r\nConnection: , close\r\nContent-Length: 2\r\n\r\nok");
  out.push_back("HTTP/1.1 200 OK\r\nConnection: close,\r\nContent-Length: 2\r\n\r\nok");
  out.push_back("HTTP/1.1 200 OK\r\nConnection: a b\r\nContent-Length: 2\r\n\r\nok");
  out.push_back("HTTP/1.1 200 OK\r\nProxy-Connection: close\r\nContent-Length: 2\r\n\r\nok");
  out.push_back("HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\n\r\nto the end");
  out.push_back("HTTP/1.1 200 OK\r\nContent-Length: 007\r\n\r\n1234567890");
  out.push_back("HTTP/1.1 200 OK\r\nContent-Length: 9999999999999999999\r\n\r\nx");
  out.push_back("HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551616\r\n\r\nx");
  out.push_back("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok");
  out.push_back("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok!");
  out.push_back("HTTP/1.1 200 OK\r\nContent-Length: +2\r\n\r\nok");
  out.push_back("HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\nok");
  out.push_back("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nA: b\r\n\r\n");
  out.push_back("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\nhello");
  out.push_back("HTTP/1.1 200 \r\nContent-Length: 1\r\n\r\nx");
  out.push_back("HTTP/1.1 200\r\nContent-Length: 1\r\n\r\nx");
  out.push_back("HTTP/1.1 2000 OK\r\n\r\n");
  out.push_back("HTTP/1.2 200 OK\r\n\r\n");
  out.push_back("HTTP/2.0 200 OK\r\n\r\n");
  out.push_back("http/1.1 200 OK\r\n\r\n");
  out.push_back("HTTP/1.1 200 OK\tfine\r\nX: a\tb \t\r\nY:\t \r\n\r\n");
  out.push_back("HTTP/1.1 200 \xc3\xa9t\xc3\xa9\r\nX: caf\xc3\xa9\r\nContent-Length: 0\r\n\r\n");
  out.push_back("HTTP/1.1 200 OK\r\n:empty\r\n\r\n");
  out.push_back("HTTP/1.1 200 OK\r\nA(b): c\r\n\r\n");
  out.push_back("HTTP/1.1 200 OK\r\nX-Request-ID: abc\r\nStrict-Transport-Security: max-age=1\r\nSet-Cookie: a=b\r\nContent-Length: 0\r\n\r\n");
  {
    std::string many = "HTTP/1.1 200 OK\r\n";  // a long head
    for (int i = 0; i < 40; ++i) many += "X-Field-" + std::to_string(i) + ": v\r\n";
    out.push_back(many + "Content-Length: 2\r\n\r\nok");
    std::string just = "HTTP/1.1 200 OK\r\n";
    for (int i = 0; i < 30; ++i) just += "X-Field-" + std::to_string(i) + ": v\r\n";
    out.push_back(just + "Content-Length: 2\r\n\r\nok");
  }
  return out;
}

TEST(response_reader, agrees_with_the_reference_on_the_corpus) {
  tally t;
  for (const auto& raw : corpus()) {
    compare(raw, false, t);
    compare(raw, true, t);
  }
  // Both parses are compared on many heads: the plain one on the common shapes, Beast's on
  // chunked bodies and the unusual rest.
  EXPECT_GT(t.plain, 40);
  EXPECT_GT(t.beast, 20);
}

// Every one-byte edit of every head: the characters the line rules are about, and some that
// are fine, inserted, put in place of each byte, and each byte deleted.
TEST(response_reader, agrees_with_the_reference_on_every_one_byte_edit) {
  static constexpr char edits[] = {'\r', '\n', '\0', ' ', '\t', '\x7f', ':', '\x80', 'a', ',', '0'};
  int cases = 0;
  tally t;
  for (const auto& raw : corpus()) {
    // As the answer to a HEAD request at every other position (insertions at even ones,
    // replacements at odd ones; deletions never).
    cases += testing_edits::for_each_one_byte_edit(
        raw, {edits, sizeof edits}, 400, [&](const std::string& e, std::size_t i, int kind) {
          compare(e, kind == 2 ? false : (i % 2 == 0) == (kind == 0), t);
        });
    if (testing::Test::HasFailure()) return;  // one broken head is enough to read
  }
  EXPECT_GT(cases, 10000);
  // Many edits leave a valid head, read both ways: the comparison has teeth.
  EXPECT_GT(t.plain, cases / 10);
  EXPECT_GT(t.beast, cases / 20);
}

TEST(response_reader, a_small_limit_is_enforced_alike) {
  tally t;
  for (const auto& raw : corpus())
    for (std::size_t limit : {std::size_t{16}, std::size_t{40}, std::size_t{80}}) compare(raw, false, t, limit);
}

// The heads an upstream usually sends are parsed without Beast; chunked ones and the unusual
// go to it.
TEST(response_reader, parses_plain_heads_itself) {
  const auto plain = [](std::string_view raw) {
    message_head h;
    response_reader r(h);
    EXPECT_EQ(r.take(raw), response_head_state::complete) << shown(raw);
    return r.parsed_plain();
  };
  EXPECT_TRUE(plain("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\n"));
  EXPECT_TRUE(plain("HTTP/1.0 404 Not Found\r\nConnection: close\r\n\r\n"));
  EXPECT_TRUE(plain("HTTP/1.1 200 OK\r\nX: caf\xc3\xa9\r\nConnection: keep-alive, close\r\n\r\n"));
  EXPECT_FALSE(plain("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"));
  EXPECT_FALSE(plain("HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\n\r\n"));
  EXPECT_FALSE(plain("HTTP/1.1 200 OK\r\nConnection: ,close\r\n\r\n"));
}

TEST(response_reader, a_fold_or_bare_lf_refuses_the_head_before_it_ends) {
  message_head h;
  response_reader r(h);
  EXPECT_EQ(r.take("HTTP/1.1 200 OK\r\nA: 1\r\n"), response_head_state::incomplete);
  EXPECT_EQ(r.take("HTTP/1.1 200 OK\r\nA: 1\r\n folded"), response_head_state::malformed);
  response_reader r2(h);
  EXPECT_EQ(r2.take("HTTP/1.1 200 OK\nA: 1"), response_head_state::malformed);
}

TEST(response_reader, bare_cr_and_nul_inside_a_line_are_refused) {
  for (std::string raw : {std::string("HTTP/1.1 200 OK\r\nA: x\ry\r\n\r\n"),
                          std::string("HTTP/1.1 200 OK\r\nA: x\0y\r\n\r\n", 28),
                          std::string("HTTP/1.1 200 O\rK\r\n\r\n"),
                          std::string("HTTP/1.1 200 O\0K\r\n\r\n", 20),
                          std::string("HTTP/1.1 200 OK\r\nA\r: 1\r\n\r\n")}) {
    message_head h;
    response_reader r(h);
    EXPECT_EQ(r.take(raw), response_head_state::malformed) << shown(raw);
  }
}

// A head dripped a byte at a time: each step examines only the line it is in.
TEST(response_reader, resumes_where_it_stopped) {
  const std::string raw = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nA: b\r\n\r\nhi";
  message_head h;
  response_reader r(h);
  std::size_t i = 1;
  for (; i <= raw.size(); ++i) {
    const auto st = r.take(std::string_view(raw).substr(0, i));
    if (st != response_head_state::incomplete) {
      EXPECT_EQ(st, response_head_state::complete);
      break;
    }
  }
  EXPECT_EQ(i, raw.size() - 2);
  EXPECT_EQ(r.length(), raw.size() - 2);
  EXPECT_EQ(r.status, 200u);
  ASSERT_EQ(h.fields.size(), 2u);
  EXPECT_EQ(h.fields[1].value, "b");
}

// A session parses every response of a connection into the same message_head: what one
// response's Transfer-Encoding said must not refuse the next (a 1xx before the final answer,
// a retried request, the next keep-alive request).
TEST(response_reader, a_transfer_coding_seen_before_does_not_stay) {
  message_head h;
  {
    response_reader r(h);
    ASSERT_EQ(r.take("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n"), response_head_state::complete);
    EXPECT_TRUE(h.other_transfer_coding);
  }
  response_reader r(h);
  ASSERT_EQ(r.take("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"), response_head_state::complete);
  EXPECT_FALSE(h.other_transfer_coding);
}

}  // namespace
}  // namespace portico::proxy
