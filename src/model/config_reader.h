// Typed getters over a config.json object, shared by model/config.cc (the common keys) and the
// architecture specs (model/arch/*.cc, each family's own keys): missing -> default; wrong type ->
// the first error, naming the file and key, kept in status().
#pragma once

#include <cmath>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/status.h"

namespace qs {

using json = nlohmann::json;

// Typed getters: missing → default; wrong type → error naming the key.
class ConfigReader {
 public:
  ConfigReader(const json& j, const std::string& file) : j_(j), file_(file) {}
  Status status() const { return st_; }

  int64_t Int(const char* key, int64_t def, bool required = false) {
    auto it = j_.find(key);
    if (it == j_.end() || it->is_null()) {
      if (required) Fail(std::string("missing required key '") + key + "'");
      return def;
    }
    if (it->is_number_integer()) return it->get<int64_t>();
    if (it->is_number_float()) {
      double d = it->get<double>();
      if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9e15) return static_cast<int64_t>(d);
    }
    Fail(std::string("key '") + key + "' must be an integer, got " + it->dump());
    return def;
  }
  double Float(const char* key, double def) { return FloatIn(j_, key, def, ""); }
  double FloatIn(const json& o, const char* key, double def, const std::string& prefix) {
    auto it = o.find(key);
    if (it == o.end() || it->is_null()) return def;
    if (it->is_number()) {
      double d = it->get<double>();
      if (std::isfinite(d)) return d;
    }
    Fail("key '" + prefix + key + "' must be a finite number, got " + it->dump());
    return def;
  }
  bool Bool(const char* key, bool def) {
    auto it = j_.find(key);
    if (it == j_.end() || it->is_null()) return def;
    if (it->is_boolean()) return it->get<bool>();
    Fail(std::string("key '") + key + "' must be true/false, got " + it->dump());
    return def;
  }
  std::string Str(const char* key, const std::string& def) {
    auto it = j_.find(key);
    if (it == j_.end() || it->is_null()) return def;
    if (it->is_string()) return it->get<std::string>();
    Fail(std::string("key '") + key + "' must be a string, got " + it->dump());
    return def;
  }
  // A list of integers (missing or null: empty).
  std::vector<int64_t> IntList(const char* key) {
    std::vector<int64_t> out;
    auto it = j_.find(key);
    if (it == j_.end() || it->is_null()) return out;
    if (!it->is_array() || it->size() > (1u << 20)) {
      Fail(std::string("key '") + key + "' must be a list of integers");
      return out;
    }
    for (const auto& e : *it) {
      if (!e.is_number_integer()) {
        Fail(std::string("key '") + key + "' must be a list of integers, got " + e.dump());
        return {};
      }
      out.push_back(e.get<int64_t>());
    }
    return out;
  }
  void Fail(const std::string& msg) {
    if (st_.ok()) st_ = InvalidArgument(file_ + ": " + msg);
  }

 private:
  const json& j_;
  std::string file_;
  Status st_;
};


}  // namespace qs
