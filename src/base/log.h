// Minimal leveled logging to stderr, plus a progress line for long work.
#pragma once

#include <cstdarg>
#include <cstdint>
#include <string>

namespace qs {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3, kSilent = 4 };

void SetLogLevel(LogLevel level);
LogLevel GetLogLevel();
void Log(LogLevel level, const char* fmt, ...) __attribute__((format(printf, 2, 3)));

#define QS_LOG_INFO(...) ::qs::Log(::qs::LogLevel::kInfo, __VA_ARGS__)
#define QS_LOG_WARN(...) ::qs::Log(::qs::LogLevel::kWarn, __VA_ARGS__)
#define QS_LOG_DEBUG(...) ::qs::Log(::qs::LogLevel::kDebug, __VA_ARGS__)

// A one-line progress indicator on stderr ("loading  [#####     ] 52%"); silent when stderr is
// not a terminal or the log level is above info, so tests and pipes stay clean.
class Progress {
 public:
  Progress(std::string label, uint64_t total);
  ~Progress();
  void Update(uint64_t done);
  void Finish();

 private:
  std::string label_;
  uint64_t total_;
  int last_pct_ = -1;
  bool enabled_;
  bool finished_ = false;
};

std::string FormatBytes(double bytes);

}  // namespace qs
