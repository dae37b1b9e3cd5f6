// Status and Result<T>: how every Sieve function reports failure.
//
// Errors are values, not exceptions: a function that can fail returns Status (no value) or
// Result<T> (a value or a Status). Messages name the thing that failed and why, e.g.
// "report.pdf: encrypted PDF (password required)". The CLI maps codes to exit codes:
// kInvalidArgument -> 1 (usage), input errors -> 2, kInternal -> 3.
#pragma once

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace sieve {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,  // the caller asked for something that makes no sense (usage error)
  kNotFound,         // a file, document, model or key does not exist
  kInvalidInput,     // input data is malformed: corrupt PDF, bad JSON, lying header...
  kUnsupported,      // well-formed but not handled: unknown architecture, encrypted PDF...
  kIoError,          // the operating system said no: permissions, disk full, network
  kUnavailable,      // a remote service could not be reached or answered with an error
  kTimeout,          // a deadline passed
  kCancelled,        // the caller cancelled the request
  kBusy,             // a resource is held by someone else (index lock, full queue); retry later
  kInternal,         // a bug or broken invariant in Sieve itself
};

const char* StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }
  static Status InvalidArgument(std::string m) {
    return {StatusCode::kInvalidArgument, std::move(m)};
  }
  static Status NotFound(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
  static Status InvalidInput(std::string m) { return {StatusCode::kInvalidInput, std::move(m)}; }
  static Status Unsupported(std::string m) { return {StatusCode::kUnsupported, std::move(m)}; }
  static Status IoError(std::string m) { return {StatusCode::kIoError, std::move(m)}; }
  static Status Unavailable(std::string m) { return {StatusCode::kUnavailable, std::move(m)}; }
  static Status Timeout(std::string m) { return {StatusCode::kTimeout, std::move(m)}; }
  static Status Cancelled(std::string m) { return {StatusCode::kCancelled, std::move(m)}; }
  static Status Busy(std::string m) { return {StatusCode::kBusy, std::move(m)}; }
  static Status Internal(std::string m) { return {StatusCode::kInternal, std::move(m)}; }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // "NotFound: model.safetensors: no such file" (or "OK").
  std::string ToString() const;
  // Returns a copy with "context: " put in front of the message.
  Status WithContext(const std::string& context) const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

// A value of T, or the Status that explains why there is none.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : data_(std::move(value)) {}        // NOLINT(google-explicit-constructor)
  Result(Status status) : data_(std::move(status)) {  // NOLINT(google-explicit-constructor)
    assert(!std::get<Status>(data_).ok() && "Result built from an OK status has no value");
  }

  bool ok() const { return std::holds_alternative<T>(data_); }
  const Status& status() const {
    static const Status kOkStatus;
    return ok() ? kOkStatus : std::get<Status>(data_);
  }
  T& value() & { return std::get<T>(data_); }
  const T& value() const& { return std::get<T>(data_); }
  T&& value() && { return std::get<T>(std::move(data_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::variant<T, Status> data_;
};

}  // namespace sieve

#define SIEVE_CONCAT_INNER_(a, b) a##b
#define SIEVE_CONCAT_(a, b) SIEVE_CONCAT_INNER_(a, b)

// Returns from the enclosing function if `expr` (a Status) is not OK.
#define SIEVE_RETURN_IF_ERROR(expr)                \
  do {                                             \
    ::sieve::Status sieve_status_ = (expr);        \
    if (!sieve_status_.ok()) return sieve_status_; \
  } while (0)

// `lhs = value of expr` (a Result<T>), or returns its Status from the enclosing function.
#define SIEVE_ASSIGN_OR_RETURN(lhs, expr) \
  SIEVE_ASSIGN_OR_RETURN_IMPL_(SIEVE_CONCAT_(sieve_result_, __LINE__), lhs, expr)
#define SIEVE_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                 \
  if (!tmp.ok()) return tmp.status();                \
  lhs = std::move(tmp).value()
