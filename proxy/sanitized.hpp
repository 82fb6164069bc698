// Whether this build runs under AddressSanitizer (GCC defines __SANITIZE_ADDRESS__, clang has
// __has_feature(address_sanitizer)). The memory caches hand out nothing of their own then, so
// that it sees every block.
#pragma once

namespace portico::proxy {

#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool address_sanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
inline constexpr bool address_sanitized = true;
#else
inline constexpr bool address_sanitized = false;
#endif
#else
inline constexpr bool address_sanitized = false;
#endif

}  // namespace portico::proxy
