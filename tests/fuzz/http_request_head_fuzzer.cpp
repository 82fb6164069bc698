// The HTTP/1.1 request head, as a session handles it: scan_head() finds the end of the header
// section, request_parser parses it (here also in random-sized pieces), then the checks of
// prepare_request()/route_request() (parse_target, normalize_path) and the head written
// upstream by write_upstream_request().
//
// Input: the raw request bytes (the piece sizes are derived from their hash).
// Invariants beyond "no crash, no sanitizer report":
// - scan_head on a prefix agrees with scan_head on the whole (a complete head is incomplete in
//   every shorter prefix; malformed stays malformed);
// - the parser gives the same result whether the head arrives at once or in pieces, and
//   request_reader (the session's reader: its own parse of plain heads, else the parser) the
//   same as the parser: acceptance, start line, fields, framing;
// - normalize_path output has no "//", "/./", "/../", no "." or ".." segment, starts with '/',
//   and normalizing it again changes nothing (outputs holding a decoded '%' excepted: they are
//   decoded once, by design);
// - the head written upstream is accepted by the same parser with the same method, target and
//   one field per written line (no field smuggled in or merged away), carries the framing it
//   announces, and writing it again from its own parse gives the same bytes.
#include <boost/asio/buffer.hpp>

#include <string>

#include "proxy/header_rewrite.hpp"
#include "proxy/http_parser.hpp"
#include "proxy/request_check.hpp"
#include "proxy/request_head.hpp"
#include "proxy/request_target.hpp"
#include "tests/fuzz/fuzz_support.hpp"
#include "tests/fuzz/http_feed.hpp"

namespace portico::fuzz {
namespace {

using namespace portico::proxy;

constexpr std::size_t header_limit = 32 * 1024;  // server_options::max_header_bytes default

void check_scan_prefixes(std::string_view raw, const head_scan_result& whole, piece_plan& cuts) {
  for (int i = 0; i < 4 && !raw.empty(); ++i) {
    const std::size_t k = cuts.next() % (raw.size() + 1);
    const auto part = scan_head(raw.substr(0, k), header_limit);
    if (whole.state == head_scan::complete) {
      if (k < whole.length)
        PORTICO_FUZZ_CHECK(part.state == head_scan::incomplete,
                           "prefix " + std::to_string(k) + " of a complete head of " +
                               std::to_string(whole.length) + " bytes");
      else
        PORTICO_FUZZ_CHECK(part.state == head_scan::complete && part.length == whole.length,
                           "prefix " + std::to_string(k) + " holding the complete head");
    }
    if (part.state == head_scan::malformed)
      PORTICO_FUZZ_CHECK(whole.state == head_scan::malformed,
                         "prefix " + std::to_string(k) + " malformed, the whole is not");
  }
}

void check_normalized(std::string_view path, const std::string& out) {
  const std::string what = shown(path) + " -> " + shown(out);
  PORTICO_FUZZ_CHECK(!out.empty() && out.front() == '/', what);
  PORTICO_FUZZ_CHECK(out.find("//") == std::string::npos, what);
  PORTICO_FUZZ_CHECK(out.find("/./") == std::string::npos, what);
  PORTICO_FUZZ_CHECK(out.find("/../") == std::string::npos, what);
  PORTICO_FUZZ_CHECK(!out.ends_with("/.") && !out.ends_with("/.."), what);
  if (out.find('%') != std::string::npos) return;
  std::string again;
  const auto st = normalize_path(out, again);
  PORTICO_FUZZ_CHECK(st == path_status::unchanged || (st == path_status::normalized && again == out),
                     what + " -> " + shown(again));
}

// What prepare_request() derives from the parsed head; false when it answers 400.
struct request_line {
  std::string target;  // as sent upstream
  std::string host;
  bool absolute = false;
};

bool prepare(const request_parser& p, const message_head& h, request_line& out) {
  const auto pt = parse_target(p.target);
  if (pt.form == target_form::invalid) return false;
  if (p.version >= 11 && h.host_count == 0) return false;
  out.absolute = pt.form == target_form::absolute;
  if (out.absolute) {
    PORTICO_FUZZ_CHECK(!pt.authority.empty(), shown(p.target));
    PORTICO_FUZZ_CHECK(pt.origin.empty() || pt.origin.front() == '/' || pt.origin.front() == '?',
                       shown(p.target));
    out.host = pt.authority;
    if (pt.origin.empty() || pt.origin.front() != '/') out.target = "/";
    out.target += pt.origin;
  } else {
    out.target = p.target;
    out.host = h.host;
  }
  std::string_view path = out.target;
  path = path.substr(0, path.find('?'));
  std::string scratch;
  const auto st = normalize_path(path, scratch);
  if (st == path_status::invalid) return false;
  if (st == path_status::normalized) check_normalized(path, scratch);
  return true;
}

forward_params forwarding(const request_parser& p, const message_head& h, const request_line& rl,
                          const trusted_networks& trusted) {
  forward_params fp;
  fp.peer_ip = "192.0.2.7";
  fp.trusted = &trusted;
  fp.server_port = "80";
  fp.request_id = "0123456789abcdef0123456789abcdef";
  fp.fallback_host = rl.host;
  if (rl.absolute) fp.host_override = rl.host;
  // The session forwards an upgrade only for an allowed protocol token; any token the client
  // sent stands in for it here (the writer must frame it whatever it is).
  if (h.conn.upgrade && !h.upgrade.empty() && p.version >= 11) {
    std::string_view first = h.upgrade;
    first = first.substr(0, first.find(','));
    while (!first.empty() && (first.back() == ' ' || first.back() == '\t')) first.remove_suffix(1);
    while (!first.empty() && (first.front() == ' ' || first.front() == '\t')) first.remove_prefix(1);
    if (!first.empty()) fp.upgrade = first;
  }
  if (p.chunked()) {
    fp.framing = body_framing::chunked;
  } else if (auto cl = p.content_length()) {
    fp.framing = body_framing::length;
    fp.content_length = *cl;
  }
  return fp;
}

void check_upstream_head(const request_parser& p, const message_head& h, const request_line& rl) {
  const trusted_networks none;
  const forward_params fp = forwarding(p, h, rl, none);
  std::string out;
  write_upstream_request(out, p.method_text, rl.target, h, fp);
  const std::string what = "upstream head " + shown(out, 2000);

  const auto sc = scan_head(out, out.size() + 1);
  PORTICO_FUZZ_CHECK(sc.state == head_scan::complete && sc.length == out.size(), what);
  message_head h2;
  request_parser p2(h2);
  p2.header_limit(static_cast<std::uint32_t>(out.size() + 64));
  p2.body_limit(boost::none);
  const auto r = feed_head(p2, out, nullptr);
  PORTICO_FUZZ_CHECK(r.accepted && r.consumed == out.size(), what + ": " + r.ec.message());
  PORTICO_FUZZ_CHECK(p2.method_text == p.method_text && p2.target == rl.target, what);
  PORTICO_FUZZ_CHECK(h2.fields.size() == count_field_lines(out), what);
  PORTICO_FUZZ_CHECK(p2.chunked() == (fp.framing == body_framing::chunked), what);
  PORTICO_FUZZ_CHECK(p2.content_length().has_value() == (fp.framing == body_framing::length), what);
  if (fp.framing == body_framing::length)
    PORTICO_FUZZ_CHECK(*p2.content_length() == fp.content_length, what);
  PORTICO_FUZZ_CHECK(h2.host_count == 1, what);

  std::string again;
  write_upstream_request(again, p2.method_text, p2.target, h2, forwarding(p2, h2, rl, none));
  PORTICO_FUZZ_CHECK(again == out, what + " rewritten as " + shown(again, 2000));
}

// request_reader over the same head answers as the parser `p` did.
void check_reader(std::string_view head, request_parser& p, bool accepted, std::uint32_t limit) {
  message_head h;
  request_reader r(h, limit);
  boost::beast::error_code ec;
  const std::size_t n = r.take_head(head, ec);
  const bool ok = !ec && r.is_header_done();
  const std::string what = shown(head) + (r.parsed_plain() ? " (plain)" : " (parser)");
  PORTICO_FUZZ_CHECK(ok == accepted, what + ": the reader " + (ok ? "accepts" : "refuses"));
  PORTICO_FUZZ_CHECK(r.error == p.error, what + ": another head_error");
  if (!ok || !accepted) return;
  PORTICO_FUZZ_CHECK(n == head.size(), what);
  PORTICO_FUZZ_CHECK(r.method_text == p.method_text && r.target == p.target &&
                         r.version == p.version, what + ": another start line");
  const auto& a = h.fields;
  const auto& b = p.head().fields;
  PORTICO_FUZZ_CHECK(a.size() == b.size(), what + ": another number of fields");
  for (std::size_t i = 0; i < a.size() && i < b.size(); ++i)
    PORTICO_FUZZ_CHECK(a[i].name == b[i].name && a[i].name_text == b[i].name_text &&
                           a[i].value == b[i].value,
                       what + ": field " + std::to_string(i) + " " + shown(a[i].name_text) + " " +
                           shown(a[i].value) + " against " + shown(b[i].value));
  const auto cl = p.content_length();
  PORTICO_FUZZ_CHECK(r.chunked() == p.chunked() && r.is_done() == p.is_done() &&
                         r.content_length().has_value() == cl.has_value() &&
                         (!cl || *r.content_length() == *cl),
                     what + ": another framing");
  PORTICO_FUZZ_CHECK(h.conn.close == p.head().conn.close && h.conn.keep_alive == p.head().conn.keep_alive &&
                         h.conn.upgrade == p.head().conn.upgrade && h.host == p.head().host &&
                         h.host_count == p.head().host_count,
                     what + ": another Connection or Host");
}

}  // namespace
}  // namespace portico::fuzz

PORTICO_FUZZ_TARGET(http_request_head) {
  using namespace portico::fuzz;
  using namespace portico::proxy;
  const std::uint32_t seed = input_hash(data, size);
  piece_plan cuts(seed, 1u << 16);
  piece_plan pieces(seed, 1 + (seed >> 16) % 64);
  const std::string_view raw(reinterpret_cast<const char*>(data), size);

  const auto sc = scan_head(raw, header_limit);
  check_scan_prefixes(raw, sc, cuts);
  if (sc.state != head_scan::complete) return 0;
  PORTICO_FUZZ_CHECK(sc.length <= raw.size() && raw.substr(0, sc.length).ends_with("\r\n\r\n"),
                     shown(raw));
  const std::string_view head = raw.substr(0, sc.length);

  message_head h1, h2;
  request_parser whole(h1), split(h2);
  for (auto* p : {&whole, &split}) {
    p->header_limit(static_cast<std::uint32_t>(header_limit + 64));
    p->body_limit(boost::none);
  }
  const auto r1 = feed_head(whole, head, nullptr);
  const auto r2 = feed_head(split, head, &pieces);
  PORTICO_FUZZ_CHECK(r1.accepted == r2.accepted,
                     shown(head) + ": at once " + r1.ec.message() + ", in pieces " + r2.ec.message());
  check_reader(head, whole, r1.accepted, static_cast<std::uint32_t>(header_limit + 64));
  if (!r1.accepted) return 0;
  PORTICO_FUZZ_CHECK(r1.consumed == head.size() && r2.consumed == head.size(), shown(head));
  PORTICO_FUZZ_CHECK(view_of(whole) == view_of(split),
                     view_of(whole).text() + "\nin pieces:\n" + view_of(split).text());
  PORTICO_FUZZ_CHECK(whole.error == head_error::none, shown(head));

  request_line rl;
  if (!prepare(whole, h1, rl)) return 0;
  check_upstream_head(whole, h1, rl);
  return 0;
}
