// What every fuzz harness shares: the entry-point macro, invariant checks, and a reader that
// turns the fuzzer's bytes into choices.
//
// A harness is written once and built two ways:
// - by tests/fuzz.sh with clang and -fsanitize=fuzzer (PORTICO_LIBFUZZER defined): the macro
//   defines LLVMFuzzerTestOneInput and a failed check aborts, so libFuzzer saves the input;
// - into the unit tests of the regular builds (tests/fuzz/fuzz_inputs_test.cpp): the macro
//   registers the harness by name and a failed check throws, so a checked-in input that fails
//   is a test failure naming the file.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>

namespace portico::fuzz {

using target_fn = int (*)(const std::uint8_t* data, std::size_t size);

// Harnesses by name (the replay build only).
inline std::map<std::string, target_fn>& targets() {
  static std::map<std::string, target_fn> all;
  return all;
}

struct registrar {
  registrar(const char* name, target_fn f) { targets()[name] = f; }
};

struct invariant_failure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

[[noreturn]] inline void fail(const std::string& what) {
#ifdef PORTICO_LIBFUZZER
  std::fprintf(stderr, "portico fuzz invariant failed: %s\n", what.c_str());
  std::abort();
#else
  throw invariant_failure(what);
#endif
}

// Printable form of bytes for failure messages: "GET /\r\n" -> "GET /\\r\\n".
inline std::string shown(std::string_view s, std::size_t max = 400) {
  std::string out = "\"";
  for (std::size_t i = 0; i < s.size() && i < max; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c == '\r') out += "\\r";
    else if (c == '\n') out += "\\n";
    else if (c == '"' || c == '\\') (out += '\\') += static_cast<char>(c);
    else if (c >= 0x20 && c < 0x7f) out += static_cast<char>(c);
    else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  if (s.size() > max) out += "...";
  return out + "\"";
}

// FNV-1a of the input: harnesses whose corpus files are plain protocol bytes derive their
// settings (piece sizes, flags) from it, so that an input always replays the same way.
inline std::uint32_t input_hash(const std::uint8_t* data, std::size_t size) {
  std::uint32_t h = 2166136261u;
  for (std::size_t i = 0; i < size; ++i) h = (h ^ data[i]) * 16777619u;
  return h;
}

// Consumes the input from the front: small numbers and flags first, the payload last.
class byte_reader {
 public:
  byte_reader(const std::uint8_t* data, std::size_t size) : p_(data), n_(size) {}

  std::uint8_t byte() {
    if (n_ == 0) return 0;
    --n_;
    return *p_++;
  }
  std::uint16_t u16() { return static_cast<std::uint16_t>(byte() | (byte() << 8)); }
  bool flag() { return (byte() & 1) != 0; }
  // A value in [lo, hi] (hi - lo < 256 uses one byte, else two).
  std::size_t range(std::size_t lo, std::size_t hi) {
    const std::size_t span = hi - lo + 1;
    const std::size_t v = span <= 256 ? byte() : u16();
    return lo + v % span;
  }
  template <std::size_t N>
  const char* pick(const char* const (&choices)[N]) {
    return choices[range(0, N - 1)];
  }
  std::string_view rest() {
    std::string_view r(reinterpret_cast<const char*>(p_), n_);
    p_ += n_;
    n_ = 0;
    return r;
  }
  bool empty() const { return n_ == 0; }

 private:
  const std::uint8_t* p_;
  std::size_t n_;
};

}  // namespace portico::fuzz

#define PORTICO_FUZZ_CHECK(cond, message)                                                   \
  do {                                                                                      \
    if (!(cond)) ::portico::fuzz::fail(std::string(#cond) + " -- " + std::string(message)); \
  } while (0)

#ifdef PORTICO_LIBFUZZER
#define PORTICO_FUZZ_TARGET(name)                                                        \
  static int portico_fuzz_one(const std::uint8_t* data, std::size_t size);             \
  extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {  \
    return portico_fuzz_one(data, size);                                               \
  }                                                                                      \
  static int portico_fuzz_one(const std::uint8_t* data, std::size_t size)
#else
#define PORTICO_FUZZ_TARGET(name)                                                        \
  static int portico_fuzz_one(const std::uint8_t* data, std::size_t size);             \
  static const ::portico::fuzz::registrar portico_fuzz_registered_{#name, portico_fuzz_one}; \
  static int portico_fuzz_one(const std::uint8_t* data, std::size_t size)
#endif
