// The upstream response head reader (proxy/response_head.hpp): the line rules it applies before
// Beast's parser sees a head, and a differential check against the reader it replaced (a search
// for CRLFCRLF, then a scan of every byte of the head for obs-fold, bare CR, bare LF and NUL,
// then the parser) over the response heads of the fuzz corpus, their regressions, and every
// one-byte insertion, replacement and deletion of them.
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

namespace portico::proxy {
namespace {

namespace fs = std::filesystem;

// The reader as it was before the line scan moved into it (the reference of the comparison).
response_head_state reference_take(response_parser& p, std::string_view buffered,
                                   std::size_t limit, std::size_t& length) {
  const std::size_t end = buffered.find("\r\n\r\n");
  if (end == std::string_view::npos)
    return buffered.size() >= limit ? response_head_state::too_large : response_head_state::incomplete;
  const std::size_t n = end + 4;
  if (n > limit) return response_head_state::too_large;
  const std::string_view head = buffered.substr(0, n);
  if (scan_head(head, n + 1).state != head_scan::complete) return response_head_state::malformed;
  boost::beast::error_code ec;
  const std::size_t used = p.put(boost::asio::buffer(head.data(), head.size()), ec);
  if (ec || !p.is_header_done() || used != n) return response_head_state::malformed;
  bool te = false, cl = false;
  for (const auto& f : p.head().fields) {
    te = te || f.name == http_field::transfer_encoding;
    cl = cl || f.name == http_field::content_length;
  }
  if (te && cl) return response_head_state::malformed;
  length = n;
  return response_head_state::complete;
}

// What a parse produced, for comparing two of them.
struct outcome {
  response_head_state state = response_head_state::incomplete;
  std::size_t length = 0;
  std::string parsed;  // status, version, reason, fields, framing (complete heads)
};

std::string describe(response_parser& p) {
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

// The new reader over `raw` arriving in pieces of `piece` bytes (0: all at once).
outcome run_new(std::string_view raw, std::size_t piece, bool head_request, std::size_t limit) {
  message_head h;
  response_parser p(h);
  p.header_limit(64 * 1024);
  p.body_limit(boost::none);
  if (head_request) p.skip(true);
  response_head_reader reader{limit};
  outcome o;
  std::string buf;  // a copy per step: the views must survive only the last one
  std::size_t fed = 0;
  do {
    fed = piece == 0 ? raw.size() : std::min(raw.size(), fed + piece);
    buf.assign(raw.substr(0, fed));
    o.state = reader.take(p, buf);
  } while (o.state == response_head_state::incomplete && fed < raw.size());
  if (o.state == response_head_state::complete) {
    o.length = reader.length;
    o.parsed = describe(p);
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
  if (o.state == response_head_state::complete) o.parsed = describe(p);
  return o;
}

std::string shown(std::string_view s) { return testing::PrintToString(std::string(s)); }

// The new reader agrees with the reference: the same complete heads with the same parse; a head
// the reference refuses is refused; one it is still waiting for may already be refused (a bare
// LF or a fold is seen before the head ends). Whole or in pieces, the new reader answers alike.
// Returns the number of heads both read as complete.
int compare(std::string_view raw, bool head_request, std::size_t limit = 64 * 1024) {
  const outcome ref = run_reference(raw, head_request, limit);
  const outcome once = run_new(raw, 0, head_request, limit);
  for (std::size_t piece : {std::size_t{1}, std::size_t{7}}) {
    const outcome split = run_new(raw, piece, head_request, limit);
    EXPECT_EQ(split.state, once.state) << shown(raw) << " in pieces of " << piece;
    EXPECT_EQ(split.length, once.length) << shown(raw);
    EXPECT_EQ(split.parsed, once.parsed) << shown(raw);
  }
  switch (ref.state) {
    case response_head_state::complete:
      EXPECT_EQ(once.state, response_head_state::complete) << shown(raw);
      EXPECT_EQ(once.length, ref.length) << shown(raw);
      EXPECT_EQ(once.parsed, ref.parsed) << shown(raw);
      return once.state == response_head_state::complete ? 1 : 0;
    case response_head_state::malformed:
    case response_head_state::too_large:
      EXPECT_TRUE(once.state == response_head_state::malformed ||
                  once.state == response_head_state::too_large)
          << shown(raw) << ": " << static_cast<int>(once.state);
      return 0;
    case response_head_state::incomplete:
      EXPECT_TRUE(once.state == response_head_state::incomplete ||
                  once.state == response_head_state::malformed)
          << shown(raw) << ": " << static_cast<int>(once.state);
      return 0;
  }
  return 0;
}

std::vector<std::string> corpus() {
  std::vector<std::string> out;
  for (const char* dir : {"/tests/fuzz/corpus/http_response_head", "/tests/fuzz/regressions/http_response_head"}) {
    const fs::path d = fs::path(PORTICO_SOURCE_DIR + std::string(dir));
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(d))
      if (e.is_regular_file() && e.path().filename() != "README.md") files.push_back(e.path());
    std::sort(files.begin(), files.end());
    for (const auto& f : files) {
      std::ifstream in(f, std::ios::binary);
      out.emplace_back(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }
  }
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
  return out;
}

TEST(response_head_reader, agrees_with_the_full_scan_on_the_corpus) {
  int complete = 0;
  const auto heads = corpus();
  for (const auto& raw : heads) {
    complete += compare(raw, false);
    complete += compare(raw, true);
  }
  EXPECT_GT(complete, 20);  // most of the corpus is valid heads
}

// Every one-byte edit of every head: the characters the line rules are about, and some that
// are fine, inserted, put in place of each byte, and each byte deleted.
TEST(response_head_reader, agrees_with_the_full_scan_on_every_one_byte_edit) {
  static constexpr char edits[] = {'\r', '\n', '\0', ' ', '\t', '\x7f', ':', '\x80', 'a', ','};
  int cases = 0, complete = 0;
  for (const auto& raw : corpus()) {
    const std::size_t n = std::min<std::size_t>(raw.size(), 400);
    for (std::size_t i = 0; i <= n; ++i) {
      for (char c : edits) {
        std::string ins = raw;
        ins.insert(ins.begin() + static_cast<std::ptrdiff_t>(i), c);
        complete += compare(ins, i % 2 == 0);
        ++cases;
        if (i < raw.size()) {
          std::string rep = raw;
          rep[i] = c;
          complete += compare(rep, i % 2 == 1);
          ++cases;
        }
      }
      if (i < raw.size()) {
        std::string del = raw;
        del.erase(i, 1);
        complete += compare(del, false);
        ++cases;
      }
      if (testing::Test::HasFailure()) return;  // one broken head is enough to read
    }
  }
  EXPECT_GT(cases, 10000);
  EXPECT_GT(complete, cases / 10);  // many edits leave a valid head: the comparison has teeth
}

TEST(response_head_reader, a_small_limit_is_enforced_alike) {
  for (const auto& raw : corpus())
    for (std::size_t limit : {std::size_t{16}, std::size_t{40}, std::size_t{80}}) compare(raw, false, limit);
}

TEST(response_head_reader, a_fold_or_bare_lf_refuses_the_head_before_it_ends) {
  message_head h;
  response_parser p(h);
  response_head_reader r{64 * 1024};
  EXPECT_EQ(r.take(p, "HTTP/1.1 200 OK\r\nA: 1\r\n"), response_head_state::incomplete);
  EXPECT_EQ(r.take(p, "HTTP/1.1 200 OK\r\nA: 1\r\n folded"), response_head_state::malformed);
  response_head_reader r2{64 * 1024};
  EXPECT_EQ(r2.take(p, "HTTP/1.1 200 OK\nA: 1"), response_head_state::malformed);
}

TEST(response_head_reader, bare_cr_and_nul_inside_a_line_are_refused_by_the_parser) {
  for (std::string raw : {std::string("HTTP/1.1 200 OK\r\nA: x\ry\r\n\r\n"),
                          std::string("HTTP/1.1 200 OK\r\nA: x\0y\r\n\r\n", 28),
                          std::string("HTTP/1.1 200 O\rK\r\n\r\n"),
                          std::string("HTTP/1.1 200 O\0K\r\n\r\n", 20),
                          std::string("HTTP/1.1 200 OK\r\nA\r: 1\r\n\r\n")}) {
    message_head h;
    response_parser p(h);
    response_head_reader r{64 * 1024};
    EXPECT_EQ(r.take(p, raw), response_head_state::malformed) << shown(raw);
  }
}

// A head dripped a byte at a time: each step examines only the line it is in.
TEST(response_head_reader, resumes_where_it_stopped) {
  const std::string raw = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nA: b\r\n\r\nhi";
  message_head h;
  response_parser p(h);
  response_head_reader r{64 * 1024};
  std::size_t i = 1;
  for (; i <= raw.size(); ++i) {
    const auto st = r.take(p, std::string_view(raw).substr(0, i));
    if (st != response_head_state::incomplete) {
      EXPECT_EQ(st, response_head_state::complete);
      break;
    }
    EXPECT_LE(r.searched, i);
  }
  EXPECT_EQ(i, raw.size() - 2);
  EXPECT_EQ(r.length, raw.size() - 2);
  EXPECT_EQ(p.status, 200u);
  ASSERT_EQ(h.fields.size(), 2u);
  EXPECT_EQ(h.fields[1].value, "b");
}

// A session parses every response of a connection into the same message_head: what one
// response's Transfer-Encoding said must not refuse the next (a 1xx before the final answer,
// a retried request, the next keep-alive request).
TEST(response_head_reader, a_transfer_coding_seen_before_does_not_stay) {
  message_head h;
  {
    response_parser p(h);
    response_head_reader r{64 * 1024};
    ASSERT_EQ(r.take(p, "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n"), response_head_state::complete);
    EXPECT_TRUE(h.other_transfer_coding);
  }
  response_parser p(h);
  response_head_reader r{64 * 1024};
  ASSERT_EQ(r.take(p, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"), response_head_state::complete);
  EXPECT_FALSE(h.other_transfer_coding);
}

}  // namespace
}  // namespace portico::proxy
