// The upstream response head: read as read_response_head() reads it (response_reader over a
// receive buffer filled at once, or in random-sized pieces), the framing it chooses, and the
// head relay_response() writes to the client with write_client_response().
//
// Input: the raw response bytes. Their hash chooses the piece sizes and the request's side:
// HEAD or not, an HTTP/1.0 client, keep-alive, HSTS.
// Invariants beyond "no crash, no sanitizer report":
// - the same result at once and in pieces, and every view of the parsed head (reason, field
//   names and values) inside the bytes of the head in the receive buffer;
// - the same result as the reference (tests/fuzz/response_reference.hpp: a full scan of the
//   head, then Beast's parser), whether the reader parsed the head itself or handed it to Beast;
// - the body framing follows RFC 9112 6.3 (no body for HEAD, 1xx, 204, 304; Transfer-Encoding
//   ending in chunked: chunked; other Transfer-Encoding: until close; Content-Length; else until
//   close); a message with both Transfer-Encoding and Content-Length may be refused;
// - the head written to the client parses again with the same status, one field per written
//   line, the framing it announces, and writing it again from that parse gives the same bytes.
//   Statuses outside 100-599 are not checked here: relaying them is issue 16 item 12.
#include <boost/asio/buffer.hpp>
#include <boost/beast/core/flat_buffer.hpp>

#include <algorithm>
#include <cstring>
#include <string>

#include "proxy/ascii.hpp"
#include "proxy/header_rewrite.hpp"
#include "proxy/http_parser.hpp"
#include "proxy/request_check.hpp"
#include "proxy/response_head.hpp"
#include "tests/fuzz/fuzz_support.hpp"
#include "tests/fuzz/http_feed.hpp"
#include "tests/fuzz/response_reference.hpp"

namespace portico::fuzz {
namespace {

using namespace portico::proxy;

struct relay_flags {
  bool head_request = false;
  bool client10 = false;
  bool keep_alive = true;
  bool hsts = false;
};

// read_response_head(): bytes arrive in pieces (all at once when `pieces` is null) into the
// receive buffer, and the reader takes the head out of it once it is whole.
response_head_state read_head(response_reader& reader, std::string_view raw, piece_plan* pieces,
                              boost::beast::flat_buffer& buf, std::size_t& length) {
  std::size_t fed = 0;
  while (fed < raw.size()) {
    const std::size_t k = pieces ? std::min(pieces->next(), raw.size() - fed) : raw.size() - fed;
    std::memcpy(buf.prepare(k).data(), raw.data() + fed, k);
    buf.commit(k);
    fed += k;
    const auto st = reader.take({static_cast<const char*>(buf.data().data()), buf.size()});
    if (st != response_head_state::incomplete) {
      length = reader.length();
      return st;
    }
  }
  return response_head_state::incomplete;
}

// The parser keeps views, not copies: each must lie in the head's bytes in the buffer.
void check_views(response_reader& p, const boost::beast::flat_buffer& buf, std::size_t length) {
  const char* begin = static_cast<const char*>(buf.data().data());
  auto inside = [&](std::string_view v) {
    return v.empty() || (v.data() >= begin && v.data() + v.size() <= begin + length);
  };
  PORTICO_FUZZ_CHECK(inside(p.reason), "the reason " + shown(p.reason) + " is not in the head");
  for (const auto& f : p.head().fields)
    PORTICO_FUZZ_CHECK(inside(f.name_text) && inside(f.value),
                       "field " + shown(f.name_text) + " " + shown(f.value) + " is not in the head");
}

std::string_view trim(std::string_view v) {
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  return v;
}

// transfer-coding = token *( OWS ";" OWS transfer-parameter ), in a comma-separated list;
// checked here: a list of bare codings (with parameters, the parser's reading is not checked).
// "chunked" twice is not one either: RFC 9112 7.1 forbids applying it more than once, so
// such a response may be read either way (Portico answers it 502: not one plain "chunked").
bool well_formed_codings(std::string_view v) {
  int chunked = 0;
  while (true) {
    const auto comma = v.find(',');
    const auto coding = trim(v.substr(0, comma));
    if (!is_token(coding)) return false;
    if (ascii::iequals(coding, "chunked") && ++chunked > 1) return false;
    if (comma == std::string_view::npos) return true;
    v.remove_prefix(comma + 1);
  }
}

// RFC 9112 6.3 on the fields as received.
void check_framing(response_reader& p, const relay_flags& f, const std::string& what) {
  const unsigned st = p.status;
  std::string_view te;  // the last Transfer-Encoding field (codings may also be split over fields)
  bool has_te = false, has_cl = false, codings = true;
  for (const auto& fl : p.head().fields) {
    if (fl.name == http_field::transfer_encoding) {
      has_te = true;
      te = fl.value;
      codings = codings && well_formed_codings(te);
    }
    if (fl.name == http_field::content_length) has_cl = true;
  }
  const bool no_body = f.head_request || (st >= 100 && st < 200) || st == 204 || st == 304;
  if (no_body) {
    PORTICO_FUZZ_CHECK(p.is_done(), what + ": a response without a body");
    return;
  }
  if (has_te) {
    const auto comma = te.rfind(',');
    const bool last_chunked = ascii::iequals(
        trim(comma == std::string_view::npos ? te : te.substr(comma + 1)), "chunked");
    // A list that is not a list of codings may be read either way (never as a length).
    if (codings) {
      PORTICO_FUZZ_CHECK(p.chunked() == last_chunked, what + ": Transfer-Encoding decides");
      if (!last_chunked) PORTICO_FUZZ_CHECK(p.need_eof(), what + ": read until close");
    }
    PORTICO_FUZZ_CHECK(!p.content_length(), what + ": Transfer-Encoding overrides Content-Length");
    return;
  }
  if (has_cl) {
    PORTICO_FUZZ_CHECK(p.content_length() && !p.chunked() && !p.need_eof(), what);
    return;
  }
  PORTICO_FUZZ_CHECK(p.need_eof() && !p.chunked() && !p.content_length(),
                     what + ": neither framing field: read until close");
}

// relay_response(): the framing towards the client and the head written.
template <class P>
response_params relay_params(P& p, const relay_flags& f) {
  const unsigned st = p.status;
  response_params rp;
  rp.status = st;
  rp.reason = p.reason;
  rp.request_id = "0123456789abcdef0123456789abcdef";
  rp.no_body = f.head_request || st == 204 || st == 304;
  if (!rp.no_body) {
    if (auto cl = p.content_length(); cl && !p.chunked()) {
      rp.framing = body_framing::length;
      rp.content_length = *cl;
    } else {
      rp.framing = f.client10 ? body_framing::until_close : body_framing::chunked;
    }
  }
  rp.keep_alive = f.keep_alive && rp.framing != body_framing::until_close;
  rp.client_http10 = f.client10;
  if (f.hsts) rp.hsts = "max-age=31536000; includeSubDomains";
  return rp;
}

void check_client_head(response_reader& p, const relay_flags& f) {
  const response_params rp = relay_params(p, f);
  std::string out;
  write_client_response(out, p.head(), rp);
  const std::string what = "client head " + shown(out, 2000);

  message_head h2;
  response_parser p2(h2);
  p2.header_limit(static_cast<std::uint32_t>(out.size() + 64));
  p2.body_limit(boost::none);
  if (f.head_request) p2.skip(true);
  const auto r = feed_head(p2, out, nullptr);
  PORTICO_FUZZ_CHECK(r.accepted && r.consumed == out.size(), what + ": " + r.ec.message());
  PORTICO_FUZZ_CHECK(p2.status == p.status, what);
  if (!p.reason.empty()) PORTICO_FUZZ_CHECK(p2.reason == p.reason, what);
  PORTICO_FUZZ_CHECK(h2.fields.size() == count_field_lines(out), what);
  switch (rp.framing) {
    case body_framing::length:
      PORTICO_FUZZ_CHECK(p2.content_length() && *p2.content_length() == rp.content_length &&
                             !p2.chunked(), what);
      break;
    case body_framing::chunked: PORTICO_FUZZ_CHECK(p2.chunked(), what); break;
    case body_framing::until_close:
      PORTICO_FUZZ_CHECK(!p2.chunked() && !p2.content_length() && p2.need_eof(), what);
      break;
    case body_framing::none: break;
  }
  if (!rp.keep_alive) PORTICO_FUZZ_CHECK(!p2.keep_alive(), what + ": must announce the close");

  std::string again;
  write_client_response(again, h2, relay_params(p2, f));
  PORTICO_FUZZ_CHECK(again == out, what + " rewritten as " + shown(again, 2000));
}

}  // namespace
}  // namespace portico::fuzz

PORTICO_FUZZ_TARGET(http_response_head) {
  using namespace portico::fuzz;
  using namespace portico::proxy;
  const std::uint32_t seed = input_hash(data, size);
  relay_flags f{(seed & 1) != 0, (seed & 2) != 0, (seed & 4) != 0, (seed & 8) != 0};
  piece_plan pieces(seed, 1 + (seed >> 16) % 64);
  const std::string_view raw(reinterpret_cast<const char*>(data), size);

  message_head h1, h2, h3;
  response_reader whole(h1, f.head_request), split(h2, f.head_request);
  boost::beast::flat_buffer b1, b2;
  std::size_t n1 = 0, n2 = 0;
  const auto s1 = read_head(whole, raw, nullptr, b1, n1);
  const auto s2 = read_head(split, raw, &pieces, b2, n2);
  PORTICO_FUZZ_CHECK(s1 == s2, shown(raw) + ": at once " + std::to_string(int(s1)) +
                                   ", in pieces " + std::to_string(int(s2)));
  // The reference: Beast's parser after a full scan.
  response_parser ref(h3);
  ref.header_limit(64 * 1024);
  ref.body_limit(boost::none);
  if (f.head_request) ref.skip(true);
  std::size_t n3 = 0;
  const auto s3 = reference_take(ref, raw, 64 * 1024, n3);
  const std::string ref_what = shown(raw) + ": reader " + std::to_string(int(s1)) +
                               (whole.parsed_plain() ? " (plain)" : " (Beast)") + ", reference " +
                               std::to_string(int(s3));
  if (s3 == response_head_state::complete) {
    PORTICO_FUZZ_CHECK(s1 == s3 && n1 == n3, ref_what);
    PORTICO_FUZZ_CHECK(view_of(whole) == view_of(ref),
                       ref_what + "\n" + view_of(whole).text() + "\nreference:\n" + view_of(ref).text());
  } else if (s3 == response_head_state::incomplete) {
    PORTICO_FUZZ_CHECK(s1 == s3 || s1 == response_head_state::malformed, ref_what);
  } else {
    PORTICO_FUZZ_CHECK(s1 == response_head_state::malformed || s1 == response_head_state::too_large,
                       ref_what);
  }
  if (s1 != response_head_state::complete) return 0;
  PORTICO_FUZZ_CHECK(n1 == n2, shown(raw));
  check_views(whole, b1, n1);
  check_views(split, b2, n2);
  PORTICO_FUZZ_CHECK(view_of(whole) == view_of(split),
                     view_of(whole).text() + "\nin pieces:\n" + view_of(split).text());
  const std::string what = "response " + shown(raw.substr(0, n1));
  check_framing(whole, f, what);
  const unsigned st = whole.status;
  if (st < 200 || st > 599) return 0;  // 1xx: skipped or a tunnel; others: issue 16 item 12
  check_client_head(whole, f);
  return 0;
}
