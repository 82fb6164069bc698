// HTTP/2 request streams: the input (a cut position, then the frames after the client
// connection preface) goes to an nghttp2
// server session set up as proxy/h2_session.cpp sets its own (the same options and settings),
// whose callbacks hand every request's fields to h2_request_builder as the connection does.
// Invariants: a head the builder accepts is one HTTP/1.1 request head that request_parser takes
// whole, with the :method and :path as request line, one Host equal to :authority (or the
// host field), one parsed field per written line (nothing smuggled in through a field, nothing
// merged), and the framing the builder announced (chunked exactly when the stream has a body
// and no content-length); the header list bound holds (too_large past it, never ok).
#include <nghttp2/nghttp2.h>

#include <map>
#include <string>

#include "proxy/h2_translate.hpp"
#include "proxy/http_parser.hpp"
#include "tests/fuzz/fuzz_support.hpp"
#include "tests/fuzz/http_feed.hpp"

namespace portico::fuzz {
namespace {

constexpr std::size_t max_list = 4096;

struct stream_state {
  proxy::h2_request_builder req{max_list};
  std::string method, path, authority, host;
  bool has_length = false;
};

struct session_state {
  std::map<std::int32_t, stream_state> streams;
  std::string failure;  // the first failed check (nothing is thrown through nghttp2's C frames)
};

#define H2_EXPECT(cond, message)                                                  \
  do {                                                                            \
    if (!(cond)) {                                                                \
      if (ss.failure.empty()) ss.failure = std::string(#cond) + " -- " + (message); \
      return;                                                                     \
    }                                                                             \
  } while (0)

void check_head(session_state& ss, const stream_state& s, bool end_stream) {
  std::string out;
  bool chunked = false;
  const auto st = s.req.finish(end_stream, out, chunked);
  if (s.req.list_size() > max_list)
    H2_EXPECT(st == proxy::h2_head_status::too_large, "list over the bound accepted");
  if (st != proxy::h2_head_status::ok) return;
  const std::string what = "head " + shown(out, 2000);
  proxy::message_head h;
  proxy::request_parser p(h);
  p.header_limit(static_cast<std::uint32_t>(out.size() + 64));
  p.body_limit(boost::none);
  const auto r = feed_head(p, out, nullptr);
  H2_EXPECT(r.accepted && r.consumed == out.size(), what + ": " + r.ec.message());
  H2_EXPECT(p.method_text == s.method && p.target == s.path, what);
  H2_EXPECT(h.host_count == 1, what);
  H2_EXPECT(h.host == (s.authority.empty() ? s.host : s.authority), what);
  H2_EXPECT(h.fields.size() == count_field_lines(out), what);
  H2_EXPECT(p.chunked() == chunked, what);
  H2_EXPECT(chunked == (!end_stream && !s.has_length), what);
}

int on_begin_headers(nghttp2_session*, const nghttp2_frame* f, void* user) {
  if (f->hd.type == NGHTTP2_HEADERS && f->headers.cat == NGHTTP2_HCAT_REQUEST)
    static_cast<session_state*>(user)->streams[f->hd.stream_id] = stream_state{};
  return 0;
}

int on_header(nghttp2_session*, const nghttp2_frame* f, const std::uint8_t* n, std::size_t nl,
              const std::uint8_t* v, std::size_t vl, std::uint8_t, void* user) {
  if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
  auto& ss = *static_cast<session_state*>(user);
  auto it = ss.streams.find(f->hd.stream_id);
  if (it == ss.streams.end()) return 0;
  const std::string_view name(reinterpret_cast<const char*>(n), nl);
  const std::string_view value(reinterpret_cast<const char*>(v), vl);
  auto& s = it->second;
  s.req.add(name, value);
  if (name == ":method") s.method = value;
  else if (name == ":path") s.path = value;
  else if (name == ":authority") s.authority = value;
  else if (name == "host") s.host = value;
  else if (name == "content-length") s.has_length = true;
  return 0;
}

int on_frame_recv(nghttp2_session*, const nghttp2_frame* f, void* user) {
  auto& ss = *static_cast<session_state*>(user);
  if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
  auto it = ss.streams.find(f->hd.stream_id);
  if (it != ss.streams.end()) check_head(ss, it->second, (f->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0);
  return 0;
}

int on_stream_close(nghttp2_session*, std::int32_t id, std::uint32_t, void* user) {
  static_cast<session_state*>(user)->streams.erase(id);
  return 0;
}

}  // namespace
}  // namespace portico::fuzz

PORTICO_FUZZ_TARGET(http_h2_request) {
  using namespace portico::fuzz;
  session_state ss;
  nghttp2_session_callbacks* cb = nullptr;
  nghttp2_session_callbacks_new(&cb);
  nghttp2_session_callbacks_set_on_begin_headers_callback(cb, on_begin_headers);
  nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
  nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
  nghttp2_option* opt = nullptr;
  nghttp2_option_new(&opt);
  nghttp2_option_set_no_auto_window_update(opt, 1);
  nghttp2_option_set_max_outbound_ack(opt, 1000);
  nghttp2_option_set_max_settings(opt, 32);
  nghttp2_option_set_max_continuations(opt, 8);
  nghttp2_option_set_stream_reset_rate_limit(opt, 1000, 33);
  nghttp2_session* session = nullptr;
  nghttp2_session_server_new2(&session, cb, &ss, opt);
  nghttp2_option_del(opt);
  nghttp2_session_callbacks_del(cb);
  const nghttp2_settings_entry settings[] = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 128},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 65535},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, static_cast<std::uint32_t>(max_list)},
      {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
  };
  nghttp2_submit_settings(session, NGHTTP2_FLAG_NONE, settings, 4);
  static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
  nghttp2_session_mem_recv(session, reinterpret_cast<const std::uint8_t*>(preface), 24);
  // The first byte says where the frames (the rest) are cut in two, as reads split them.
  if (size > 0) {
    const std::uint8_t* frames = data + 1;
    const std::size_t n = size - 1;
    const std::size_t cut = data[0] % (n + 1);
    if (nghttp2_session_mem_recv(session, frames, cut) >= 0)
      nghttp2_session_mem_recv(session, frames + cut, n - cut);
  }
  const std::uint8_t* out = nullptr;
  while (nghttp2_session_mem_send(session, &out) > 0) {
  }
  nghttp2_session_del(session);
  if (!ss.failure.empty()) fail(ss.failure);
  return 0;
}
