// A small Kubernetes API client: HTTP/1.1 over TCP or TLS (Beast + OpenSSL), one connection
// per request, bearer token (re-read from its file periodically) or client certificate.
// Coroutine interface on the control thread's executor.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/json/value.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "k8s-watch/kube_config.hpp"

namespace portico::watch {

struct api_response {
  unsigned status = 0;
  std::string body;
};

// Network or protocol failure (connect refused, reset, TLS error, timeout, bad framing).
struct api_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class api_client {
 public:
  api_client(boost::asio::any_io_executor ex, kube_config cfg);
  ~api_client();
  api_client(const api_client&) = delete;
  api_client& operator=(const api_client&) = delete;

  // One request; the whole response body is returned. Throws api_error on network failure.
  // `target` is the path and query ("/api/v1/services?limit=500").
  boost::asio::awaitable<api_response> call(std::string_view method, std::string target,
                                            std::string body = {},
                                            std::string content_type = "application/json");

  // A watch: each newline-delimited JSON object of a 200 response is passed to on_event as
  // it arrives (parsed incrementally). Returns when the server ends the stream (status 200,
  // empty body) or with the status and body of an error response. Throws api_error on
  // network failure or when nothing arrives for `idle_timeout`.
  boost::asio::awaitable<api_response> stream(std::string target,
                                              std::function<void(boost::json::value&&)> on_event,
                                              std::chrono::seconds idle_timeout);

  // Closes every open connection; pending and later calls fail with api_error.
  void shutdown();

  const kube_config& config() const { return cfg_; }
  std::chrono::milliseconds request_timeout{30000};

  struct impl;  // defined in api_client.cpp

 private:
  std::string bearer();
  kube_config cfg_;
  std::unique_ptr<impl> impl_;
};

}  // namespace portico::watch
