// One reflector per resource: list (in pages), then watch from the list's resourceVersion;
// events applied in order; 410 -> relist (a relist replaces the resource's objects as a
// whole); broken streams -> re-watch from the last resourceVersion after a backoff.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json/fwd.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "config/decode.hpp"
#include "k8s-watch/api_client.hpp"

namespace portico::watch {

struct resource_spec {
  config::object_kind kind;
  std::string group_version_path;  // "/api/v1" or "/apis/networking.k8s.io/v1"
  std::string plural;              // "ingresses"
  bool namespaced = true;
  std::string namespace_name;      // restrict to this namespace ("" = all)
  std::string field_selector;      // e.g. "type=kubernetes.io/tls"
  // A kind the cluster may not serve (a CRD not installed, no RBAC for it): a 404 or 403 on
  // the list counts as an empty, synced list (everything else keeps being served) and the list
  // is retried every reflector_options::absent_retry until it succeeds.
  bool optional = false;

  std::string collection_path() const;  // ".../namespaces/ns/ingresses" or ".../ingresses"
  // Whether an object of this kind is one this reflector lists: its namespace, and the name
  // of a "metadata.name=" selector. A relist replaces exactly these.
  bool covers(const config::object_meta& m) const;
};

// IngressClass, Ingress, Service, EndpointSlice, TLS Secrets and ConfigMaps (the controller's
// --configmap and those annotations and ConfigMap keys refer to: custom-headers, add-headers,
// proxy-set-headers). watch_namespace limits the namespaced ones; a --configmap outside it is
// watched by name.
std::vector<resource_spec> standard_resources(const std::string& watch_namespace,
                                              const std::string& configmap);

// The Gateway API kinds Portico reads (gateway.networking.k8s.io: GatewayClass, Gateway,
// HTTPRoute v1, ReferenceGrant v1beta1 -- the versions every standard-channel release from
// v1.0 to v1.6 serves) and Namespaces (labels, for allowedRoutes selectors). All optional.
std::vector<resource_spec> gateway_api_resources(const std::string& watch_namespace);

std::string url_encode(std::string_view s);

// Where a reflector puts what it learns. A seam for tests; api_source is the real one.
class reflector_sink {
 public:
  virtual ~reflector_sink() = default;
  // A (re)list: the objects of `kind` are exactly `objects` from now on.
  // A relist: the objects `spec` covers are replaced by `objects`.
  virtual void replace_all(const resource_spec& spec, std::vector<config::any_object> objects) = 0;
  virtual void upsert(config::any_object obj) = 0;
  virtual void erase(config::object_kind kind, const std::string& key) = 0;
  virtual void decode_failed(const config::decode_error& err) {}
  virtual void list_synced(config::object_kind kind) {}
  // An optional resource answered `http_status` (404, 403) to its list: absent until
  // resource_present() (its objects were replaced by none).
  virtual void resource_absent(const resource_spec& spec, int http_status) {}
  virtual void resource_present(const resource_spec& spec) {}
};

enum class event_outcome { applied, bookmark, expired, error, ignored };

// Applies one watch event ({"type": ..., "object": ...}) to the sink, advancing
// resource_version. ERROR with code 410 gives `expired`; other ERRORs give `error` (with the
// message in *message when given).
event_outcome apply_watch_event(const boost::json::value& event, config::object_kind kind,
                                reflector_sink& sink, std::string& resource_version,
                                std::string* message = nullptr);

// Replaces every object `spec` covers in `state` by `objects` (what a relist means).
void replace_kind(config::cluster_state& state, const resource_spec& spec,
                  std::vector<config::any_object> objects);

// Exponential backoff with jitter: attempt n waits a uniform time in [d/2, d] where
// d = min(cap, base * 2^n).
class backoff {
 public:
  backoff(std::chrono::milliseconds base, std::chrono::milliseconds cap, std::uint64_t seed = 0);
  std::chrono::milliseconds next();
  void reset() { attempt_ = 0; }
  unsigned attempt() const { return attempt_; }

 private:
  std::chrono::milliseconds base_, cap_;
  unsigned attempt_ = 0;
  std::mt19937_64 rng_;
};

struct reflector_options {
  std::chrono::milliseconds backoff_base{250};
  std::chrono::milliseconds backoff_cap{30000};
  std::size_t page_size = 500;
  int watch_timeout_seconds = 300;  // server side; each watch asks for 1x..2x of it / 2
  std::chrono::seconds idle_timeout{330};  // nothing received for this long: reconnect
  std::chrono::milliseconds absent_retry{30000};  // an absent optional resource is listed again
  std::function<void(const std::string&)> log;  // default: stderr
};

class reflector : public std::enable_shared_from_this<reflector> {
 public:
  reflector(boost::asio::any_io_executor ex, api_client& client, resource_spec spec,
            reflector_sink& sink, reflector_options opts);
  void start();
  void stop();
  bool synced() const { return synced_; }
  const resource_spec& spec() const { return spec_; }
  const std::string& resource_version() const { return rv_; }
  std::uint64_t relists() const { return lists_; }

 private:
  enum class watch_end { closed, expired, failed };
  boost::asio::awaitable<void> run();
  boost::asio::awaitable<void> list();
  void mark_absent(int http_status);
  boost::asio::awaitable<watch_end> watch();
  void log(const std::string& msg) const;

  api_client& client_;
  resource_spec spec_;
  reflector_sink& sink_;
  reflector_options opts_;
  boost::asio::steady_timer timer_;
  backoff backoff_;
  std::string rv_;
  bool synced_ = false;
  bool stopped_ = false;
  bool absent_ = false;
  std::uint64_t lists_ = 0;
};

}  // namespace portico::watch
