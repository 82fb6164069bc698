#include "proxy/h2_upstream.hpp"

#include <nghttp2/nghttp2.h>

#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>

#include <algorithm>
#include <cstring>
#include <string>
#include <unordered_map>

#include "proxy/h2_completions.hpp"
#include "proxy/h2_mem.hpp"
#include "proxy/h2_upstream_translate.hpp"

namespace portico::proxy {

namespace asio = boost::asio;
using clock_type = std::chrono::steady_clock;

namespace {
constexpr std::size_t read_size = 16 * 1024;
constexpr std::size_t write_batch = 64 * 1024;
// Request bytes a stream holds before the session's write waits for the upstream's window.
constexpr std::size_t stream_out_limit = 64 * 1024;
// Response window per stream (credited as the session reads) and per connection.
constexpr std::int32_t stream_window = 256 * 1024;
constexpr std::int32_t connection_window = 4 * 1024 * 1024;
// Streams assumed allowed before the server's SETTINGS say (RFC 9113 6.5.2 recommends at
// least 100).
constexpr std::uint32_t assumed_streams = 100;

nghttp2_nv make_nv(std::string_view n, std::string_view v) {
  return {reinterpret_cast<std::uint8_t*>(const_cast<char*>(n.data())),
          reinterpret_cast<std::uint8_t*>(const_cast<char*>(v.data())), n.size(), v.size(),
          NGHTTP2_NV_FLAG_NONE};
}
}  // namespace

// One request's stream. The connection's map holds it while nghttp2 has it open; the session
// holds it through its byte_stream until it is done.
class h2_up_stream final : public stream_channel, public std::enable_shared_from_this<h2_up_stream> {
 public:
  h2_up_stream(std::shared_ptr<h2_upstream_conn> c, std::string_view scheme)
      : conn(std::move(c)), req(scheme) {
    h2_spares<std::string>::take(in);
    h2_spares<std::string>::take(out);
  }
  ~h2_up_stream() override {
    h2_spares<std::string>::give(in);
    h2_spares<std::string>::give(out);
  }

  void read(asio::mutable_buffer b, io_handler h) override;
  void write(asio::const_buffer b, io_handler h) override;
  void cancel() override;
  void close() override;
  bool open() const override { return !detached && !closed; }

  std::shared_ptr<h2_upstream_conn> conn;
  std::int32_t id = -1;  // -1: the request head is not complete yet
  // Request: what the session wrote, translated; `out` is body the upstream has not taken.
  h1_request_reader req;
  std::string out;
  std::size_t out_off = 0;
  bool deferred = false;
  io_handler pending_write;
  std::size_t pending_write_n = 0;
  // Response: HTTP/1.1 text for the session.
  h2_response_writer resp;
  std::string in;
  std::size_t in_off = 0;
  std::size_t unconsumed = 0;  // DATA payload not yet credited back to the upstream
  io_handler pending_read;
  asio::mutable_buffer read_buf;
  bool closed = false;    // nghttp2 closed it (or the connection went)
  bool refused = false;   // closed unprocessed: safe to send again
  bool answered_early = false;  // closed with NO_ERROR after a complete answer
  bool detached = false;  // the session is done with it
};

class h2_upstream_conn : public std::enable_shared_from_this<h2_upstream_conn> {
 public:
  h2_upstream_conn(asio::io_context& ctx, byte_stream conn)
      : ctx_(ctx), conn_(std::move(conn)), scheme_(conn_.is_tls() ? "https" : "http"), done_(ctx) {}
  ~h2_upstream_conn() {
    if (session_ != nullptr) nghttp2_session_del(session_);
  }

  bool start();
  // Room for one more stream.
  bool has_room() const {
    if (closed_ || going_away_ || session_ == nullptr) return false;
    const std::uint32_t max =
        nghttp2_session_get_remote_settings(session_, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
    return open_ < std::min<std::uint64_t>(max, settings_seen_ ? max : assumed_streams);
  }
  bool closed() const { return closed_; }
  bool idle_since(steady_time t) const { return open_ == 0 && last_active_ <= t; }
  std::shared_ptr<h2_up_stream> new_stream() {
    ++open_;
    last_active_ = clock_type::now();
    return std::allocate_shared<h2_up_stream>(h2_block_allocator<h2_up_stream>(), shared_from_this(),
                                              scheme_);
  }
  byte_stream::tls_stream* tls() { return conn_.tls(); }
  void close();
  void shut_down_idle();

  // For the streams.
  void stream_write(h2_up_stream& s, asio::const_buffer b, io_handler h);
  void stream_read(h2_up_stream& s);
  void stream_detach(h2_up_stream& s);
  void fail_pending(h2_up_stream& s, const boost::system::error_code& ec);

 private:
  struct cb;
  friend struct cb;
  void post(io_handler h, const boost::system::error_code& ec, std::size_t n) {
    done_.post(*this, std::move(h), ec, n);
  }
  bool submit(h2_up_stream& s);
  void stream_gone(h2_up_stream& s);
  void read_more();
  void schedule_flush();
  void flush();

  asio::io_context& ctx_;
  byte_stream conn_;
  std::string scheme_;
  h2_completions done_;  // the streams' read and write completions
  nghttp2_session* session_ = nullptr;
  std::unique_ptr<char[]> rbuf_;
  std::string wbuf_;
  bool writing_ = false;
  bool reading_ = false;
  bool flush_posted_ = false;
  bool closed_ = false;
  bool going_away_ = false;
  bool settings_seen_ = false;
  std::uint32_t open_ = 0;  // streams handed out and not yet finished
  steady_time last_active_ = clock_type::now();
  std::unordered_map<std::int32_t, std::shared_ptr<h2_up_stream>> streams_;
};

// ---------------------------------------------------------------- nghttp2 callbacks

struct h2_upstream_conn::cb {
  static h2_upstream_conn& self(void* user) { return *static_cast<h2_upstream_conn*>(user); }
  static h2_up_stream* stream_of(h2_upstream_conn& c, std::int32_t id) {
    auto it = c.streams_.find(id);
    return it == c.streams_.end() ? nullptr : it->second.get();
  }

  static int on_header(nghttp2_session*, const nghttp2_frame* f, const std::uint8_t* name,
                       std::size_t namelen, const std::uint8_t* value, std::size_t valuelen,
                       std::uint8_t, void* user) {
    if (f->hd.type != NGHTTP2_HEADERS) return 0;
    if (h2_up_stream* s = stream_of(self(user), f->hd.stream_id))
      s->resp.add_field({reinterpret_cast<const char*>(name), namelen},
                        {reinterpret_cast<const char*>(value), valuelen});
    return 0;
  }

  static int on_data_chunk(nghttp2_session* ng, std::uint8_t, std::int32_t id,
                           const std::uint8_t* data, std::size_t len, void* user) {
    auto& c = self(user);
    h2_up_stream* s = stream_of(c, id);
    if (s == nullptr || s->detached) {
      nghttp2_session_consume(ng, id, len);  // nobody reads it: keep the windows open
      return 0;
    }
    s->resp.data({reinterpret_cast<const char*>(data), len}, s->in);
    s->unconsumed += len;
    c.stream_read(*s);
    return 0;
  }

  static int on_frame_recv(nghttp2_session* ng, const nghttp2_frame* f, void* user) {
    auto& c = self(user);
    const bool end = (f->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
    switch (f->hd.type) {
      case NGHTTP2_HEADERS: {
        h2_up_stream* s = stream_of(c, f->hd.stream_id);
        if (s == nullptr) return 0;
        if (!s->resp.end_headers(end, s->in)) {
          nghttp2_submit_rst_stream(ng, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_PROTOCOL_ERROR);
          c.schedule_flush();
        }
        c.stream_read(*s);
        return 0;
      }
      case NGHTTP2_DATA: {
        h2_up_stream* s = stream_of(c, f->hd.stream_id);
        if (s != nullptr && end) {
          s->resp.end_stream(s->in);
          c.stream_read(*s);
        }
        return 0;
      }
      case NGHTTP2_SETTINGS: c.settings_seen_ = true; return 0;
      case NGHTTP2_GOAWAY: c.going_away_ = true; return 0;  // no new stream here
      default: return 0;
    }
  }

  static int on_stream_close(nghttp2_session* ng, std::int32_t id, std::uint32_t error, void* user) {
    auto& c = self(user);
    auto it = c.streams_.find(id);
    if (it == c.streams_.end()) return 0;
    auto s = std::move(it->second);
    c.streams_.erase(it);
    s->closed = true;
    // REFUSED_STREAM, also what nghttp2 reports for streams above a GOAWAY's last stream id:
    // the server did not process the request (RFC 9113 8.7).
    s->refused = error == NGHTTP2_REFUSED_STREAM && !s->resp.head_sent();
    s->answered_early = error == NGHTTP2_NO_ERROR && s->resp.complete();
    if (s->unconsumed > 0) {
      nghttp2_session_consume_connection(ng, s->unconsumed);
      s->unconsumed = 0;
    }
    if (s->detached) c.stream_gone(*s);
    c.stream_read(*s);
    if (s->pending_write && s->answered_early) {
      c.post(std::move(s->pending_write), {}, s->pending_write_n);
    } else if (s->pending_write) {
      c.post(std::move(s->pending_write),
             s->refused ? asio::error::connection_refused : asio::error::connection_reset, 0);
    }
    return 0;
  }

  static ssize_t read_body(nghttp2_session* ng, std::int32_t, std::uint8_t* buf, std::size_t length,
                           std::uint32_t* flags, nghttp2_data_source* src, void* user) {
    auto& c = self(user);
    auto& s = *static_cast<h2_up_stream*>(src->ptr);
    const std::size_t have = s.out.size() - s.out_off;
    const std::size_t n = std::min(have, length);
    std::memcpy(buf, s.out.data() + s.out_off, n);
    s.out_off += n;
    if (s.out_off == s.out.size()) {
      s.out.clear();
      s.out_off = 0;
    }
    if (s.pending_write && s.out.size() - s.out_off < stream_out_limit)
      c.post(std::move(s.pending_write), {}, s.pending_write_n);
    if (s.out.empty() && s.req.current() == h1_request_reader::state::done) {
      *flags |= NGHTTP2_DATA_FLAG_EOF;
      if (!s.req.trailers().empty()) {
        *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
        std::vector<nghttp2_nv> nv;
        for (const auto& [k, v] : s.req.trailers()) nv.push_back(make_nv(k, v));
        nghttp2_submit_trailer(ng, s.id, nv.data(), nv.size());
      }
      return static_cast<ssize_t>(n);
    }
    if (n == 0) {
      s.deferred = true;
      return NGHTTP2_ERR_DEFERRED;
    }
    return static_cast<ssize_t>(n);
  }

  static void install(nghttp2_session_callbacks* cbs) {
    nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
  }
};

// ---------------------------------------------------------------- the stream

void h2_up_stream::read(asio::mutable_buffer b, io_handler h) {
  pending_read = std::move(h);
  read_buf = b;
  if (detached) return conn->fail_pending(*this, asio::error::bad_descriptor);
  conn->stream_read(*this);
}

void h2_up_stream::write(asio::const_buffer b, io_handler h) {
  conn->stream_write(*this, b, std::move(h));
}

void h2_up_stream::cancel() { conn->fail_pending(*this, asio::error::operation_aborted); }

void h2_up_stream::close() { conn->stream_detach(*this); }

void h2_upstream_conn::fail_pending(h2_up_stream& s, const boost::system::error_code& ec) {
  if (s.pending_read) post(std::move(s.pending_read), ec, 0);
  if (s.pending_write) post(std::move(s.pending_write), ec, 0);
}

// Hands the session what the stream has, end of input, or its failure.
void h2_upstream_conn::stream_read(h2_up_stream& s) {
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
    const std::size_t credit = std::min(n, s.unconsumed);
    if (credit > 0 && !s.closed && !closed_) {
      s.unconsumed -= credit;
      nghttp2_session_consume(session_, s.id, credit);
      schedule_flush();
    }
    last_active_ = clock_type::now();
    return post(std::move(s.pending_read), {}, n);
  }
  if (s.resp.complete()) return post(std::move(s.pending_read), asio::error::eof, 0);
  if (s.closed)
    post(std::move(s.pending_read),
         s.refused ? asio::error::connection_refused : asio::error::connection_reset, 0);
}

void h2_upstream_conn::stream_write(h2_up_stream& s, asio::const_buffer b, io_handler h) {
  if (s.detached) return post(std::move(h), asio::error::bad_descriptor, 0);
  // The server answered in full and closed the stream before it had the whole request
  // (RST_STREAM NO_ERROR, RFC 9113 8.1): the rest of the request is not wanted; the answer
  // stands, so the bytes are taken and dropped.
  if (s.closed && s.answered_early) return post(std::move(h), {}, b.size());
  if (s.closed || closed_)
    return post(std::move(h), s.refused ? asio::error::connection_refused : asio::error::connection_reset, 0);
  if (s.req.current() == h1_request_reader::state::done)
    return post(std::move(h), asio::error::message_size, 0);  // bytes after the request
  s.req.feed({static_cast<const char*>(b.data()), b.size()}, s.out);
  if (s.req.current() == h1_request_reader::state::error) {
    if (s.id >= 0) nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, s.id, NGHTTP2_INTERNAL_ERROR);
    schedule_flush();
    return post(std::move(h), asio::error::invalid_argument, 0);
  }
  last_active_ = clock_type::now();
  if (s.id < 0 && s.req.head_ready()) {
    if (!submit(s)) return post(std::move(h), asio::error::connection_refused, 0);
  } else if (s.deferred && s.id >= 0 &&
             (s.out.size() > s.out_off || s.req.current() == h1_request_reader::state::done)) {
    s.deferred = false;
    nghttp2_session_resume_data(session_, s.id);
    schedule_flush();
  }
  if (s.out.size() - s.out_off < stream_out_limit) return post(std::move(h), {}, b.size());
  s.pending_write = std::move(h);
  s.pending_write_n = b.size();
}

bool h2_upstream_conn::submit(h2_up_stream& s) {
  h2_nv_list nv(s.req.fields().size());
  for (const auto& [n, v] : s.req.fields()) nv.add(n, v);
  nghttp2_data_provider dp{};
  dp.source.ptr = &s;
  dp.read_callback = &cb::read_body;
  const std::int32_t id =
      nghttp2_submit_request(session_, nullptr, nv.data(), nv.size(), s.req.no_body() ? nullptr : &dp, &s);
  if (id < 0) {
    // No stream id left on this connection: it takes no more; the request was not sent.
    going_away_ = true;
    s.closed = true;
    s.refused = true;
    return false;
  }
  s.id = id;
  streams_.emplace(id, s.shared_from_this());
  schedule_flush();
  return true;
}

// The session is done with the stream: an exchange still in progress is cancelled.
void h2_upstream_conn::stream_detach(h2_up_stream& s) {
  if (s.detached) return;
  s.detached = true;
  fail_pending(s, asio::error::operation_aborted);
  if (s.unconsumed > 0 && !s.closed && !closed_) {
    nghttp2_session_consume(session_, s.id, s.unconsumed);
    s.unconsumed = 0;
  }
  if (s.closed || s.id < 0 || closed_) return stream_gone(s);
  const bool finished = s.resp.complete() && s.req.current() == h1_request_reader::state::done;
  if (!finished) {
    nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, s.id, NGHTTP2_CANCEL);
    schedule_flush();
  }
  // The stream leaves the map (and open_ drops) when nghttp2 closes it.
}

void h2_upstream_conn::stream_gone(h2_up_stream& s) {
  if (!s.detached || s.id == -2) return;
  s.id = -2;  // counted out once
  if (open_ > 0) --open_;
  last_active_ = clock_type::now();
  if (going_away_ && open_ == 0) schedule_flush();
}

// ---------------------------------------------------------------- the connection

bool h2_upstream_conn::start() {
  nghttp2_session_callbacks* cbs = nullptr;
  nghttp2_session_callbacks_new(&cbs);
  cb::install(cbs);
  nghttp2_option* opt = nullptr;
  nghttp2_option_new(&opt);
  nghttp2_option_set_no_auto_window_update(opt, 1);  // credited as the session reads
  nghttp2_option_set_peer_max_concurrent_streams(opt, assumed_streams);
  nghttp2_option_set_max_outbound_ack(opt, 1000);
  nghttp2_option_set_max_settings(opt, 32);
  nghttp2_option_set_max_continuations(opt, 8);
  const int rv = nghttp2_session_client_new3(&session_, cbs, this, opt, h2_mem());
  nghttp2_option_del(opt);
  nghttp2_session_callbacks_del(cbs);
  if (rv != 0) {
    session_ = nullptr;
    return false;
  }
  const nghttp2_settings_entry settings[] = {
      {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, static_cast<std::uint32_t>(stream_window)},
  };
  nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings, std::size(settings));
  nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0, connection_window);
  schedule_flush();
  read_more();
  return true;
}

void h2_upstream_conn::read_more() {
  if (closed_ || reading_) return;
  reading_ = true;
  if (!rbuf_) rbuf_ = std::make_unique<char[]>(read_size);
  conn_.async_read_some(asio::buffer(rbuf_.get(), read_size),
                        [self = shared_from_this()](const boost::system::error_code& ec, std::size_t n) {
                          self->reading_ = false;
                          if (self->closed_) return;
                          if (ec) return self->close();
                          const auto rv = nghttp2_session_mem_recv(
                              self->session_, reinterpret_cast<const std::uint8_t*>(self->rbuf_.get()), n);
                          if (rv < 0) {
                            self->going_away_ = true;
                            self->flush();  // a GOAWAY nghttp2 queued, then close
                            return self->close();
                          }
                          self->flush();
                          self->read_more();
                        });
}

void h2_upstream_conn::schedule_flush() {
  if (flush_posted_ || closed_) return;
  flush_posted_ = true;
  asio::post(ctx_, [self = shared_from_this()] {
    self->flush_posted_ = false;
    self->flush();
  });
}

void h2_upstream_conn::flush() {
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
    if (going_away_ && open_ == 0 && streams_.empty()) close();
    else if (!nghttp2_session_want_read(session_) && !nghttp2_session_want_write(session_)) close();
    return;
  }
  writing_ = true;
  asio::async_write(conn_, asio::buffer(wbuf_),
                    [self = shared_from_this()](const boost::system::error_code& ec, std::size_t) {
                      self->writing_ = false;
                      if (ec) return self->close();
                      self->flush();
                    });
}

// Closes the connection: every stream still open fails (connection_reset: whether the server
// processed it is not known).
void h2_upstream_conn::close() {
  if (closed_) return;
  closed_ = true;
  boost::system::error_code ec;
  conn_.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ec);
  conn_.socket().close(ec);
  auto streams = std::move(streams_);
  streams_.clear();
  for (auto& [id, s] : streams) {
    s->closed = true;
    if (s->detached) stream_gone(*s);
    stream_read(*s);
    if (s->pending_write) post(std::move(s->pending_write), asio::error::connection_reset, 0);
  }
}

// Idle too long: GOAWAY, then close once it is written.
void h2_upstream_conn::shut_down_idle() {
  if (closed_) return;
  going_away_ = true;
  nghttp2_session_terminate_session(session_, NGHTTP2_NO_ERROR);
  schedule_flush();
}

// ---------------------------------------------------------------- the pool

h2_upstream_pool::~h2_upstream_pool() { clear(); }

bool h2_upstream_pool::open_stream(const endpoint_state& ep, std::uint64_t tls_key, byte_stream& out) {
  for (auto& s : slots_) {
    if (s.ep != ep.address || s.tls_key != tls_key) continue;
    for (auto& c : s.conns) {
      if (!c->has_room()) continue;
      out = byte_stream(ctx_, c->new_stream(), c->tls());
      return true;
    }
  }
  return false;
}

bool h2_upstream_pool::adopt(const endpoint_state& ep, std::uint64_t tls_key, byte_stream conn,
                             byte_stream& out) {
  auto c = std::make_shared<h2_upstream_conn>(ctx_, std::move(conn));
  if (!c->start()) {
    c->close();
    return false;
  }
  slot* s = nullptr;
  for (auto& x : slots_)
    if (x.ep == ep.address && x.tls_key == tls_key) s = &x;
  if (s == nullptr) {
    slots_.push_back(slot{ep.address, tls_key, {}});
    s = &slots_.back();
  }
  out = byte_stream(ctx_, c->new_stream(), c->tls());
  s->conns.push_back(std::move(c));
  return true;
}

void h2_upstream_pool::sweep(steady_time now, std::chrono::milliseconds idle_timeout) {
  for (auto it = slots_.begin(); it != slots_.end();) {
    auto& conns = it->conns;
    for (auto& c : conns)
      if (!c->closed() && c->idle_since(now - idle_timeout)) c->shut_down_idle();
    std::erase_if(conns, [](const auto& c) { return c->closed(); });
    it = conns.empty() ? slots_.erase(it) : it + 1;
  }
}

void h2_upstream_pool::clear() {
  for (auto& s : slots_)
    for (auto& c : s.conns) c->close();
  slots_.clear();
}

std::size_t h2_upstream_pool::connection_count() const {
  std::size_t n = 0;
  for (const auto& s : slots_) n += s.conns.size();
  return n;
}

}  // namespace portico::proxy
