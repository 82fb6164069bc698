#include "proxy/idle_conn.hpp"

#include <algorithm>
#include <memory>

#include "proxy/accept_loop.hpp"
#include "proxy/buffer_cache.hpp"
#include "proxy/http_session.hpp"
#include "proxy/net/socket_state.hpp"
#include "proxy/observe.hpp"
#include "proxy/worker.hpp"

namespace portico::proxy {

namespace asio = boost::asio;

namespace {
// At most 64 spare blocks of each kind per thread: the shells and idle-wait operations of
// connections that are busy now, for the next ones to go idle.
using shell_cache = block_cache<glibc_chunk_rounding::of(sizeof(idle_conn)), 64>;

// The idle wait's operation: from a per-thread cache of blocks of its own size rounded to
// glibc's (136 bytes: 144 with the chunk header), where Asio's recycling cache would hand it
// a larger block freed by a write (256), held for as long as the connection idles.
template <class T>
using wait_allocator = object_allocator<T, glibc_chunk_rounding>;
}  // namespace

void* idle_conn::operator new(std::size_t n) {
  return n <= shell_cache::block_size ? shell_cache::take() : ::operator new(n);
}

void idle_conn::operator delete(void* p) noexcept { shell_cache::give(p); }

idle_conn::idle_conn(worker& w, byte_stream conn, carry c)
    : w_(w), conn_(std::move(conn)), carry_(std::move(c)) {
  if (!carry_.first_request) return;  // counted when it was accepted
  gauge_add(w_.gauges().client_connections, 1);
  // The listener passes the address accept() returned (or the PROXY header's); asking the
  // socket is the fallback.
  if (carry_.peer.empty()) {
    boost::system::error_code ec;
    auto remote = conn_.socket().remote_endpoint(ec);
    if (!ec) carry_.peer = address_text(remote.address());
  }
}

idle_conn::~idle_conn() {
  w_.idle().remove(*this);
  if (counted_) {
    gauge_add(w_.gauges().client_connections, -1);
    w_.idle_closed();
  }
}

void idle_conn::wait(worker& w, byte_stream conn, carry c, bool armed,
                     std::chrono::milliseconds waited) {
  auto self = std::make_unique<idle_conn>(w, std::move(conn), std::move(c));
  if (w.draining()) return self->close_quietly();
  // A new connection gets client_header_timeout to send its first byte (nginx closes a silent
  // connection after it, without an answer); between requests the keep-alive timeout applies.
  // Both end quietly.
  const auto& cfg = w.settings();
  const bool first = self->carry_.first_request;
  w.idle().add(*self, first,
               clock::now() + (first ? cfg.client_header_timeout
                                     : std::max(cfg.keep_alive - waited, std::chrono::milliseconds(0))));
  start_wait(std::move(self), armed);
}

// The idle wait: readiness without a buffer. Under TLS the bytes OpenSSL already holds (a
// pipelined request) count as readable. `armed`: see wait().
void idle_conn::start_wait(std::unique_ptr<idle_conn> self, bool armed) {
  idle_conn& c = *self;
  // A handler with its own allocator_type, not bind_allocator(): the binder made Asio keep a
  // second executor in the operation (200 bytes against 136).
  struct on_ready_handler {
    std::unique_ptr<idle_conn> self;
    using allocator_type = wait_allocator<void>;
    allocator_type get_allocator() const noexcept { return {}; }
    void operator()(const boost::system::error_code& ec) {
      idle_conn& c = *self;
      c.on_ready(std::move(self), ec);
    }
  };
  on_ready_handler on_ready{std::move(self)};
  if (c.conn_.is_tls()) c.conn_.async_wait_readable(std::move(on_ready));
  else net::async_wait_readable(c.conn_.socket(), armed, std::move(on_ready));
}

void idle_conn::on_ready(std::unique_ptr<idle_conn> self, const boost::system::error_code& ec) {
  w_.idle().remove(*this);
  // (While draining, a request already on its way is still served, as before the split.)
  if (ec || expired_ || !conn_.is_open()) return close_quietly();  // `self` goes with it
  http_session::serve_from(w_, *this);
}

// The FIN first, then the close (unread bytes would make close() alone send a reset).
void idle_conn::close_quietly() {
  expired_ = true;
  boost::system::error_code ec;
  conn_.shutdown_send(ec);
  conn_.close(ec);
}

void idle_conn::expire() {
  w_.idle().remove(*this);
  expired_ = true;
  boost::system::error_code ec;
  if (conn_.is_open()) {
    conn_.cancel(ec);  // the wait ends with operation_aborted and closes
  }
}

void idle_conn::close_now() {
  w_.idle().remove(*this);
  expired_ = true;
  boost::system::error_code ec;
  conn_.close(ec);
}

// ---------------------------------------------------------------- idle_set

void idle_set::start(asio::io_context& ctx) {
  fresh_.timer = std::make_unique<asio::steady_timer>(ctx);
  kept_.timer = std::make_unique<asio::steady_timer>(ctx);
}

void idle_set::stop() {
  fresh_.timer.reset();
  kept_.timer.reset();
  fresh_.pending = kept_.pending = false;
}

void idle_set::add(idle_conn& c, bool first, clock::time_point deadline) {
  queue& q = first ? fresh_ : kept_;
  c.deadline_ = deadline;
  c.in_fresh_ = first;
  link(q, c);
  ++size_;
  if (!q.timer) return;
  if (!q.pending) arm(q);
  else if (deadline < q.expiry) q.timer->cancel();  // the handler arms again, earlier
}

// In deadline order. The deadline is now + a timeout that changes only with the settings, so
// a new connection almost always goes last; a shortened timeout walks back.
void idle_set::link(queue& q, idle_conn& c) {
  idle_conn* after = q.tail;
  while (after != nullptr && after->deadline_ > c.deadline_) after = after->prev_;
  c.prev_ = after;
  c.next_ = after != nullptr ? after->next_ : q.head;
  if (c.next_ != nullptr) c.next_->prev_ = &c;
  else q.tail = &c;
  if (after != nullptr) after->next_ = &c;
  else q.head = &c;
  c.linked_ = true;
}

void idle_set::remove(idle_conn& c) {
  if (!c.linked_) return;
  queue& q = queue_of(c);
  if (c.prev_ != nullptr) c.prev_->next_ = c.next_;
  else q.head = c.next_;
  if (c.next_ != nullptr) c.next_->prev_ = c.prev_;
  else q.tail = c.prev_;
  c.prev_ = c.next_ = nullptr;
  c.linked_ = false;
  --size_;
}

// One wait for the earliest deadline. A connection leaving the list does not touch the timer:
// the wait ends at a deadline nobody has any more, and the next one is armed then.
void idle_set::arm(queue& q) {
  if (q.head == nullptr) return;
  q.pending = true;
  q.expiry = q.head->deadline_;
  q.timer->expires_at(q.expiry);
  q.timer->async_wait([this, &q](const boost::system::error_code&) {
    q.pending = false;
    if (q.timer) sweep(q);
  });
}

void idle_set::sweep(queue& q) {
  const auto now = clock::now();
  while (q.head != nullptr && q.head->deadline_ <= now) q.head->expire();  // unlinks it
  if (!q.pending) arm(q);
}

void idle_set::expire_all() {
  for (queue* q : {&fresh_, &kept_})
    while (q->head != nullptr) q->head->expire();
}

void idle_set::close_all() {
  for (queue* q : {&fresh_, &kept_})
    while (q->head != nullptr) q->head->close_now();
}

// ---------------------------------------------------------------- the session's side

http_session::http_session(worker& w, idle_conn& c)
    : w_(w), client_(c.take_conn()), up_(w.context()), watch_(w.context()) {
  adopt(c);
}

void http_session::adopt(idle_conn& c) {
  if (!client_.is_open()) client_ = c.take_conn();
  w_.enroll(enrolled_, false);
  counted_ = true;  // take_conn() handed the count over
  auto& k = c.state();
  peer_ip_ = std::move(k.peer);
  requests_ = k.requests;
  trusted_version_ = k.trusted_version;
  first_request_ = k.first_request;
  peer_trusted_ = k.peer_trusted;
  listener_port_ = k.listener_port;
  phase_ = session_phase::idle;
  closed_ = timed_out_ = orderly_end_ = client_closes_ = handed_off_ = false;
}

http_session::spare_list& http_session::spares() {
  thread_local spare_list l;
  return l;
}

void http_session::drop_spares() {
  auto& l = spares();
  for (auto& s : l.v) s->watch_.cancel();  // its pending wait holds it
  l.v.clear();
  l.mark = {};
}

void http_session::trim_spares(bool idle) {
  constexpr std::size_t keep = 8;
  auto& l = spares();
  const std::size_t n = l.mark.to_free(l.v.size(), keep, idle);
  // The bottom of the stack: the longest unused.
  for (std::size_t i = 0; i < n; ++i) l.v[i]->watch_.cancel();  // its pending wait holds it
  l.v.erase(l.v.begin(), l.v.begin() + static_cast<std::ptrdiff_t>(n));
}

namespace {
// Sessions made when no spare was there (more requests in flight than spares): their memory
// comes from a per-thread cache of at most 64 blocks.
template <class T>
using session_allocator = object_allocator<T, cache_line_rounding>;
}  // namespace

// A keep-alive request takes a spare session: constructing one per request cost ~3,100
// instructions more per request (callgrind, bench keepalive).
void http_session::serve_from(worker& w, idle_conn& c) {
  auto& l = spares();
  if (!l.v.empty() && &l.v.back()->w_ == &w) {
    auto s = std::move(l.v.back());
    l.v.pop_back();
    s->adopt(c);
    return s->resume();
  }
  std::allocate_shared<http_session>(session_allocator<http_session>{}, w, c)->resume();
}

// Nothing of the next request is buffered here (bytes OpenSSL holds go with the TLS stream):
// the connection moves to an idle_conn, and this session becomes a spare, or ends once its
// deadline watch's cancelled wait has run.
void http_session::go_idle() {
  if (handed_off_) return retire();  // serve() gave the connection to an idle_conn itself
  if (closed_ || w_.draining()) return close_connection();
  hand_off(false);
  retire();
}

// The connection to an idle_conn (`armed`: idle_conn::wait).
void http_session::hand_off(bool armed) {
  release_idle_memory();
  close_upstream();
  closed_ = true;  // what may still run here (on_timer) does nothing
  // A warm wait that end_warm_wait() ended began in the tick period after warm_tick_: at least
  // (ticks - warm_tick_ - 1) periods ago. The keep-alive timeout counts from the answer.
  std::chrono::milliseconds waited{0};
  if (warm_expired_ && w_.ticks() > warm_tick_ + 1)
    waited = worker::tick_period * static_cast<long>(w_.ticks() - warm_tick_ - 1);
  warm_expired_ = false;
  idle_conn::wait(w_, std::move(client_),
                  {std::move(peer_ip_), requests_, trusted_version_, listener_port_, false,
                   peer_trusted_},
                  armed, waited);
  counted_ = false;
  handed_off_ = true;
}

// The session without its connection: a spare for the worker's next request, or gone.
void http_session::retire() {
  handed_off_ = false;
  w_.withdraw(enrolled_, h2_stream_);
  auto& v = spares().v;
  if (v.size() < 64 && !w_.draining()) v.push_back(shared_from_this());
  else watch_.cancel();  // its wait would keep the session until the deadline
}

}  // namespace portico::proxy
