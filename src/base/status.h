// Errors. Two kinds, kept apart on purpose:
//  * Status / Result<T>: bad input (a file, a flag, a request). Always recoverable, always carries
//    a message that names the file / tensor / field at fault.
//  * QS_CHECK: a broken invariant of our own code. Aborts with file:line; never used on input.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>
#include <variant>

namespace qs {

enum class ErrorCode { kOk = 0, kInvalidArgument, kNotFound, kIo, kUnsupported, kOutOfRange, kInternal };

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(ErrorCode code, std::string msg) : code_(code), msg_(std::move(msg)) {}
  static Status Ok() { return {}; }
  bool ok() const { return code_ == ErrorCode::kOk; }
  ErrorCode code() const { return code_; }
  const std::string& message() const { return msg_; }
  // Prefix context ("file x: " + message), used when an error travels outward.
  Status With(const std::string& context) const {
    return ok() ? *this : Status(code_, context + ": " + msg_);
  }

 private:
  ErrorCode code_ = ErrorCode::kOk;
  std::string msg_;
};

inline Status InvalidArgument(std::string m) { return {ErrorCode::kInvalidArgument, std::move(m)}; }
inline Status NotFound(std::string m) { return {ErrorCode::kNotFound, std::move(m)}; }
inline Status IoError(std::string m) { return {ErrorCode::kIo, std::move(m)}; }
inline Status Unsupported(std::string m) { return {ErrorCode::kUnsupported, std::move(m)}; }
inline Status OutOfRange(std::string m) { return {ErrorCode::kOutOfRange, std::move(m)}; }

// Result<T>: a value or a non-ok Status.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T v) : v_(std::move(v)) {}                // NOLINT: implicit on purpose
  Result(Status s) : v_(std::move(s)) {}           // NOLINT
  bool ok() const { return v_.index() == 0; }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<1>(v_);
  }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &std::get<0>(v_); }
  const T* operator->() const { return &std::get<0>(v_); }
  T& operator*() & { return std::get<0>(v_); }

 private:
  std::variant<T, Status> v_;
};

[[noreturn]] void CheckFailed(const char* file, int line, const char* expr, const std::string& msg);

}  // namespace qs

#define QS_CONCAT_INNER(a, b) a##b
#define QS_CONCAT(a, b) QS_CONCAT_INNER(a, b)

#define QS_RETURN_IF_ERROR(expr)            \
  do {                                      \
    ::qs::Status qs_st_ = (expr);           \
    if (!qs_st_.ok()) return qs_st_;        \
  } while (0)

#define QS_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                             \
  if (!tmp.ok()) return tmp.status();            \
  lhs = std::move(tmp).value()

#define QS_ASSIGN_OR_RETURN(lhs, expr) QS_ASSIGN_OR_RETURN_IMPL(QS_CONCAT(qs_res_, __LINE__), lhs, expr)

// Invariant checks: always on (cheap), never for validating input.
#define QS_CHECK(cond)                                              \
  do {                                                              \
    if (!(cond)) ::qs::CheckFailed(__FILE__, __LINE__, #cond, ""); \
  } while (0)
#define QS_CHECK_MSG(cond, msg)                                        \
  do {                                                                 \
    if (!(cond)) ::qs::CheckFailed(__FILE__, __LINE__, #cond, (msg)); \
  } while (0)
