// access_log: one valid JSON line per request, correct escaping, buffered until flush.
#include "proxy/access_log.hpp"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <boost/json.hpp>

#include "tests/proxy/observe_fixtures.hpp"

namespace portico::proxy {
namespace {

// An anonymous in-memory file to log into.
class mem_file {
 public:
  mem_file() : fd_(::memfd_create("access_log_test", 0)) {}
  ~mem_file() { ::close(fd_); }
  int fd() const { return fd_; }
  std::string contents() const {
    std::string out;
    char buf[4096];
    off_t off = 0;
    for (ssize_t n; (n = ::pread(fd_, buf, sizeof buf, off)) > 0; off += n) out.append(buf, n);
    return out;
  }

 private:
  int fd_;
};

std::vector<boost::json::object> parse_lines(const std::string& text) {
  std::vector<boost::json::object> out;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t nl = text.find('\n', pos);
    EXPECT_NE(nl, std::string::npos) << "every line ends with a newline";
    if (nl == std::string::npos) break;
    boost::system::error_code ec;
    auto v = boost::json::parse(std::string_view(text).substr(pos, nl - pos), ec);
    EXPECT_FALSE(ec) << ec.message() << " in: " << text.substr(pos, nl - pos);
    if (!ec) out.push_back(v.as_object());
    pos = nl + 1;
  }
  return out;
}

TEST(access_log, line_is_valid_json_with_every_field) {
  mem_file f;
  auto web = test::make_route(0, "default", "web", "web-svc", "a.example", "/");
  {
    access_log log(f.fd());
    auto rec = test::upstream_record(web.get(), 201, 0.0123);
    rec.start = std::chrono::system_clock::time_point(std::chrono::milliseconds(1795637446123));
    log.append(rec);
  }  // the destructor flushes
  auto lines = parse_lines(f.contents());
  ASSERT_EQ(lines.size(), 1u);
  const auto& o = lines[0];
  EXPECT_EQ(o.at("time").as_string(), "2026-11-25T20:10:46.123Z");
  EXPECT_EQ(o.at("remote_addr").as_string(), "192.0.2.1");
  EXPECT_EQ(o.at("request_id").as_string(), "req-1");
  EXPECT_EQ(o.at("host").as_string(), "a.example");
  EXPECT_EQ(o.at("method").as_string(), "GET");
  EXPECT_EQ(o.at("path").as_string(), "/api/x");
  EXPECT_EQ(o.at("status").as_int64(), 201);
  EXPECT_EQ(o.at("bytes_in").as_int64(), 80);
  EXPECT_EQ(o.at("bytes_out").as_int64(), 400);
  EXPECT_DOUBLE_EQ(o.at("request_time").as_double(), 0.012);
  EXPECT_EQ(o.at("upstream_addr").as_string(), "10.0.0.1:8080");
  EXPECT_EQ(o.at("upstream_status").as_int64(), 201);
  EXPECT_DOUBLE_EQ(o.at("upstream_response_time").as_double(), 0.012);
  EXPECT_EQ(o.at("namespace").as_string(), "default");
  EXPECT_EQ(o.at("ingress").as_string(), "web");
  EXPECT_EQ(o.at("service").as_string(), "web-svc");
  EXPECT_TRUE(o.at("upstream_protocol").is_null());  // not set by the record
}

TEST(access_log, upstream_protocol_written_with_an_upstream) {
  mem_file f;
  auto web = test::make_route(0, "default", "web", "web-svc", "a.example", "/");
  access_log log(f.fd());
  auto rec = test::upstream_record(web.get(), 200, 0.001);
  rec.upstream_protocol = "h2c";
  log.append(rec);
  auto none = test::local_record(nullptr, 404);
  none.upstream_protocol = "HTTP/1.1";  // no upstream address: null, like the other upstream fields
  log.append(none);
  log.flush();
  auto lines = parse_lines(f.contents());
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0].at("upstream_protocol").as_string(), "h2c");
  EXPECT_TRUE(lines[1].at("upstream_protocol").is_null());
}

TEST(access_log, no_upstream_gives_nulls_and_empty_route_names) {
  mem_file f;
  access_log log(f.fd());
  log.append(test::local_record(nullptr, 404));
  log.flush();
  auto lines = parse_lines(f.contents());
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_TRUE(lines[0].at("upstream_addr").is_null());
  EXPECT_TRUE(lines[0].at("upstream_status").is_null());
  EXPECT_TRUE(lines[0].at("upstream_response_time").is_null());
  EXPECT_EQ(lines[0].at("namespace").as_string(), "");
  EXPECT_EQ(lines[0].at("ingress").as_string(), "");
  EXPECT_EQ(lines[0].at("service").as_string(), "");
  EXPECT_EQ(lines[0].at("status").as_int64(), 404);
}

TEST(access_log, every_string_is_escaped) {
  mem_file f;
  access_log log(f.fd());
  auto rec = test::local_record(nullptr, 400);
  const std::string host = "a\"b\\c\nd\re\tf\x01g\x1f" "h\x7f";
  const std::string target = "/caf\xc3\xa9/\xf0\x9f\x98\x80?q=</script>";  // valid UTF-8
  const std::string request_id = "bad\xff\xc3(utf8\xed\xa0\x80";  // invalid UTF-8 bytes
  const std::string method("G\0T", 3);
  rec.host = host;
  rec.target = target;
  rec.request_id = request_id;
  rec.method = std::string_view(method.data(), 3);
  rec.remote_addr = "\"}{\"x\":1";
  log.append(rec);
  log.flush();
  std::string text = f.contents();
  ASSERT_EQ(std::count(text.begin(), text.end(), '\n'), 1) << "no raw newline inside the line";
  auto lines = parse_lines(text);
  ASSERT_EQ(lines.size(), 1u);
  const auto& o = lines[0];
  EXPECT_EQ(o.at("host").as_string(), host);
  EXPECT_EQ(o.at("path").as_string(), target);
  EXPECT_EQ(o.at("method").as_string(), std::string_view("G\0T", 3));
  EXPECT_EQ(o.at("remote_addr").as_string(), "\"}{\"x\":1");
  // Bytes that are not UTF-8 are kept as the code points U+0080..U+00FF.
  EXPECT_EQ(o.at("request_id").as_string(),
            "bad\xc3\xbf\xc3\x83(utf8\xc3\xad\xc2\xa0\xc2\x80");
  EXPECT_EQ(o.size(), 17u);
}

TEST(access_log, append_json_string_escapes_controls_as_unicode) {
  std::string out;
  append_json_string(out, std::string_view("\x00\x08\x0c\x1b", 4));
  EXPECT_EQ(out, "\"\\u0000\\u0008\\u000c\\u001b\"");
}

TEST(access_log, lines_stay_buffered_until_flush) {
  mem_file f;
  access_log log(f.fd());
  log.append(test::local_record(nullptr, 404));
  log.append(test::local_record(nullptr, 404));
  EXPECT_TRUE(f.contents().empty());
  EXPECT_FALSE(log.buffered().empty());
  log.flush();
  EXPECT_TRUE(log.buffered().empty());
  EXPECT_EQ(parse_lines(f.contents()).size(), 2u);
}

TEST(access_log, a_full_buffer_is_written_without_flush) {
  mem_file f;
  access_log log(f.fd(), 1024);
  int appended = 0;
  while (f.contents().empty() && appended < 100) {
    log.append(test::upstream_record(nullptr));
    ++appended;
  }
  EXPECT_LT(appended, 100);
  EXPECT_EQ(parse_lines(f.contents()).size(), static_cast<std::size_t>(appended));
  EXPECT_TRUE(log.buffered().empty());
}

}  // namespace
}  // namespace portico::proxy

namespace portico::proxy {
namespace {

TEST(access_log, a_line_longer_than_the_buffer_is_written_whole) {
  mem_file f;
  access_log log(f.fd(), 1024);
  log.append(test::local_record(nullptr, 404));
  auto rec = test::local_record(nullptr, 414);
  std::string target = "/" + std::string(20000, '"');  // 6x longer once escaped
  rec.target = target;
  log.append(rec);
  log.append(test::local_record(nullptr, 404));
  log.flush();
  auto lines = parse_lines(f.contents());
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[1].at("path").as_string(), target);
  EXPECT_EQ(lines[2].at("status").as_int64(), 404);
}

TEST(access_log, plain_ascii_runs_longer_than_a_word_are_copied_exactly) {
  std::string out;
  std::string s = "abcdefgh12345678/path?with=query&x=y" + std::string(1, '\x7f') + "tail\"end";
  append_json_string(out, s);
  EXPECT_EQ(out, "\"abcdefgh12345678/path?with=query&x=y\\u007ftail\\\"end\"");
}

}  // namespace
}  // namespace portico::proxy
