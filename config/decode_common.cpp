// Format-independent parts of decoding: kinds, base64, error text, applying objects.
#include <array>

#include "config/decode_objects.hpp"

namespace portico::config {

namespace detail {

std::optional<std::string> base64_decode(std::string_view in) {
  static constexpr auto table = [] {
    std::array<signed char, 256> t{};
    t.fill(-1);
    const char* a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (int i = 0; i < 64; ++i) t[static_cast<unsigned char>(a[i])] = static_cast<signed char>(i);
    return t;
  }();
  std::string out;
  out.reserve(in.size() / 4 * 3);
  std::uint32_t acc = 0;
  int bits = 0, pad = 0, count = 0;
  for (char ch : in) {
    if (ch == '\r' || ch == '\n') continue;
    if (ch == '=') {
      ++pad;
      ++count;
      continue;
    }
    int v = table[static_cast<unsigned char>(ch)];
    if (v < 0 || pad > 0) return std::nullopt;  // a bad character, or data after padding
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    ++count;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  if (count % 4 != 0 || pad > 2) return std::nullopt;
  // Padding must be exactly what the data length implies, and leftover bits must be zero.
  int data_chars = count - pad;
  if ((data_chars % 4 == 1) || (pad > 0 && (data_chars % 4) + pad != 4)) return std::nullopt;
  if (bits > 0 && (acc & ((1u << bits) - 1)) != 0) return std::nullopt;
  return out;
}

std::optional<object_kind> kind_from_name(std::string_view kind) {
  for (auto k : {object_kind::ingress_class, object_kind::ingress, object_kind::service,
                 object_kind::endpoint_slice, object_kind::endpoints, object_kind::secret,
                 object_kind::config_map, object_kind::namespace_, object_kind::gateway_class,
                 object_kind::gateway, object_kind::http_route, object_kind::reference_grant,
                 object_kind::grpc_route}) {
    if (kind == kind_name(k)) return k;
  }
  return std::nullopt;
}

bool is_namespaced(object_kind k) {
  return k != object_kind::ingress_class && k != object_kind::namespace_ &&
         k != object_kind::gateway_class;
}

}  // namespace detail

std::string decode_error::to_string() const {
  std::string out = source.empty() ? "<input>" : source;
  if (line > 0) {
    out += ':';
    out += std::to_string(line);
  }
  out += ": ";
  for (const std::string* part : {&object, &field}) {
    if (part->empty()) continue;
    out += *part;
    out += ": ";
  }
  out += message;
  return out;
}

void apply(cluster_state& state, any_object obj) {
  std::visit([&](auto&& o) { state.upsert(std::move(o)); }, std::move(obj));
}

object_kind kind_of(const any_object& obj) {
  struct visitor {
    object_kind operator()(const ingress_class&) const { return object_kind::ingress_class; }
    object_kind operator()(const ingress&) const { return object_kind::ingress; }
    object_kind operator()(const service&) const { return object_kind::service; }
    object_kind operator()(const endpoint_slice&) const { return object_kind::endpoint_slice; }
    object_kind operator()(const endpoints&) const { return object_kind::endpoints; }
    object_kind operator()(const secret&) const { return object_kind::secret; }
    object_kind operator()(const config_map&) const { return object_kind::config_map; }
    object_kind operator()(const namespace_object&) const { return object_kind::namespace_; }
    object_kind operator()(const gateway_class&) const { return object_kind::gateway_class; }
    object_kind operator()(const gateway&) const { return object_kind::gateway; }
    object_kind operator()(const http_route&) const { return object_kind::http_route; }
    object_kind operator()(const grpc_route&) const { return object_kind::grpc_route; }
    object_kind operator()(const reference_grant&) const { return object_kind::reference_grant; }
  };
  return std::visit(visitor{}, obj);
}

const object_meta& meta_of(const any_object& obj) {
  return std::visit([](const auto& o) -> const object_meta& { return o.meta; }, obj);
}

}  // namespace portico::config
