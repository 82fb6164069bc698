// The data plane's entry point: worker threads, publishing, health and shutdown.
#include "proxy/server.hpp"

#include <boost/asio/signal_set.hpp>

namespace portico::proxy {

struct server::impl {
  boost::asio::io_context& control;
  server_options opts;
  boost::asio::signal_set signals{control};
  config::snapshot_ptr current;
  std::function<void()> stopped;
  impl(boost::asio::io_context& c, server_options o) : control(c), opts(std::move(o)) {}
};

server::server(boost::asio::io_context& control, server_options opts)
    : impl_(std::make_unique<impl>(control, std::move(opts))) {}

server::~server() = default;

void server::start() {
  impl_->signals.add(SIGTERM);
  impl_->signals.add(SIGINT);
  impl_->signals.async_wait([this](const boost::system::error_code& ec, int) {
    if (!ec && impl_->stopped) impl_->stopped();
  });
}

void server::publish(config::snapshot_ptr snap, const publish_info&) { impl_->current = std::move(snap); }
void server::reload_failed() {}
void server::on_stopped(std::function<void()> fn) { impl_->stopped = std::move(fn); }
std::uint16_t server::http_port() const { return impl_->opts.http_port; }
std::uint16_t server::admin_port() const { return impl_->opts.admin_port; }

}  // namespace portico::proxy
