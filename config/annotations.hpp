// The ingress-nginx annotations: a registry of every key ingress-nginx documents (supported,
// ignored, unsupported, refused, or denying the route), and the reader that decodes one
// Ingress's annotations into its routes' route_policy. A bad value names the Ingress, the
// annotation and the reason (a build_error) and only that annotation is ignored; a key under
// our prefix that the registry does not know is reported, never silently dropped.
//
// Keys are read under --annotations-prefix (default nginx.ingress.kubernetes.io) and under
// portico.dev/ as an alias; when both set a key, the prefix's value is used.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "config/build.hpp"
#include "config/controller_config.hpp"
#include "config/route_policy.hpp"

namespace portico::config {

// supported: decoded and applied. ignored: accepted, no effect here (the note says why).
// unsupported: a build_error, no effect. refused: never applied by design (snippets), a
// build_error. denies: a protection Portico does not apply yet; the Ingress's routes answer
// 503 with the reason rather than serve without it.
enum class annotation_support : std::uint8_t { supported, ignored, unsupported, refused, denies };

struct annotation_spec {
  std::string_view key;  // without prefix: "rewrite-target"
  annotation_support support;
  std::string_view note;  // what it does here, or why not
};

inline constexpr std::string_view default_annotations_prefix = "nginx.ingress.kubernetes.io";
inline constexpr std::string_view alias_annotations_prefix = "portico.dev";

const std::vector<annotation_spec>& annotation_registry();  // sorted by key
const annotation_spec* find_annotation(std::string_view key);
std::string_view support_text(annotation_support s);

// One annotation of ours as written on the object.
struct our_annotation {
  std::string written_key;  // "nginx.ingress.kubernetes.io/rewrite-target"
  std::string value;
};
// An Ingress's annotations under the prefix or the alias, by key without prefix.
using our_annotations = std::map<std::string, our_annotation, std::less<>>;
our_annotations collect_annotations(const ingress& ing, std::string_view prefix,
                                    std::vector<build_error>& errors);

// Decodes the policy of each Ingress's routes.
class annotation_reader {
 public:
  annotation_reader(const cluster_state& state, const controller_config& settings,
                    std::vector<build_error>& errors)
      : state_(state), settings_(settings), errors_(errors) {}

  // The policy for the routes of `ing`, whose annotations of ours are `anns`. Ingresses
  // without annotations of ours share one policy (the ConfigMap's defaults) in a build.
  route_policy_ptr read(const ingress& ing, const our_annotations& anns);

  struct ctx;  // what a decoder works on (annotations.cpp)

 private:
  route_policy_ptr read_all(const ingress& ing, const our_annotations& anns);

  const cluster_state& state_;
  const controller_config& settings_;
  std::vector<build_error>& errors_;
  route_policy_ptr defaults_;  // the policy of an Ingress without annotations of ours
};

// The README table: one row per key (annotation, support, note), markdown.
std::string annotation_table_markdown();
std::string setting_table_markdown();

}  // namespace portico::config
