#include "base/log.h"

#include <unistd.h>

#include <atomic>
#include <cstdio>

namespace qs {

static std::atomic<int> g_level{static_cast<int>(LogLevel::kInfo)};

void SetLogLevel(LogLevel level) { g_level = static_cast<int>(level); }
LogLevel GetLogLevel() { return static_cast<LogLevel>(g_level.load()); }

void Log(LogLevel level, const char* fmt, ...) {
  if (static_cast<int>(level) < g_level.load()) return;
  static const char* kTag[] = {"debug", "info", "warn", "error"};
  std::fprintf(stderr, "[qiusuo %s] ", kTag[static_cast<int>(level)]);
  va_list ap;
  va_start(ap, fmt);
  std::vfprintf(stderr, fmt, ap);
  va_end(ap);
  std::fputc('\n', stderr);
}

Progress::Progress(std::string label, uint64_t total)
    : label_(std::move(label)), total_(total ? total : 1) {
  enabled_ = isatty(STDERR_FILENO) && GetLogLevel() <= LogLevel::kInfo;
}

Progress::~Progress() { Finish(); }

void Progress::Update(uint64_t done) {
  if (!enabled_) return;
  int pct = static_cast<int>(done * 100 / total_);
  if (pct > 100) pct = 100;
  if (pct == last_pct_) return;
  last_pct_ = pct;
  char bar[41];
  int fill = pct * 40 / 100;
  for (int i = 0; i < 40; ++i) bar[i] = i < fill ? '#' : ' ';
  bar[40] = 0;
  std::fprintf(stderr, "\r%-12s [%s] %3d%%", label_.c_str(), bar, pct);
  std::fflush(stderr);
}

void Progress::Finish() {
  if (finished_) return;
  finished_ = true;
  if (enabled_ && last_pct_ >= 0) std::fputc('\n', stderr);
}

std::string FormatBytes(double b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (b >= 1024.0 && u < 4) {
    b /= 1024.0;
    ++u;
  }
  char buf[64];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.2f %s", b, units[u]);
  return buf;
}

}  // namespace qs
