// The body decoders: chunked and Content-Length (and, for responses, read-until-close) bodies
// through request_parser / response_parser into a body_sink, re-chunked (chunked_out) or not,
// in random-sized pieces and with a small output buffer, as http_forward.cpp streams them.
//
// Input: one HTTP message, head and body (a response when it starts with "HTTP/"). Its hash
// chooses chunked_out, the output buffer size (17-272 bytes), a body limit (none, or 1-128
// bytes) and the piece sizes.
// Invariant: the body bytes that come out (de-chunked when chunked_out) equal what the
// reference decoder (tests/fuzz/chunked_reference.hpp, RFC 9112 7.1) extracts, the parser ends
// the body at the same byte (the rest is the next message), or both reject (the parser may also
// wait for more bytes forever: it never accepts); a body over the limit, and only such a body,
// is refused.
#include <boost/asio/buffer.hpp>
#include <boost/optional.hpp>

#include <string>

#include "proxy/header_rewrite.hpp"
#include "proxy/http_parser.hpp"
#include "proxy/request_check.hpp"
#include "tests/fuzz/chunked_reference.hpp"
#include "tests/fuzz/fuzz_support.hpp"
#include "tests/fuzz/http_feed.hpp"

namespace portico::fuzz {
namespace {

using namespace portico::proxy;
using rfc9112::decode_state;

struct settings {
  bool response = false;
  bool chunked_out = false;
  std::size_t capacity = 0;
  std::uint64_t max_total = 0;
};

// What the parser delivered: the sink's output in order, where it stopped, and why.
struct body_run {
  std::string out;
  std::size_t consumed = 0;
  bool done = false;
  bool too_large = false;
  bool last_chunk = false;  // chunked_out: the sink wrote "0\r\n" (and any trailers after it)
  error_code ec;  // a framing error (need_more: the input ended first)
};

template <class Parser>
body_run stream_body(Parser& p, std::string_view bytes, const settings& s, piece_plan& pieces) {
  body_run r;
  std::string buf;
  body_sink sink{&buf, s.capacity, s.chunked_out, 0, s.max_total};
  p.set_sink(&sink);
  p.eager(true);
  std::size_t avail = 0;
  bool want_more = true;
  for (std::size_t rounds = 0; !p.is_done(); ++rounds) {
    PORTICO_FUZZ_CHECK(rounds <= 4 * bytes.size() + 16, "the body parser makes no progress");
    if (want_more) {
      if (avail == bytes.size()) {  // the input ended: the connection closes
        if (p.need_eof()) p.put_eof(r.ec);
        else r.ec = http::error::need_more;
        break;
      }
      avail = std::min(bytes.size(), avail + pieces.next());
    }
    error_code ec;
    r.consumed += p.put(boost::asio::buffer(bytes.data() + r.consumed, avail - r.consumed), ec);
    if (sink.too_large) {
      r.too_large = true;
      break;
    }
    if (ec == http::error::need_buffer) {  // the session writes the buffer out and goes on
      r.out += buf;
      buf.clear();
    } else if (ec && ec != http::error::need_more) {
      r.ec = ec;
      break;
    }
    // need_more: Beast left the bytes it cannot use yet; they are offered again with more.
    want_more = ec == http::error::need_more || avail == r.consumed;
  }
  r.out += buf;
  r.done = p.is_done();
  r.last_chunk = sink.last_chunk;
  return r;
}

// The framing the parser chose for the message, decoded the reference way.
rfc9112::decoded reference_body(std::string_view bytes, bool chunked,
                                boost::optional<std::uint64_t> length, bool until_close,
                                bool no_body) {
  rfc9112::decoded d;
  if (no_body) {
    d.state = decode_state::complete;
  } else if (chunked) {
    d = rfc9112::decode_chunked(bytes);
  } else if (length) {
    const std::size_t n = bytes.size() < *length ? bytes.size() : static_cast<std::size_t>(*length);
    d.body = std::string(bytes.substr(0, n));
    d.state = n == *length ? decode_state::complete : decode_state::incomplete;
    d.consumed = n;
  } else if (until_close) {
    d.body = std::string(bytes);
    d.state = decode_state::complete;
    d.consumed = bytes.size();
  } else {
    d.state = decode_state::complete;
  }
  return d;
}

// De-chunks what a chunked_out sink wrote, ended as body_sink::end_chunked() ends it: the blank
// line after the last chunk and its trailers, or the whole last chunk when none was written.
std::string dechunk_output(const body_run& run) {
  const std::string ended = run.out + (run.last_chunk ? "\r\n" : "0\r\n\r\n");
  const auto d = rfc9112::decode_chunked(ended);
  PORTICO_FUZZ_CHECK(d.state == decode_state::complete && d.consumed == ended.size(),
                     "re-chunked output does not decode: " + shown(run.out));
  return d.body;
}

// One message through a fresh parser: the head at once, then the body in pieces.
struct parsed {
  bool head_ok = false;
  bool no_body = false;
  bool chunked = false;
  boost::optional<std::uint64_t> length;
  bool until_close = false;
  body_run body;
};

template <class Parser>
parsed parse_with(Parser& p, std::string_view head, std::string_view body, const settings& s,
                  piece_plan pieces) {
  parsed r;
  p.header_limit(64 * 1024);
  p.body_limit(boost::none);
  const auto hr = feed_head(p, head, nullptr);
  if (!hr.accepted) return r;
  PORTICO_FUZZ_CHECK(hr.consumed == head.size(), shown(head));
  r.head_ok = true;
  r.no_body = p.is_done();
  r.chunked = p.chunked();
  r.length = p.content_length();
  r.until_close = p.need_eof();
  if (!r.no_body) r.body = stream_body(p, body, s, pieces);
  return r;
}

parsed parse(std::string_view head, std::string_view body, const settings& s,
             const piece_plan& pieces) {
  message_head mh;
  if (s.response) {
    response_parser p(mh);
    return parse_with(p, head, body, s, pieces);
  }
  request_parser p(mh);
  return parse_with(p, head, body, s, pieces);
}

// Why the parser's run disagrees with the reference decoding `ref`, or "" when it agrees.
std::string disagreement(const rfc9112::decoded& ref, const parsed& m, std::string_view head,
                         std::string_view body, const settings& s, const piece_plan& pieces) {
  const body_run& run = m.body;
  const std::string got = s.chunked_out ? dechunk_output(run) : run.out;
  const std::string what = "body " + shown(body) + " gave " + shown(got) + " (" +
                           run.ec.message() + "), reference " + shown(ref.body);
  const bool over = s.max_total != 0 && ref.body.size() > s.max_total;
  if (run.too_large) return over ? "" : what + ": refused as too large";
  if (over && ref.state != decode_state::invalid)
    return what + ": more than " + std::to_string(s.max_total) + " bytes accepted";
  switch (ref.state) {
    case decode_state::complete:
      if (!run.done || run.ec) return what + ": the reference completes the body";
      if (got != ref.body) return what;
      if (run.consumed != ref.consumed)
        return what + ": ends at " + std::to_string(run.consumed) + ", reference at " +
               std::to_string(ref.consumed);
      return "";
    case decode_state::incomplete:
      if (run.done || run.ec != http::error::need_more)
        return what + ": the reference needs more bytes";
      return ref.body.starts_with(got) ? "" : what;
    case decode_state::invalid:
      if (run.done || !ref.body.starts_with(got)) return what + ": the reference rejects it";
      if (run.ec == http::error::need_more) {
        // A line-based parser waits for the end of the line it rejects: give it one. Still
        // waiting is allowed (an unterminated quoted string, say: the body timeout ends it);
        // accepting is not.
        const std::string more = std::string(body) + "\r\n\r\n";
        if (parse(head, more, s, pieces).body.done)
          return what + ": the reference rejects it, accepted with CRLFs after it";
      }
      return "";
  }
  return "";
}

void check(std::string_view head, std::string_view body, const settings& s,
           const piece_plan& pieces) {
  const parsed m = parse(head, body, s, pieces);
  if (!m.head_ok || m.no_body) return;
  const auto ref = reference_body(body, m.chunked, m.length, m.until_close, false);
  if (const std::string why = disagreement(ref, m, head, body, s, pieces); !why.empty()) fail(why);
}

}  // namespace
}  // namespace portico::fuzz

PORTICO_FUZZ_TARGET(http_body) {
  using namespace portico::fuzz;
  using namespace portico::proxy;
  const std::uint32_t seed = input_hash(data, size);
  std::string_view rest(reinterpret_cast<const char*>(data), size);
  settings s;
  s.response = rest.starts_with("HTTP/");
  s.chunked_out = seed & 1;
  s.capacity = 17 + ((seed >> 1) & 0xff);  // > 16: a chunked_out sink needs room for a chunk head
  const unsigned limit = (seed >> 9) & 0xff;
  s.max_total = limit < 128 ? 0 : limit - 127;
  piece_plan pieces(seed, 1 + (seed >> 17) % 128);

  const auto end = rest.find("\r\n\r\n");
  if (end == std::string_view::npos) return 0;
  const std::string_view head = rest.substr(0, end + 4);
  rest.remove_prefix(end + 4);
  if (!s.response && scan_head(head, 32 * 1024).state != head_scan::complete) return 0;
  check(head, rest, s, pieces);
  return 0;
}
