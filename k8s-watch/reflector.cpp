#include "k8s-watch/reflector.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <algorithm>
#include <iostream>
#include <set>

#include "config/decode_json.hpp"

namespace portico::watch {

namespace asio = boost::asio;
namespace json = boost::json;
using asio::awaitable;
using asio::use_awaitable;
using config::object_kind;

std::string resource_spec::collection_path() const {
  std::string p = group_version_path;
  if (namespaced && !namespace_name.empty()) p += "/namespaces/" + namespace_name;
  return p + "/" + plural;
}

std::vector<resource_spec> standard_resources(const std::string& ns, const std::string& configmap) {
  const std::string net = "/apis/networking.k8s.io/v1";
  std::vector<resource_spec> r{
      {object_kind::ingress_class, net, "ingressclasses", false, "", ""},
      {object_kind::ingress, net, "ingresses", true, ns, ""},
      {object_kind::service, "/api/v1", "services", true, ns, ""},
      {object_kind::endpoint_slice, "/apis/discovery.k8s.io/v1", "endpointslices", true, ns, ""},
      {object_kind::secret, "/api/v1", "secrets", true, ns, "type=kubernetes.io/tls"},
      // htpasswd files of auth-secret (ingress-nginx's basic authentication Secrets).
      {object_kind::secret, "/api/v1", "secrets", true, ns, "type=Opaque"},
  };
  r.push_back({object_kind::config_map, "/api/v1", "configmaps", true, ns, ""});
  if (!configmap.empty() && !ns.empty()) {
    auto slash = configmap.find('/');
    std::string cm_ns = slash == std::string::npos ? "default" : configmap.substr(0, slash);
    std::string cm_name = slash == std::string::npos ? configmap : configmap.substr(slash + 1);
    if (cm_ns != ns)
      r.push_back({object_kind::config_map, "/api/v1", "configmaps", true, cm_ns,
                   "metadata.name=" + cm_name});
  }
  return r;
}

std::vector<resource_spec> gateway_api_resources(const std::string& ns) {
  const std::string gw = "/apis/gateway.networking.k8s.io/v1";
  std::vector<resource_spec> r{
      {object_kind::gateway_class, gw, "gatewayclasses", false, "", ""},
      {object_kind::gateway, gw, "gateways", true, ns, ""},
      {object_kind::http_route, gw, "httproutes", true, ns, ""},
      {object_kind::grpc_route, gw, "grpcroutes", true, ns, ""},
      {object_kind::reference_grant, "/apis/gateway.networking.k8s.io/v1beta1", "referencegrants",
       true, ns, ""},
      {object_kind::namespace_, "/api/v1", "namespaces", false, "", ""},
  };
  for (auto& spec : r) spec.optional = true;
  return r;
}

bool resource_spec::covers(const config::object_meta& m) const {
  if (namespaced && !namespace_name.empty() && m.namespace_name != namespace_name) return false;
  constexpr std::string_view by_name = "metadata.name=";
  if (field_selector.starts_with(by_name) && m.name != field_selector.substr(by_name.size()))
    return false;
  return true;
}

std::string url_encode(std::string_view s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    }
  }
  return out;
}

namespace {

std::string json_string(const json::value* v) {
  if (v && v->is_string()) return std::string(v->get_string());
  return {};
}

// "ns/name" or "name", as config::object_key, read from raw metadata.
std::string raw_key(const json::object& obj, bool& ok) {
  ok = false;
  auto* md = obj.if_contains("metadata");
  if (!md || !md->is_object()) return {};
  std::string name = json_string(md->as_object().if_contains("name"));
  std::string ns = json_string(md->as_object().if_contains("namespace"));
  ok = !name.empty();
  return ns.empty() ? name : ns + "/" + name;
}

std::string raw_rv(const json::object& obj) {
  auto* md = obj.if_contains("metadata");
  if (!md || !md->is_object()) return {};
  return json_string(md->as_object().if_contains("resourceVersion"));
}

bool is_cluster_scoped(object_kind k) {
  return k == object_kind::ingress_class || k == object_kind::gateway_class ||
         k == object_kind::namespace_;
}

// The memory a list's pages are parsed into: one buffer kept from page to page (grown when a
// page needed more), so that a 500-object page costs no malloc and free of its arena blocks
// and no fresh pages from the kernel. Freed when the list is done.
class page_arena {
 public:
  json::monotonic_resource resource() {
    spilled_.bytes = 0;
    if (!buffer_) return json::monotonic_resource(std::size_t{64} << 10, &spilled_);
    return json::monotonic_resource(buffer_.get(), size_, &spilled_);
  }
  // Grows the buffer to what the last page took in all (its buffer and what spilled over).
  void page_done() {
    if (spilled_.bytes == 0) return;
    size_ += spilled_.bytes;
    buffer_ = std::make_unique_for_overwrite<unsigned char[]>(size_);
  }

 private:
  // The heap behind the buffer, counting what the arena asked of it.
  struct counting_resource final : json::memory_resource {
    std::size_t bytes = 0;
    void* do_allocate(std::size_t n, std::size_t align) override {
      bytes += n;
      return ::operator new(n, std::align_val_t(align));
    }
    // Unsized: monotonic_resource hands back a block with a size other than it asked for
    // (ASan: new-delete-type-mismatch).
    void do_deallocate(void* p, std::size_t, std::size_t align) override {
      ::operator delete(p, std::align_val_t(align));
    }
    bool do_is_equal(const json::memory_resource& o) const noexcept override { return this == &o; }
  };
  std::unique_ptr<unsigned char[]> buffer_;
  std::size_t size_ = 0;
  counting_resource spilled_;
};

// An optional resource's list answered 404 (not served) or 403 (not allowed).
struct absent_error : api_error {
  int status;
  explicit absent_error(int s) : api_error("HTTP " + std::to_string(s)), status(s) {}
};

}  // namespace

event_outcome apply_watch_event(const json::value& event, object_kind kind, reflector_sink& sink,
                                std::string& resource_version, std::string* message) {
  const json::object* ev = event.if_object();
  if (!ev) return event_outcome::ignored;
  std::string type = json_string(ev->if_contains("type"));
  const json::value* objv = ev->if_contains("object");
  if (!objv || !objv->is_object()) return event_outcome::ignored;
  const json::object& obj = objv->get_object();
  if (type == "ERROR") {
    const json::value* code = obj.if_contains("code");
    if (message) *message = json_string(obj.if_contains("message"));
    if (code && code->is_number() && code->to_number<std::int64_t>() == 410) {
      return event_outcome::expired;
    }
    return event_outcome::error;
  }
  std::string rv = raw_rv(obj);
  if (type == "BOOKMARK") {
    if (!rv.empty()) resource_version = rv;
    return event_outcome::bookmark;
  }
  if (type == "DELETED") {
    bool ok = false;
    std::string key = raw_key(obj, ok);
    if (!ok) return event_outcome::ignored;
    if (!is_cluster_scoped(kind) && key.find('/') == std::string::npos) key = "default/" + key;
    sink.erase(kind, key);
  } else if (type == "ADDED" || type == "MODIFIED") {
    auto res = config::decode_json_value(*objv, kind, "watch");
    for (auto& e : res.errors) sink.decode_failed(e);
    if (res.objects.empty()) {
      // Undecodable now: what was there before no longer describes the object.
      bool ok = false;
      std::string key = raw_key(obj, ok);
      if (ok) sink.erase(kind, key);
    }
    for (auto& o : res.objects) {
      if (config::kind_of(o) == kind) sink.upsert(std::move(o));
    }
  } else {
    return event_outcome::ignored;
  }
  if (!rv.empty()) resource_version = rv;
  return event_outcome::applied;
}

namespace {
template <class T>
void erase_covered(config::object_map<T>& m, const resource_spec& spec) {
  std::erase_if(m, [&](const auto& kv) { return spec.covers(kv.second.meta); });
}
// Secrets are listed by type (two lists): a relist replaces the Secrets of its own type only.
void erase_covered(config::object_map<config::secret>& m, const resource_spec& spec) {
  constexpr std::string_view by_type = "type=";
  const std::string_view sel = spec.field_selector;
  std::erase_if(m, [&](const auto& kv) {
    return spec.covers(kv.second.meta) &&
           (!sel.starts_with(by_type) || kv.second.type == sel.substr(by_type.size()));
  });
}
}  // namespace

void replace_kind(config::cluster_state& state, const resource_spec& spec,
                  std::vector<config::any_object> objects) {
  switch (spec.kind) {
    case object_kind::ingress_class: erase_covered(state.ingress_classes, spec); break;
    case object_kind::ingress: erase_covered(state.ingresses, spec); break;
    case object_kind::service: erase_covered(state.services, spec); break;
    case object_kind::endpoint_slice: erase_covered(state.endpoint_slices, spec); break;
    case object_kind::endpoints: erase_covered(state.endpoints_list, spec); break;
    case object_kind::secret: erase_covered(state.secrets, spec); break;
    case object_kind::config_map: erase_covered(state.config_maps, spec); break;
    case object_kind::namespace_: erase_covered(state.namespaces, spec); break;
    case object_kind::gateway_class: erase_covered(state.gateway_classes, spec); break;
    case object_kind::gateway: erase_covered(state.gateways, spec); break;
    case object_kind::http_route: erase_covered(state.http_routes, spec); break;
    case object_kind::grpc_route: erase_covered(state.grpc_routes, spec); break;
    case object_kind::reference_grant: erase_covered(state.reference_grants, spec); break;
  }
  for (auto& o : objects) {
    if (config::kind_of(o) == spec.kind) config::apply(state, std::move(o));
  }
}

backoff::backoff(std::chrono::milliseconds base, std::chrono::milliseconds cap, std::uint64_t seed)
    : base_(base), cap_(cap), rng_(seed ? seed : std::random_device{}()) {}

std::chrono::milliseconds backoff::next() {
  auto d = base_;
  for (unsigned i = 0; i < attempt_ && d < cap_; ++i) d *= 2;
  if (d > cap_) d = cap_;
  if (attempt_ < 64) ++attempt_;
  auto half = d.count() / 2;
  std::uniform_int_distribution<long long> dist(half, d.count());
  return std::chrono::milliseconds(dist(rng_));
}

reflector::reflector(asio::any_io_executor ex, api_client& client, resource_spec spec,
                     reflector_sink& sink, reflector_options opts)
    : client_(client),
      spec_(std::move(spec)),
      sink_(sink),
      opts_(std::move(opts)),
      timer_(ex),
      backoff_(opts_.backoff_base, opts_.backoff_cap) {}

void reflector::log(const std::string& msg) const {
  std::string line = "watch " + spec_.plural + ": " + msg;
  if (opts_.log) {
    opts_.log(line);
  } else {
    std::cerr << line << "\n";
  }
}

void reflector::start() {
  asio::co_spawn(timer_.get_executor(), [self = shared_from_this()] { return self->run(); },
                 asio::detached);
}

void reflector::stop() {
  stopped_ = true;
  timer_.cancel();
}

awaitable<void> reflector::run() {
  bool need_list = true;
  while (!stopped_) {
    bool wait = true;
    bool absent_wait = false;
    try {
      if (need_list) {
        co_await list();
        need_list = false;
      }
      watch_end end = co_await watch();
      if (end == watch_end::expired) {
        need_list = true;
        wait = false;
      } else if (end == watch_end::closed) {
        wait = false;
      }
    } catch (const absent_error& e) {
      if (!stopped_) mark_absent(e.status);
      absent_wait = true;
    } catch (const std::exception& e) {
      if (!stopped_) log(e.what());
    }
    if (stopped_) break;
    if (!wait) continue;
    // Absent (not served, not allowed): asked again at its own, slower, period.
    timer_.expires_after(absent_wait ? opts_.absent_retry : backoff_.next());
    boost::system::error_code ec;
    co_await timer_.async_wait(asio::redirect_error(use_awaitable, ec));
  }
}

// The resource is not served (or not allowed): its objects are gone, and it counts as listed
// so that everything else is served.
void reflector::mark_absent(int http_status) {
  if (!absent_) {
    absent_ = true;
    sink_.replace_all(spec_, {});
    sink_.resource_absent(spec_, http_status);
  }
  rv_.clear();
  if (!synced_) {
    synced_ = true;
    sink_.list_synced(spec_.kind);
  }
}

awaitable<void> reflector::list() {
  // The list's objects (decoded page by page straight into it) and each page's decode errors.
  config::decode_result listed;
  std::vector<config::any_object>& all = listed.objects;
  std::string cont, rv;
  std::string selector =
      spec_.field_selector.empty() ? "" : "&fieldSelector=" + url_encode(spec_.field_selector);
  int restarts = 0;
  int pages = 0;
  auto started = std::chrono::steady_clock::now();
  std::chrono::steady_clock::duration decoding{};  // JSON parse and object decode
  page_arena arena;
  for (;;) {
    ++pages;
    std::string target = spec_.collection_path() + "?limit=" + std::to_string(opts_.page_size) +
                         selector + (cont.empty() ? "" : "&continue=" + url_encode(cont));
    api_response resp = co_await client_.call("GET", target);
    if (stopped_) co_return;
    if (resp.status == 410 && !cont.empty() && restarts++ < 3) {
      all.clear();  // the continue token expired: list again from the start
      cont.clear();
      continue;
    }
    if (spec_.optional && (resp.status == 404 || resp.status == 403)) throw absent_error(resp.status);
    if (resp.status != 200) {
      throw api_error("list: HTTP " + std::to_string(resp.status) + ": " + resp.body.substr(0, 200));
    }
    const auto decode_start = std::chrono::steady_clock::now();
    {
      // The page's JSON lives in one arena, freed at once when the page is decoded: allocating
      // and freeing every node with malloc was about half of the list's CPU at 10,000 objects
      // a kind (bench/micro/list_decode_bench.cpp). The arena's memory is kept for the next
      // page (page_arena).
      json::monotonic_resource mr = arena.resource();
      json::value v = json::parse(resp.body, &mr);
      resp.body.clear();
      const json::object& root = v.as_object();
      const json::object* md = root.if_contains("metadata") ? root.at("metadata").if_object() : nullptr;
      if (auto* items = root.if_contains("items"); items && items->is_array()) {
        // Room for the whole list when the server says how much remains (remainingItemCount),
        // else geometric growth: reserving exactly one page more moved every object listed so
        // far on each page (at 50,000 objects, 100 pages: most of the list's decode CPU).
        std::size_t need = all.size() + items->get_array().size();
        if (const json::value* rest = md ? md->if_contains("remainingItemCount") : nullptr;
            rest && rest->is_int64() && rest->get_int64() > 0 && rest->get_int64() < 10'000'000)
          need += static_cast<std::size_t>(rest->get_int64());
        if (need > all.capacity()) all.reserve(std::max(need, 2 * all.capacity()));
        for (const auto& item : items->get_array())
          config::decode_json_value(item, spec_.kind, "list", listed);
        for (auto& e : listed.errors) sink_.decode_failed(e);
        listed.errors.clear();
      }
      rv = md ? json_string(md->if_contains("resourceVersion")) : std::string();
      cont = md ? json_string(md->if_contains("continue")) : std::string();
    }
    arena.page_done();
    decoding += std::chrono::steady_clock::now() - decode_start;
    if (cont.empty()) break;
  }
  auto took = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  const auto decode_ms = std::chrono::duration_cast<std::chrono::milliseconds>(decoding).count();
  log("listed " + std::to_string(all.size()) + " objects in " + std::to_string(pages) +
      " page(s), " + std::to_string(static_cast<int>(took * 1000)) + " ms (" +
      std::to_string(decode_ms) + " ms of it decoding), resourceVersion " + rv);
  sink_.replace_all(spec_, std::move(all));
  rv_ = rv;
  if (absent_) {
    absent_ = false;
    sink_.resource_present(spec_);
  }
  ++lists_;
  backoff_.reset();
  if (!synced_) {
    synced_ = true;
    sink_.list_synced(spec_.kind);
  }
}

awaitable<reflector::watch_end> reflector::watch() {
  std::string target = spec_.collection_path() + "?watch=true&allowWatchBookmarks=true" +
                       "&resourceVersion=" + url_encode(rv_) +
                       "&timeoutSeconds=" + std::to_string(opts_.watch_timeout_seconds);
  if (!spec_.field_selector.empty()) target += "&fieldSelector=" + url_encode(spec_.field_selector);
  std::size_t events = 0;
  bool expired = false;
  auto started = std::chrono::steady_clock::now();
  api_response resp = co_await client_.stream(
      target,
      [&](json::value&& ev) {
        if (stopped_ || expired) return;
        std::string msg;
        switch (apply_watch_event(ev, spec_.kind, sink_, rv_, &msg)) {
          case event_outcome::expired: expired = true; break;
          case event_outcome::error: log("watch error event: " + msg); break;
          case event_outcome::applied:
          case event_outcome::bookmark: ++events; break;
          case event_outcome::ignored: break;
        }
      },
      opts_.idle_timeout);
  if (expired || resp.status == 410 ||
      (spec_.optional && (resp.status == 404 || resp.status == 403))) {
    log("resourceVersion " + rv_ + " expired: relisting");
    co_return watch_end::expired;
  }
  if (resp.status != 200) {
    log("watch: HTTP " + std::to_string(resp.status) + ": " + resp.body.substr(0, 200));
    co_return watch_end::failed;
  }
  if (events > 0) backoff_.reset();
  if (events == 0 && std::chrono::steady_clock::now() - started < std::chrono::seconds(1)) {
    co_return watch_end::failed;  // closed at once: do not spin
  }
  co_return watch_end::closed;
}

}  // namespace portico::watch
