// Decoding Kubernetes objects from YAML (multi-document) and JSON into config/model.hpp types.
// Unknown fields are ignored; wrong types and missing required fields are errors that name
// "Kind namespace/name", the field path, and (for files) the line.
#pragma once

#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "config/cluster_state.hpp"
#include "config/model.hpp"

namespace portico::config {

using any_object = std::variant<ingress_class, ingress, service, endpoint_slice, endpoints,
                                secret, config_map, namespace_object, gateway_class, gateway,
                                http_route, reference_grant, grpc_route>;

struct decode_error {
  std::string source;  // file name or "<input>"
  int line = 0;        // 1-based; 0 when unknown (JSON from the API)
  std::string object;  // "Ingress default/web" when known
  std::string field;   // "spec.rules[0].host"
  std::string message;
  std::string to_string() const;  // "file.yaml:12: Ingress default/web: spec.rules[0].host: ..."
};

struct decode_result {
  std::vector<any_object> objects;
  std::vector<decode_error> errors;  // one bad object never stops the others
};

// Every document of a YAML stream (kinds Portico does not read are skipped silently;
// a List's items are expanded).
decode_result decode_yaml(std::string_view text, std::string_view source = "<input>");
// One JSON object (or a List). Used for API responses and watch events.
decode_result decode_json(std::string_view text, std::string_view source = "<input>");

void apply(cluster_state& state, any_object obj);
object_kind kind_of(const any_object& obj);
const object_meta& meta_of(const any_object& obj);

}  // namespace portico::config
