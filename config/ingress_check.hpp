// Which Ingresses are ours (class filtering) and whether an Ingress is valid enough to serve.
// Used by config::build().
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "config/build.hpp"

namespace portico::config {

inline constexpr std::string_view legacy_class_annotation = "kubernetes.io/ingress.class";
inline constexpr std::string_view default_class_annotation =
    "ingressclass.kubernetes.io/is-default-class";

// Host syntax of Ingress rules: a DNS-1123 subdomain (any case), or "*." + one.
// Sets `why` on failure.
bool valid_rule_host(std::string_view host, std::string* why);

// Validates every field build() uses. Appends one build_error per problem (kind "Ingress");
// returns false when the Ingress must be skipped.
bool validate_ingress(const ingress& ing, std::vector<build_error>& errors);

// Display text of a path type ("ImplementationSpecific" says it is matched as Prefix).
std::string path_type_text(path_type t);

}  // namespace portico::config
