#include "proxy/h2_session.hpp"

#include <nghttp2/nghttp2.h>

#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <algorithm>
#include <cstdlib>
#include <cstdio>
#include <cstring>
#include <optional>
#include <vector>

#include "proxy/default_backend.hpp"
#include "proxy/h2_mem.hpp"
#include "proxy/h2_translate.hpp"
#include "proxy/http_session.hpp"
#include "proxy/net/socket_state.hpp"
#include "proxy/observe.hpp"
#include "proxy/worker.hpp"

namespace portico::proxy {

namespace asio = boost::asio;
using clock_type = std::chrono::steady_clock;

namespace {
constexpr std::size_t read_size = 16 * 1024;
constexpr std::size_t write_batch = 64 * 1024;
// Response bytes a stream holds before its writer waits for the client's window.
constexpr std::size_t stream_out_limit = 64 * 1024;
// The request body window per stream (RFC 9113 6.9.2 default); the connection's is larger so
// that several uploads move at once.
constexpr std::int32_t stream_window = 65535;
constexpr std::int32_t connection_window = 1024 * 1024;
// The opaque data of the PING sent with drain's first GOAWAY.
constexpr std::uint8_t drain_ping[8] = {'d', 'r', 'a', 'i', 'n', 'i', 'n', 'g'};
}  // namespace

// One request stream. The connection's map holds it until the stream closes; the session
// serving it holds it through its byte_stream until it is done.
class h2_stream final : public stream_channel {
 public:
  h2_stream(std::shared_ptr<h2_connection> c, std::int32_t id, std::size_t max_list)
      : conn(std::move(c)), id(id), req(max_list) {
    h2_spares<std::string>::take(in);
    h2_spares<std::string>::take(out);
  }
  ~h2_stream() override {
    h2_spares<std::string>::give(in);
    h2_spares<std::string>::give(out);
    h2_spares<std::string>::give(trailers_in);
  }

  void read(asio::mutable_buffer b, io_handler h) override;
  void write(asio::const_buffer b, io_handler h) override;
  void cancel() override;
  void close() override;
  bool open() const override { return !detached && !closed; }

  std::shared_ptr<h2_connection> conn;
  std::int32_t id;
  h2_request_builder req;
  std::uint32_t fields = 0;
  bool field_too_large = false;  // one field over http2-max-field-size
  bool head_request = false;
  bool started = false;   // an http_session serves it
  bool chunked_in = false;
  bool in_ended = false;  // END_STREAM received
  bool closed = false;    // nghttp2 closed the stream (answered, reset, or connection gone)
  bool detached = false;  // the session is done with it
  bool end_sent = false;  // our END_STREAM went out
  bool te_trailers = false;  // the client takes response trailers
  // The request's trailer section as HTTP/1.1 lines (chunked bodies only), and its size as
  // RFC 9113 6.5.2 counts it.
  std::string trailers_in;
  std::size_t trailer_size = 0;
  // Request bytes (HTTP/1.1 text) the session has not read yet.
  std::string in;
  std::size_t in_off = 0;
  std::size_t unconsumed = 0;  // DATA payload not yet credited back to the client's window
  io_handler pending_read;
  asio::mutable_buffer read_buf;
  // The response.
  std::optional<h1_response_reader> resp;  // in place: one allocation per stream fewer
  bool submitted = false;
  bool resp_done = false;  // all of the body is in `out`
  bool deferred = false;   // the data source said "nothing yet"
  bool reset_when_drained = false;  // the answer broke off: RST_STREAM once `out` is sent
  std::string out;
  std::size_t out_off = 0;
  io_handler pending_write;
  std::size_t pending_write_n = 0;
};

static_assert(sizeof(h2_stream) + 32 <= 1024, "h2_stream fits h2_mem's largest class");

struct h2_connection::impl {
  static h2_connection& self(void* user) { return *static_cast<h2_connection*>(user); }
  static h2_stream* stream_of(h2_connection& c, std::int32_t id) {
    return static_cast<h2_stream*>(nghttp2_session_get_stream_user_data(c.session_, id));
  }

  static void post(h2_connection& c, io_handler h, const boost::system::error_code& ec,
                   std::size_t n) {
    c.done_.post(c, std::move(h), ec, n);
  }

  // Hands the session what the stream has, or end of input.
  static void serve_read(h2_connection& c, h2_stream& s) {
    if (!s.pending_read) return;
    const std::size_t have = s.in.size() - s.in_off;
    if (have > 0) {
      const std::size_t n = std::min(have, s.read_buf.size());
      std::memcpy(s.read_buf.data(), s.in.data() + s.in_off, n);
      s.in_off += n;
      if (s.in_off == s.in.size()) {
        s.in.clear();
        s.in_off = 0;
      }
      // The window is credited as the session takes the body (bounded memory per stream).
      const std::size_t credit = std::min(n, s.unconsumed);
      if (credit > 0 && !s.closed) {
        s.unconsumed -= credit;
        nghttp2_session_consume(c.session_, s.id, credit);
        c.schedule_flush();
      }
      post(c, std::move(s.pending_read), {}, n);
    } else if (s.in_ended) {
      post(c, std::move(s.pending_read), asio::error::eof, 0);
    } else if (s.closed) {
      post(c, std::move(s.pending_read), asio::error::connection_reset, 0);
    }
  }

  static void fail_pending(h2_connection& c, h2_stream& s, const boost::system::error_code& ec) {
    if (s.pending_read) post(c, std::move(s.pending_read), ec, 0);
    if (s.pending_write) post(c, std::move(s.pending_write), ec, 0);
  }

  // ---------------------------------------------------------------- response side

  static void submit_head(h2_connection& c, h2_stream& s) {
    char status[4];
    h2_status_digits(s.resp->status(), status);
    h2_nv_list nv(s.resp->fields().size() + 1);
    nv.add(":status", std::string_view(status, 3));
    for (const auto& [n, v] : s.resp->fields()) nv.add(n, v);
    s.submitted = true;
    if (s.resp_done && s.out.size() == s.out_off && !sends_trailers(s)) {
      nghttp2_submit_response(c.session_, s.id, nv.data(), nv.size(), nullptr);
      return;
    }
    nghttp2_data_provider dp{};
    dp.source.ptr = &s;
    dp.read_callback = &impl::read_body;
    nghttp2_submit_response(c.session_, s.id, nv.data(), nv.size(), &dp);
  }

  // RFC 9113 8.1: a response's trailer section is a HEADERS frame with END_STREAM after its
  // DATA, for a client that said `te: trailers`.
  static bool sends_trailers(const h2_stream& s) {
    return s.te_trailers && s.resp && !s.resp->trailers().empty();
  }

  static void submit_trailers(h2_connection& c, h2_stream& s) {
    std::vector<nghttp2_nv> nv;
    nv.reserve(s.resp->trailers().size());
    for (const auto& [n, v] : s.resp->trailers())
      nv.push_back({reinterpret_cast<std::uint8_t*>(const_cast<char*>(n.data())),
                    reinterpret_cast<std::uint8_t*>(const_cast<char*>(v.data())), n.size(), v.size(),
                    NGHTTP2_NV_FLAG_NONE});
    nghttp2_submit_trailer(c.session_, s.id, nv.data(), nv.size());
  }

  static ssize_t read_body(nghttp2_session*, std::int32_t, std::uint8_t* buf, std::size_t length,
                           std::uint32_t* flags, nghttp2_data_source* src, void* user) {
    auto& c = self(user);
    auto& s = *static_cast<h2_stream*>(src->ptr);
    const std::size_t have = s.out.size() - s.out_off;
    const std::size_t n = std::min(have, length);
    std::memcpy(buf, s.out.data() + s.out_off, n);
    s.out_off += n;
    if (s.out_off == s.out.size()) {
      s.out.clear();
      s.out_off = 0;
    }
    if (s.pending_write && s.out.size() - s.out_off < stream_out_limit)
      post(c, std::move(s.pending_write), {}, s.pending_write_n);
    if (s.reset_when_drained && s.out.size() == s.out_off) {
      // The last of what came goes out in this frame, the reset after it (close_stream).
      s.reset_when_drained = false;
      nghttp2_submit_rst_stream(c.session_, NGHTTP2_FLAG_NONE, s.id, NGHTTP2_INTERNAL_ERROR);
      c.schedule_flush();
      if (n == 0) {
        s.deferred = true;
        return NGHTTP2_ERR_DEFERRED;
      }
      return static_cast<ssize_t>(n);
    }
    if (s.out.size() == s.out_off && s.resp_done) {
      *flags |= NGHTTP2_DATA_FLAG_EOF;
      if (sends_trailers(s)) {
        *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
        submit_trailers(c, s);
      }
      return static_cast<ssize_t>(n);
    }
    if (n == 0) {
      s.deferred = true;
      return NGHTTP2_ERR_DEFERRED;
    }
    return static_cast<ssize_t>(n);
  }

  // The session wrote response bytes.
  static void take_output(h2_connection& c, h2_stream& s, asio::const_buffer b, io_handler h) {
    if (s.closed || c.closed_) return post(c, std::move(h), asio::error::connection_reset, 0);
    if (!s.resp) s.resp.emplace(s.head_request);
    s.resp->feed({static_cast<const char*>(b.data()), b.size()}, s.out);
    if (s.resp->current() == h1_response_reader::state::error) {
      nghttp2_submit_rst_stream(c.session_, NGHTTP2_FLAG_NONE, s.id, NGHTTP2_INTERNAL_ERROR);
      c.schedule_flush();
      return post(c, std::move(h), asio::error::connection_reset, 0);
    }
    s.resp_done = s.resp->current() == h1_response_reader::state::done;
    wake_output(c, s);
    if (s.out.size() - s.out_off < stream_out_limit) return post(c, std::move(h), {}, b.size());
    s.pending_write = std::move(h);
    s.pending_write_n = b.size();
  }

  static void wake_output(h2_connection& c, h2_stream& s) {
    if (!s.resp || !s.resp->head_ready()) return;
    if (!s.submitted) {
      submit_head(c, s);
    } else if (s.deferred && (s.out.size() > s.out_off || s.resp_done)) {
      s.deferred = false;
      nghttp2_session_resume_data(c.session_, s.id);
    }
    c.schedule_flush();
  }

  // An answer of the connection's own (the request never reaches a session); a gRPC call gets
  // it as a Trailers-Only response (proxy/default_backend.hpp).
  static void answer_locally(h2_connection& c, h2_stream& s, const char* status) {
    if (s.req.grpc()) return answer_grpc(c, s, static_cast<unsigned>(std::atoi(status)));
    std::string_view st(status);
    const nghttp2_nv nv[] = {
        {reinterpret_cast<std::uint8_t*>(const_cast<char*>(":status")),
         reinterpret_cast<std::uint8_t*>(const_cast<char*>(st.data())), 7, st.size(),
         NGHTTP2_NV_FLAG_NONE},
        {reinterpret_cast<std::uint8_t*>(const_cast<char*>("content-length")),
         reinterpret_cast<std::uint8_t*>(const_cast<char*>("0")), 14, 1, NGHTTP2_NV_FLAG_NONE},
        {reinterpret_cast<std::uint8_t*>(const_cast<char*>("server")),
         reinterpret_cast<std::uint8_t*>(const_cast<char*>("portico")), 6, 7, NGHTTP2_NV_FLAG_NONE},
    };
    s.submitted = true;
    s.detached = true;
    nghttp2_submit_response(c.session_, s.id, nv, 3, nullptr);
  }

  static void answer_grpc(h2_connection& c, h2_stream& s, unsigned http_status) {
    std::string text;
    write_grpc_error(text, http_status, false, {}, false);
    h1_response_reader reader(false);
    std::string body;
    reader.feed(text, body);
    std::vector<nghttp2_nv> nv;
    auto add = [&nv](std::string_view n, std::string_view v) {
      nv.push_back({reinterpret_cast<std::uint8_t*>(const_cast<char*>(n.data())),
                    reinterpret_cast<std::uint8_t*>(const_cast<char*>(v.data())), n.size(), v.size(),
                    NGHTTP2_NV_FLAG_NONE});
    };
    add(":status", "200");
    for (const auto& [n, v] : reader.fields()) add(n, v);
    s.submitted = true;
    s.detached = true;
    nghttp2_submit_response(c.session_, s.id, nv.data(), nv.size(), nullptr);
  }

  // ---------------------------------------------------------------- request side

  static void start_stream(h2_connection& c, h2_stream& s, bool end_stream) {
    const auto st = s.req.finish(end_stream, s.in, s.chunked_in);
    const auto max_fields = c.limits_.max_header_fields;
    if (st == h2_head_status::too_large || s.field_too_large ||
        (max_fields != 0 && s.fields > max_fields))
      return answer_locally(c, s, "431");
    if (st == h2_head_status::not_supported) return answer_locally(c, s, "501");
    if (st != h2_head_status::ok) {
      // RFC 9113 8.1.1: a malformed request is a stream error of type PROTOCOL_ERROR.
      s.detached = true;
      nghttp2_submit_rst_stream(c.session_, NGHTTP2_FLAG_NONE, s.id, NGHTTP2_PROTOCOL_ERROR);
      return;
    }
    s.head_request = s.req.method() == "HEAD";
    s.te_trailers = s.req.te_trailers();
    s.in_ended = end_stream;
    s.started = true;
    ++c.active_;
    gauge_add(c.w_.gauges().http2_streams, 1);
    auto it = c.streams_.find(s.id);
    byte_stream bs(c.w_.context(), it->second, c.conn_.ssl());
    std::make_shared<http_session>(c.w_, std::move(bs), c.peer_, c.listener_port_)->start();
    // keep-alive-requests (or http2-max-requests): this stream is the last one; the client
    // is told so now and opens a new connection for the next request.
    if (c.limits_.max_requests != 0 && ++c.started_ >= c.limits_.max_requests) c.goaway_now();
  }

  static void end_input(h2_stream& s) {
    if (s.in_ended) return;
    s.in_ended = true;
    // The request's trailer section ends the chunked body; the session passes on what may
    // appear in a trailer, as for an HTTP/1.1 client. A body with a content-length has no
    // place for trailers: they are dropped.
    if (s.chunked_in) s.in.append("0\r\n").append(s.trailers_in).append("\r\n");
  }

  // ---------------------------------------------------------------- nghttp2 callbacks

  static int on_begin_headers(nghttp2_session*, const nghttp2_frame* f, void* user) {
    auto& c = self(user);
    if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
    auto s = std::allocate_shared<h2_stream>(h2_block_allocator<h2_stream>(), c.shared_from_this(),
                                             f->hd.stream_id, c.limits_.max_header_list);
    nghttp2_session_set_stream_user_data(c.session_, f->hd.stream_id, s.get());
    c.streams_.emplace(f->hd.stream_id, std::move(s));
    return 0;
  }

  static int on_header(nghttp2_session*, const nghttp2_frame* f, const std::uint8_t* name,
                       std::size_t namelen, const std::uint8_t* value, std::size_t valuelen,
                       std::uint8_t, void* user) {
    auto& c = self(user);
    if (f->hd.type != NGHTTP2_HEADERS) return 0;
    h2_stream* s = stream_of(c, f->hd.stream_id);
    if (s == nullptr) return 0;
    const std::string_view n(reinterpret_cast<const char*>(name), namelen);
    const std::string_view v(reinterpret_cast<const char*>(value), valuelen);
    if (f->headers.cat == NGHTTP2_HCAT_HEADERS) return on_trailer(c, *s, n, v);
    if (f->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
    ++s->fields;
    if (c.limits_.max_field_size != 0 && namelen + valuelen > c.limits_.max_field_size)
      s->field_too_large = true;
    s->req.add(n, v);
    // Far past the bound (an HPACK bomb): the stream is reset without decoding for it.
    if (s->req.list_size() > 4 * std::size_t{c.limits_.max_header_list} + 65536)
      return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    return 0;
  }

  // One field of the request's trailer section (RFC 9113 8.1). nghttp2 has refused
  // pseudo-header and connection-specific fields there already (stream error PROTOCOL_ERROR);
  // a field that could not be written as an HTTP/1.1 trailer line is refused the same way.
  static int on_trailer(h2_connection& c, h2_stream& s, std::string_view n, std::string_view v) {
    if (!h2_trailer_field_ok(n, v)) {
      nghttp2_submit_rst_stream(c.session_, NGHTTP2_FLAG_NONE, s.id, NGHTTP2_PROTOCOL_ERROR);
      return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    }
    s.trailer_size += n.size() + v.size() + 32;
    if (s.trailer_size > c.limits_.max_header_list) {
      // The request is already on its way: it cannot be answered 431 any more.
      nghttp2_submit_rst_stream(c.session_, NGHTTP2_FLAG_NONE, s.id, NGHTTP2_PROTOCOL_ERROR);
      return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    }
    if (s.chunked_in) s.trailers_in.append(n).append(": ").append(v).append("\r\n");
    return 0;
  }

  static int on_data_chunk(nghttp2_session* ng, std::uint8_t, std::int32_t id,
                           const std::uint8_t* data, std::size_t len, void* user) {
    auto& c = self(user);
    h2_stream* s = stream_of(c, id);
    if (s == nullptr || s->detached || !s->started) {
      nghttp2_session_consume(ng, id, len);  // nobody reads it: keep the windows open
      return 0;
    }
    if (s->chunked_in) {
      char size[24];
      s->in.append(size, h2_chunk_size_line(len, size));
    }
    s->in.append(reinterpret_cast<const char*>(data), len);
    if (s->chunked_in) s->in.append("\r\n");
    s->unconsumed += len;
    serve_read(c, *s);
    return 0;
  }

  static int on_frame_recv(nghttp2_session*, const nghttp2_frame* f, void* user) {
    auto& c = self(user);
    const std::int32_t id = f->hd.stream_id;
    switch (f->hd.type) {
      case NGHTTP2_HEADERS: {
        h2_stream* s = stream_of(c, id);
        if (s == nullptr) return 0;
        const bool end = (f->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
        if (f->headers.cat == NGHTTP2_HCAT_REQUEST) {
          start_stream(c, *s, end);
        } else if (end) {  // the trailer section ends the body
          end_input(*s);
          if (s->started) serve_read(c, *s);
        }
        return 0;
      }
      case NGHTTP2_DATA: {
        h2_stream* s = stream_of(c, id);
        const bool end = (f->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
        if (f->hd.length == 0 && !end && ++c.empty_data_ > c.limits_.max_empty_data)
          return calm_down(c);
        if (s != nullptr && end) {
          end_input(*s);
          if (s->started) serve_read(c, *s);
        }
        return 0;
      }
      case NGHTTP2_PING:  // the acknowledgement of drain's PING: the client saw the notice
        if ((f->hd.flags & NGHTTP2_FLAG_ACK) != 0 && std::memcmp(f->ping.opaque_data, drain_ping, 8) == 0)
          c.final_goaway();
        return 0;
      case NGHTTP2_RST_STREAM: {
        // CVE-2023-44487: streams opened and cancelled before their answer cost work
        // upstream; past the bound, and while they outnumber answered streams, the
        // connection is told to calm down.
        h2_stream* s = stream_of(c, id);
        if (s != nullptr && s->started && !s->end_sent && ++c.client_resets_ > c.limits_.max_client_resets &&
            c.client_resets_ > c.answered_)
          return calm_down(c);
        return 0;
      }
      default: return 0;
    }
  }

  static int calm_down(h2_connection& c) {
    if (!c.going_away_) {
      c.going_away_ = true;
      nghttp2_session_terminate_session(c.session_, NGHTTP2_ENHANCE_YOUR_CALM);
    }
    return 0;
  }

  static int on_frame_send(nghttp2_session*, const nghttp2_frame* f, void* user) {
    auto& c = self(user);
    if ((f->hd.type == NGHTTP2_HEADERS || f->hd.type == NGHTTP2_DATA) &&
        (f->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0) {
      if (h2_stream* s = stream_of(c, f->hd.stream_id)) {
        s->end_sent = true;
        ++c.answered_;
        if (s->detached) stop_request_body(c, *s);
      }
    }
    return 0;
  }

  static int on_stream_close(nghttp2_session*, std::int32_t id, std::uint32_t, void* user) {
    auto& c = self(user);
    auto it = c.streams_.find(id);
    if (it == c.streams_.end()) return 0;
    auto s = std::move(it->second);
    c.streams_.erase(it);
    nghttp2_session_set_stream_user_data(c.session_, id, nullptr);  // no stale pointer left
    s->closed = true;
    if (s->unconsumed > 0) {  // what nobody will read still frees the connection's window
      nghttp2_session_consume_connection(c.session_, s->unconsumed);
      s->unconsumed = 0;
    }
    if (s->started) {
      --c.active_;
      gauge_add(c.w_.gauges().http2_streams, -1);
      // The session learns it on its next read or write; an unread request body is gone.
      if (!s->in_ended) fail_pending(c, *s, asio::error::connection_reset);
      else serve_read(c, *s);
      if (s->pending_write) post(c, std::move(s->pending_write), asio::error::connection_reset, 0);
      if (c.active_ == 0) c.arm_idle(c.w_.settings().keep_alive);
    }
    return 0;
  }

  static void close_stream(h2_connection& c, h2_stream& s);

  // RFC 9113 8.1: once the answer is complete, a request body nobody reads is stopped with
  // RST_STREAM NO_ERROR (the stream would otherwise stay open, and count, for as long as the
  // client keeps it).
  static void stop_request_body(h2_connection& c, h2_stream& s) {
    if (s.in_ended || s.closed) return;
    nghttp2_submit_rst_stream(c.session_, NGHTTP2_FLAG_NONE, s.id, NGHTTP2_NO_ERROR);
    c.schedule_flush();
  }

  static void callbacks(nghttp2_session_callbacks* cb) {
    nghttp2_session_callbacks_set_on_begin_headers_callback(cb, on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data_chunk);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
    nghttp2_session_callbacks_set_on_frame_send_callback(cb, on_frame_send);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
  }
};

// ---------------------------------------------------------------- byte_stream's HTTP/2 mode

void h2_stream::read(asio::mutable_buffer b, io_handler h) {
  auto& s = *this;
  auto& c = *s.conn;
  if (s.detached) return h2_connection::impl::post(c, std::move(h), asio::error::bad_descriptor, 0);
  s.pending_read = std::move(h);
  s.read_buf = b;
  h2_connection::impl::serve_read(c, s);
}

void h2_stream::write(asio::const_buffer b, io_handler h) {
  auto& s = *this;
  auto& c = *s.conn;
  if (s.detached) return h2_connection::impl::post(c, std::move(h), asio::error::bad_descriptor, 0);
  h2_connection::impl::take_output(c, s, b, std::move(h));
}

void h2_stream::cancel() {
  h2_connection::impl::fail_pending(*conn, *this, asio::error::operation_aborted);
}

void h2_stream::close() { h2_connection::impl::close_stream(*conn, *this); }

void h2_connection::impl::close_stream(h2_connection& c, h2_stream& s) {
  if (s.detached) return;
  s.detached = true;
  h2_connection::impl::fail_pending(c, s, asio::error::operation_aborted);
  if (s.closed || c.closed_) return;
  if (s.resp) s.resp->end_of_input();
  if (s.resp && s.resp->current() == h1_response_reader::state::done) {
    s.resp_done = true;
    h2_connection::impl::wake_output(c, s);
    if (s.end_sent) stop_request_body(c, s);
  } else if (s.submitted && s.out.size() > s.out_off) {
    // The answer cannot be completed, but what came of it is the client's (a gRPC message
    // already relayed): nghttp2 drops a stream's queued DATA once its RST_STREAM is sent, so
    // the reset waits until read_body has handed out the rest.
    s.reset_when_drained = true;
    h2_connection::impl::wake_output(c, s);
  } else {
    // The answer cannot be completed: the client sees the stream reset (RFC 9113 8.1).
    nghttp2_submit_rst_stream(c.session_, NGHTTP2_FLAG_NONE, s.id, NGHTTP2_INTERNAL_ERROR);
  }
  c.schedule_flush();
}


// ---------------------------------------------------------------- the connection

h2_connection::h2_connection(worker& w, byte_stream conn, std::string peer, std::uint16_t listener_port)
    : w_(w), conn_(std::move(conn)), peer_(std::move(peer)), listener_port_(listener_port), watch_(w.context()),
      done_(w.context()) {
  enrolled_ = w_.enroll(this);
  gauge_add(w_.gauges().client_connections, 1);
  const auto& o = w_.options();
  const auto& s = w_.settings();
  limits_.max_concurrent_streams = s.http2_max_concurrent_streams;
  limits_.max_header_list = static_cast<std::uint32_t>(
      s.http2_max_header_size != 0 ? s.http2_max_header_size : o.max_header_bytes);
  limits_.max_header_fields = static_cast<std::uint32_t>(o.max_header_fields);
  limits_.max_field_size = static_cast<std::uint32_t>(s.http2_max_field_size);
  limits_.max_requests = s.http2_max_requests != 0 ? s.http2_max_requests : s.keep_alive_requests;
  gauge_add(w_.gauges().http2_connections, 1);
}

h2_connection::~h2_connection() {
  if (session_ != nullptr) nghttp2_session_del(session_);
  gauge_add(w_.gauges().client_connections, -1);
  gauge_add(w_.gauges().http2_connections, -1);
  // Streams still open when the connection closed were not closed one by one.
  gauge_add(w_.gauges().http2_streams, -static_cast<std::int64_t>(active_));
  w_.withdraw(enrolled_);
}

void h2_connection::start(std::string_view initial) {
  nghttp2_session_callbacks* cb = nullptr;
  nghttp2_session_callbacks_new(&cb);
  impl::callbacks(cb);
  nghttp2_option* opt = nullptr;
  nghttp2_option_new(&opt);
  nghttp2_option_set_no_auto_window_update(opt, 1);  // credited as the upstream side reads
  nghttp2_option_set_max_outbound_ack(opt, 1000);    // SETTINGS/PING flood
  nghttp2_option_set_max_settings(opt, 32);
  nghttp2_option_set_max_continuations(opt, 8);      // CVE-2024-28182
  nghttp2_option_set_stream_reset_rate_limit(opt, 1000, 33);
  const int rv = nghttp2_session_server_new3(&session_, cb, this, opt, h2_mem());
  nghttp2_option_del(opt);
  nghttp2_session_callbacks_del(cb);
  if (rv != 0) {
    session_ = nullptr;
    return close();
  }
  const nghttp2_settings_entry settings[] = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, limits_.max_concurrent_streams},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, static_cast<std::uint32_t>(stream_window)},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, limits_.max_header_list},
      {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
  };
  nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings, std::size(settings));
  nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0, connection_window);
  arm_idle(w_.settings().client_header_timeout);
  if (!initial.empty() && !receive(initial.data(), initial.size())) return close();
  flush();
  read_more();
}

// RFC 9113 6.8: a GOAWAY with the largest stream id and a PING first, so that requests the
// client sent before it saw the GOAWAY are still served; the final GOAWAY names the last
// stream taken once the PING comes back (or after a second). Streams begun finish.
void h2_connection::drain() {
  if (closed_ || going_away_ || session_ == nullptr) return;
  going_away_ = true;
  nghttp2_submit_shutdown_notice(session_);
  nghttp2_submit_ping(session_, NGHTTP2_FLAG_NONE, drain_ping);
  drain_at_ = clock_type::now() + std::chrono::seconds(1);
  watch_.set(drain_at_, *this);
  schedule_flush();
}

void h2_connection::final_goaway() {
  if (drain_at_ == clock_type::time_point{} || closed_) return;
  drain_at_ = {};
  nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE,
                        nghttp2_session_get_last_proc_stream_id(session_), NGHTTP2_NO_ERROR,
                        nullptr, 0);
  schedule_flush();
}

// No stream after the last one taken is accepted (keep-alive-requests reached).
void h2_connection::goaway_now() {
  if (closed_ || going_away_ || session_ == nullptr) return;
  going_away_ = true;
  nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE,
                        nghttp2_session_get_last_proc_stream_id(session_), NGHTTP2_NO_ERROR,
                        nullptr, 0);
  schedule_flush();
}

void h2_connection::force_close() { close(); }

void h2_connection::read_more() {
  if (closed_ || reading_ || failed_) return;
  if (!nghttp2_session_want_read(session_)) return;
  reading_ = true;
  if (!conn_.is_tls()) {
    // Cleartext: wait for readability, then read into the worker's buffer; the connection
    // holds no receive buffer of its own (measured: 16 KiB of ~33 KiB per idle connection).
    net::async_wait_readable(conn_.socket(), false,
                             [self = shared_from_this()](const boost::system::error_code& ec) {
                               self->on_readable(ec);
                             });
    return;
  }
  if (!rbuf_) rbuf_ = std::make_unique<char[]>(read_size);
  conn_.async_read_some(asio::buffer(rbuf_.get(), read_size),
                        [self = shared_from_this()](const boost::system::error_code& ec,
                                                    std::size_t n) {
                          self->reading_ = false;
                          self->on_read(ec, self->rbuf_.get(), n);
                        });
}

void h2_connection::on_readable(const boost::system::error_code& ec) {
  reading_ = false;
  if (closed_) return;
  if (ec) return close();
  thread_local const std::unique_ptr<char[]> buf = std::make_unique<char[]>(read_size);
  boost::system::error_code rec;
  conn_.socket().non_blocking(true, rec);
  const std::size_t n = conn_.socket().read_some(asio::buffer(buf.get(), read_size), rec);
  if (rec == asio::error::would_block || rec == asio::error::try_again) return read_more();
  if (!rec && n == 0) return read_more();
  on_read(rec, buf.get(), n);
}

void h2_connection::on_read(const boost::system::error_code& ec, const char* data, std::size_t n) {
  if (closed_) return;
  if (ec) return close();
  if (!receive(data, n)) return close();
  flush();
  read_more();
}

bool h2_connection::receive(const char* data, std::size_t n) {
  const auto rv = nghttp2_session_mem_recv(session_, reinterpret_cast<const std::uint8_t*>(data), n);
  if (rv < 0) {
    // A connection error: nghttp2 has queued GOAWAY where one is due; it goes out, then the
    // connection closes (within a second whatever the client reads). A flood (more
    // acknowledgements queued than the bound) closes at once, as the client is not reading.
    going_away_ = true;
    failed_ = true;
    if (rv != NGHTTP2_ERR_BAD_CLIENT_MAGIC && rv != NGHTTP2_ERR_FLOODED &&
        nghttp2_session_want_write(session_)) {
      flush();
      arm_idle(std::chrono::milliseconds(1000));
      return true;
    }
    return false;
  }
  return true;
}

void h2_connection::schedule_flush() {
  if (flush_posted_ || closed_) return;
  flush_posted_ = true;
  asio::post(w_.context(), [self = shared_from_this()] {
    self->flush_posted_ = false;
    self->flush();
    self->read_more();
  });
}

void h2_connection::flush() {
  if (writing_ || closed_ || session_ == nullptr) return;
  wbuf_.clear();
  while (wbuf_.size() < write_batch) {
    const std::uint8_t* data = nullptr;
    const auto n = nghttp2_session_mem_send(session_, &data);
    if (n < 0) return close();
    if (n == 0) break;
    wbuf_.append(reinterpret_cast<const char*>(data), static_cast<std::size_t>(n));
  }
  if (wbuf_.empty()) {
    if (failed_) return close();
    if (!nghttp2_session_want_read(session_) && !nghttp2_session_want_write(session_)) close();
    else if (going_away_ && active_ == 0 && drain_at_ == clock_type::time_point{} &&
             !nghttp2_session_want_write(session_))
      close();
    return;
  }
  writing_ = true;
  asio::async_write(conn_, asio::buffer(wbuf_),
                    [self = shared_from_this()](const boost::system::error_code& ec, std::size_t) {
                      self->writing_ = false;
                      if (ec) return self->close();
                      if (self->active_ == 0 && self->streams_.empty()) {
                        self->wbuf_.clear();  // an idle connection keeps no send buffer
                        self->wbuf_.shrink_to_fit();
                      }
                      self->flush();
                      self->read_more();
                    });
}

void h2_connection::close() {
  if (closed_) return;
  closed_ = true;
  watch_.cancel();
  boost::system::error_code ec;
  // The socket closes; the TLS layer stays until the connection object goes, as the
  // streams' sessions may still look at the handshake.
  conn_.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ec);
  conn_.socket().close(ec);
  auto streams = std::move(streams_);
  streams_.clear();
  for (auto& [id, s] : streams) {
    s->closed = true;
    impl::fail_pending(*this, *s, asio::error::connection_reset);
  }
}

void h2_connection::arm_idle(std::chrono::milliseconds d) {
  if (closed_) {
    watch_.postpone(clock_type::now() + d);
    return;
  }
  watch_.set(clock_type::now() + d, *this);
}

// No request in progress for the header timeout (a new connection) or keep-alive: GOAWAY
// and close, as an idle HTTP/1.1 connection is closed.
void h2_connection::on_timer() {
  if (closed_) return;
  const auto now = clock_type::now();
  if (failed_ && now >= watch_.deadline()) return close();
  if (drain_at_ != clock_type::time_point{}) {  // draining, the final GOAWAY not yet sent
    if (now < drain_at_) return watch_.set(drain_at_, *this);
    final_goaway();
    return arm_idle(std::chrono::milliseconds(1000));
  }
  if (active_ > 0 && !failed_) return;  // re-armed when the last stream ends
  if (now < watch_.deadline()) return watch_.wait(*this);
  if (going_away_) return close();  // a GOAWAY already went and the client did not leave
  going_away_ = true;
  nghttp2_session_terminate_session(session_, NGHTTP2_NO_ERROR);
  flush();
  arm_idle(std::chrono::milliseconds(1000));
}

// ---------------------------------------------------------------- h2c from an HTTP/1.1 session

// RFC 9113 3.4: a connection that starts with the HTTP/2 preface on the plain port. Its first
// line ("PRI * HTTP/2.0") is refused by the HTTP/1.1 parser, so the check is made only on
// that error path and costs nothing to HTTP/1.1 requests.
bool http_session::h2c_preface() const {
  constexpr std::string_view line = "PRI * HTTP/2.0\r\n\r\n";
  return requests_ == 1 && cbuf_.size() >= line.size() && !client_.is_tls() && !h2_stream_ &&
         w_.options().h2c &&
         std::memcmp(cbuf_.data().data(), line.data(), line.size()) == 0;
}

// The connection goes on as HTTP/2 with what was read of it; this session ends unlogged.
bool http_session::start_h2c() {
  std::string initial(static_cast<const char*>(cbuf_.data().data()), cbuf_.size());
  cbuf_.consume(cbuf_.size());
  watch_.cancel();
  closed_ = true;
  snap_.reset();
  rp_.reset();
  std::make_shared<h2_connection>(w_, std::move(client_), peer_ip_, listener_port_)->start(initial);
  return false;
}

}  // namespace portico::proxy
