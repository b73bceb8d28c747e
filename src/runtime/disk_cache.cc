#include "runtime/disk_cache.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "base/hash.h"
#include "base/log.h"

namespace qs {

namespace fs = std::filesystem;

namespace {

constexpr char kMagic[8] = {'Q', 'S', 'K', 'V', 'C', 'A', 'C', 'H'};
constexpr uint32_t kVersion = 1;
constexpr const char* kExt = ".kv";
constexpr const char* kTmpExt = ".tmp";
// Bounds on what a header may claim before anything is allocated for it (a hostile or damaged file
// must not make us allocate gigabytes): 16M tokens, rows of 1M floats, 4096 layers.
constexpr uint64_t kMaxTokens = 1ull << 24, kMaxWidth = 1ull << 20, kMaxLayers = 4096;

struct FileHeader {
  char magic[8];
  uint32_t version;
  uint32_t header_bytes;
  uint64_t model_key;
  uint64_t ns;
  uint64_t n_tokens;
  uint32_t n_layers, k_width, v_width, aux_width;
  uint64_t payload_bytes;
  uint32_t tokens_crc, payload_crc;
  uint32_t reserved;
  uint32_t header_crc;  // CRC-32C of every byte before it
};
static_assert(sizeof(FileHeader) == 80, "the on-disk header is 80 bytes");

uint32_t HeaderCrc(const FileHeader& h) { return Crc32c(&h, offsetof(FileHeader, header_crc)); }

int64_t CommonPrefix(const std::vector<int32_t>& a, const std::vector<int32_t>& b) {
  size_t n = std::min(a.size(), b.size()), i = 0;
  while (i < n && a[i] == b[i]) ++i;
  return static_cast<int64_t>(i);
}

std::string Hex16(uint64_t v) {
  char b[17];
  std::snprintf(b, sizeof b, "%016llx", static_cast<unsigned long long>(v));
  return b;
}

// The rows of one layer's part (K, V or aux): n·width floats, contiguous in KvCache.
const float* Part(const KvCache& kv, int64_t layer, int part) {
  auto& c = const_cast<KvCache&>(kv);  // KvCache has no const accessors; nothing is written
  return part == 0 ? c.k(layer, 0) : part == 1 ? c.v(layer, 0) : c.aux(layer, 0);
}
int64_t Width(const KvCache& kv, int part) {
  return part == 0 ? kv.k_width() : part == 1 ? kv.v_width() : kv.aux_width();
}

// Reads exactly n bytes; false on a short read or an error.
bool ReadAll(int fd, void* dst, size_t n) {
  auto* p = static_cast<char*>(dst);
  while (n > 0) {
    ssize_t r = ::read(fd, p, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    p += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}
bool WriteAll(int fd, const void* src, size_t n) {
  const auto* p = static_cast<const char*>(src);
  while (n > 0) {
    ssize_t r = ::write(fd, p, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    p += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

// Opens `path` and checks everything but the payload CRC: the header fields (against `model_key`
// and, when given, the expected shape), the file size and the tokens' CRC. Fills *h and *tokens.
Status ReadHead(const std::string& path, uint64_t model_key, FileHeader* h, std::vector<int32_t>* tokens, Fd* fd) {
  fd->fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd->fd < 0) return IoError("cannot open: " + std::string(std::strerror(errno)));
  struct stat st;
  if (::fstat(fd->fd, &st) != 0) return IoError("cannot stat");
  if (!ReadAll(fd->fd, h, sizeof *h)) return InvalidArgument("truncated header");
  if (std::memcmp(h->magic, kMagic, sizeof kMagic) != 0) return InvalidArgument("bad magic");
  if (h->header_crc != HeaderCrc(*h)) return InvalidArgument("header checksum mismatch");
  if (h->version != kVersion || h->header_bytes != sizeof(FileHeader))
    return InvalidArgument("unsupported version " + std::to_string(h->version));
  if (h->model_key != model_key) return InvalidArgument("written for another model");
  if (h->n_tokens == 0 || h->n_tokens > kMaxTokens || h->n_layers == 0 || h->n_layers > kMaxLayers ||
      h->k_width > kMaxWidth || h->v_width > kMaxWidth || h->aux_width > kMaxWidth)
    return InvalidArgument("implausible shape");
  const uint64_t row = uint64_t{h->n_layers} * (uint64_t{h->k_width} + h->v_width + h->aux_width) * sizeof(float);
  if (h->payload_bytes != h->n_tokens * row) return InvalidArgument("payload length does not match the shape");
  const uint64_t want = sizeof(FileHeader) + h->n_tokens * sizeof(int32_t) + h->payload_bytes;
  if (static_cast<uint64_t>(st.st_size) != want)
    return InvalidArgument("file is " + std::to_string(st.st_size) + " bytes, header says " + std::to_string(want));
  tokens->resize(h->n_tokens);
  if (!ReadAll(fd->fd, tokens->data(), tokens->size() * sizeof(int32_t))) return InvalidArgument("truncated tokens");
  if (Crc32c(tokens->data(), tokens->size() * sizeof(int32_t)) != h->tokens_crc)
    return InvalidArgument("token checksum mismatch");
  return Status::Ok();
}

}  // namespace

DiskCache::DiskCache(const DiskCacheOptions& opt, std::string dir) : opt_(opt), dir_(std::move(dir)) {}

Result<std::unique_ptr<DiskCache>> DiskCache::Open(const DiskCacheOptions& opt) {
  if (opt.dir.empty()) return InvalidArgument("--cache-dir: empty directory name");
  if (opt.max_bytes == 0) return InvalidArgument("--cache-dir-bytes must be positive");
  const std::string dir = (fs::path(opt.dir) / Hex16(opt.model_key)).string();
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec || !fs::is_directory(dir)) return IoError("--cache-dir: cannot create " + dir + ": " + ec.message());
  std::unique_ptr<DiskCache> c(new DiskCache(opt, dir));
  QS_RETURN_IF_ERROR(c->Scan());
  c->writer_ = std::thread([p = c.get()] { p->WriterLoop(); });
  return c;
}

DiskCache::~DiskCache() {
  {
    std::lock_guard<std::mutex> lk(qmu_);
    stop_ = true;
  }
  qcv_.notify_all();
  if (writer_.joinable()) writer_.join();
}

Status DiskCache::Scan() {
  struct Found {
    Entry e;
    fs::file_time_type mtime;
  };
  std::vector<Found> found;
  std::error_code ec;
  for (fs::directory_iterator it(dir_, ec), end; !ec && it != end; it.increment(ec)) {
    const fs::path p = it->path();
    const std::string name = p.filename().string();
    if (name.find(kTmpExt) != std::string::npos) {  // a write that never finished
      fs::remove(p, ec);
      continue;
    }
    if (p.extension() != kExt || !it->is_regular_file()) continue;
    FileHeader h{};
    Found f;
    Fd fd;
    Status st = ReadHead(p.string(), opt_.model_key, &h, &f.e.tokens, &fd);
    if (!st.ok()) {
      QS_LOG_WARN("disk cache: dropping %s: %s", p.c_str(), st.message().c_str());
      fs::remove(p, ec);
      stats_.dropped++;
      continue;
    }
    f.e.file = name;
    f.e.ns = h.ns;
    f.e.bytes = sizeof(FileHeader) + h.n_tokens * sizeof(int32_t) + h.payload_bytes;
    f.mtime = fs::last_write_time(p, ec);
    found.push_back(std::move(f));
  }
  if (ec) return IoError("--cache-dir: cannot list " + dir_ + ": " + ec.message());
  std::sort(found.begin(), found.end(), [](const Found& a, const Found& b) { return a.mtime < b.mtime; });
  std::lock_guard<std::mutex> lk(mu_);
  for (auto& f : found) {
    f.e.last_use = ++clock_;
    bytes_ += f.e.bytes;
    index_.push_back(std::move(f.e));
  }
  EvictLocked();
  return Status::Ok();
}

void DiskCache::DropLocked(size_t i, bool corrupt) {
  std::error_code ec;
  fs::remove(fs::path(dir_) / index_[i].file, ec);
  bytes_ -= index_[i].bytes;
  index_.erase(index_.begin() + static_cast<std::ptrdiff_t>(i));
  if (corrupt) stats_.dropped++;
  else stats_.evicted++;
}

void DiskCache::EvictLocked() {
  while (bytes_ > opt_.max_bytes && !index_.empty()) {
    size_t oldest = 0;
    for (size_t i = 1; i < index_.size(); ++i)
      if (index_[i].last_use < index_[oldest].last_use) oldest = i;
    DropLocked(oldest, false);
  }
}

int64_t DiskCache::Lookup(const std::vector<int32_t>& tokens, int64_t max_len, int64_t min_len, KvCache* dst,
                          uint64_t ns) {
  if (dst->ring() > 0) return 0;  // see Store
  std::lock_guard<std::mutex> lk(mu_);
  size_t best = index_.size();
  int64_t best_len = min_len;
  for (size_t i = 0; i < index_.size(); ++i) {
    if (index_[i].ns != ns) continue;
    int64_t l = std::min(CommonPrefix(tokens, index_[i].tokens), max_len);
    if (l > best_len) best_len = l, best = i;
  }
  if (best == index_.size()) return 0;
  const std::string path = (fs::path(dir_) / index_[best].file).string();
  FileHeader h{};
  std::vector<int32_t> file_tokens;
  Fd fd;
  Status st = ReadHead(path, opt_.model_key, &h, &file_tokens, &fd);
  if (st.ok() && (h.ns != ns || file_tokens != index_[best].tokens)) st = InvalidArgument("changed on disk");
  if (st.ok() && (h.n_layers != dst->n_layers() || h.k_width != dst->k_width() || h.v_width != dst->v_width() ||
                  h.aux_width != dst->aux_width()))
    st = InvalidArgument("cache rows of another shape");
  if (st.ok()) st = dst->Reserve(best_len);
  // The payload: per layer the K rows, V rows and aux rows of all n tokens. Each part is read
  // whole (its CRC covers every row) and its first best_len rows are copied into dst; nothing in
  // dst is used unless the CRC over the whole payload matches.
  uint32_t crc = 0;
  std::vector<float> buf;
  const int64_t n = static_cast<int64_t>(h.n_tokens);
  for (int64_t l = 0; st.ok() && l < dst->n_layers(); ++l)
    for (int part = 0; st.ok() && part < 3; ++part) {
      const int64_t w = Width(*dst, part);
      if (w == 0) continue;
      buf.resize(static_cast<size_t>(n * w));
      if (!ReadAll(fd.fd, buf.data(), buf.size() * sizeof(float))) {
        st = InvalidArgument("truncated payload");
        break;
      }
      crc = Crc32c(buf.data(), buf.size() * sizeof(float), crc);
      float* out = part == 0 ? dst->k(l, 0) : part == 1 ? dst->v(l, 0) : dst->aux(l, 0);
      std::copy_n(buf.begin(), best_len * w, out);
    }
  if (st.ok() && crc != h.payload_crc) st = InvalidArgument("payload checksum mismatch");
  if (!st.ok()) {
    QS_LOG_WARN("disk cache: dropping %s: %s", path.c_str(), st.message().c_str());
    dst->Clear();
    DropLocked(best, true);
    return 0;
  }
  dst->set_size(best_len);
  index_[best].last_use = ++clock_;
  ::utimensat(AT_FDCWD, path.c_str(), nullptr, 0);  // mtime = last use: the LRU order survives a restart
  stats_.hits++;
  stats_.hit_tokens += static_cast<uint64_t>(best_len);
  return best_len;
}

void DiskCache::Store(std::vector<int32_t> tokens, std::shared_ptr<const KvCache> kv, uint64_t ns) {
  if (tokens.empty() || !kv || static_cast<int64_t>(tokens.size()) > kv->size()) return;
  // A compact (ring) cache keeps only its window's rows, not n rows per layer: the file format
  // below does not describe it (DeepSeek-V4; the engine does not open a disk tier for one).
  if (kv->ring() > 0) return;
  {
    std::lock_guard<std::mutex> lk(qmu_);
    if (stop_) return;
    if (queue_.size() >= kMaxQueued) {
      std::lock_guard<std::mutex> lk2(mu_);
      stats_.skipped++;
      return;
    }
    queue_.push_back(Job{std::move(tokens), std::move(kv), ns});
  }
  qcv_.notify_all();
}

void DiskCache::Flush() {
  std::unique_lock<std::mutex> lk(qmu_);
  idle_cv_.wait(lk, [&] { return queue_.empty() && !writing_; });
}

DiskCacheStats DiskCache::Stats() const {
  std::lock_guard<std::mutex> lk(mu_);
  DiskCacheStats s = stats_;
  s.entries = index_.size();
  s.bytes = bytes_;
  return s;
}

void DiskCache::WriterLoop() {
  for (;;) {
    Job job;
    {
      std::unique_lock<std::mutex> lk(qmu_);
      qcv_.wait(lk, [&] { return stop_ || !queue_.empty(); });
      if (queue_.empty()) break;  // stop_ and nothing left: queued writes are finished first
      job = std::move(queue_.front());
      queue_.pop_front();
      writing_ = true;
    }
    Write(job);
    {
      std::lock_guard<std::mutex> lk(qmu_);
      writing_ = false;
    }
    idle_cv_.notify_all();
  }
  idle_cv_.notify_all();
}

void DiskCache::Write(const Job& job) {
  const KvCache& kv = *job.kv;
  const int64_t n = static_cast<int64_t>(job.tokens.size());
  FileHeader h{};
  std::memcpy(h.magic, kMagic, sizeof kMagic);
  h.version = kVersion;
  h.header_bytes = sizeof(FileHeader);
  h.model_key = opt_.model_key;
  h.ns = job.ns;
  h.n_tokens = static_cast<uint64_t>(n);
  h.n_layers = static_cast<uint32_t>(kv.n_layers());
  h.k_width = static_cast<uint32_t>(kv.k_width());
  h.v_width = static_cast<uint32_t>(kv.v_width());
  h.aux_width = static_cast<uint32_t>(kv.aux_width());
  h.payload_bytes = static_cast<uint64_t>(n) * kv.bytes_per_token();
  const uint64_t total = sizeof(FileHeader) + h.n_tokens * sizeof(int32_t) + h.payload_bytes;
  if (total > opt_.max_bytes) return;  // would evict everything and still not fit
  {
    std::lock_guard<std::mutex> lk(mu_);
    for (auto& e : index_)  // an entry covering it: nothing to add
      if (e.ns == job.ns && CommonPrefix(job.tokens, e.tokens) == n) return;
  }
  h.tokens_crc = Crc32c(job.tokens.data(), job.tokens.size() * sizeof(int32_t));
  uint32_t crc = 0;
  for (int64_t l = 0; l < kv.n_layers(); ++l)
    for (int part = 0; part < 3; ++part)
      if (Width(kv, part) > 0) crc = Crc32c(Part(kv, l, part), static_cast<size_t>(n * Width(kv, part)) * 4, crc);
  h.payload_crc = crc;
  h.header_crc = HeaderCrc(h);

  uint64_t name_hash = Fnv1a64(&job.ns, sizeof job.ns);
  name_hash = Fnv1a64(job.tokens.data(), job.tokens.size() * sizeof(int32_t), name_hash);
  const std::string file = Hex16(name_hash) + kExt;
  const std::string path = (fs::path(dir_) / file).string(), tmp = path + kTmpExt;
  bool ok;
  {
    Fd fd;
    fd.fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    ok = fd.fd >= 0 && WriteAll(fd.fd, &h, sizeof h) &&
         WriteAll(fd.fd, job.tokens.data(), job.tokens.size() * sizeof(int32_t));
    for (int64_t l = 0; ok && l < kv.n_layers(); ++l)
      for (int part = 0; ok && part < 3; ++part)
        if (Width(kv, part) > 0) ok = WriteAll(fd.fd, Part(kv, l, part), static_cast<size_t>(n * Width(kv, part)) * 4);
    ok = ok && ::close(fd.fd) == 0;
    fd.fd = -1;
  }
  std::lock_guard<std::mutex> lk(mu_);
  // Rename under the lock: a reader never sees the index and the directory disagree for long.
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    QS_LOG_WARN("disk cache: cannot write %s: %s", path.c_str(), std::strerror(errno));
    ::unlink(tmp.c_str());
    return;
  }
  for (size_t i = 0; i < index_.size();) {  // entries it covers (and an older file of the same name)
    const Entry& e = index_[i];
    if (e.ns == job.ns && (e.file == file || CommonPrefix(job.tokens, e.tokens) == static_cast<int64_t>(e.tokens.size()))) {
      if (e.file == file) {  // replaced by the rename: forget it without deleting the new file
        bytes_ -= e.bytes;
        index_.erase(index_.begin() + static_cast<std::ptrdiff_t>(i));
      } else {
        DropLocked(i, false);
      }
      continue;
    }
    ++i;
  }
  Entry e;
  e.file = file;
  e.ns = job.ns;
  e.tokens = job.tokens;
  e.bytes = total;
  e.last_use = ++clock_;
  bytes_ += total;
  index_.push_back(std::move(e));
  stats_.writes++;
  EvictLocked();
}

Result<uint64_t> ModelCacheKey(const std::string& model_path, const KvCache& probe) {
  uint64_t h = Fnv1a64("qiusuo-kv-cache/1 rows=f32");
  auto add_u64 = [&](uint64_t v) { h = Fnv1a64(&v, sizeof v, h); };
  add_u64(static_cast<uint64_t>(probe.n_layers()));
  add_u64(static_cast<uint64_t>(probe.k_width()));
  add_u64(static_cast<uint64_t>(probe.v_width()));
  add_u64(static_cast<uint64_t>(probe.aux_width()));
  std::error_code ec;
  std::vector<fs::path> files;
  if (fs::is_directory(model_path, ec)) {
    for (fs::directory_iterator it(model_path, ec), end; !ec && it != end; it.increment(ec)) {
      const std::string ext = it->path().extension().string();
      if (it->is_regular_file() && (ext == ".safetensors" || ext == ".gguf" || it->path().filename() == "config.json"))
        files.push_back(it->path());
    }
  } else {
    files.push_back(model_path);
  }
  if (ec) return IoError(model_path + ": cannot list: " + ec.message());
  std::sort(files.begin(), files.end());
  constexpr size_t kSample = 64 << 10;
  std::vector<char> buf(kSample);
  for (const fs::path& p : files) {
    Fd fd;
    fd.fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd.fd < 0 || ::fstat(fd.fd, &st) != 0) return IoError(p.string() + ": cannot read for the cache key");
    const uint64_t size = static_cast<uint64_t>(st.st_size);
    h = Fnv1a64(p.filename().string(), h);
    add_u64(size);
    // config.json whole; weight files at three places (their headers hold names, shapes, dtypes).
    std::vector<uint64_t> at = {0};
    if (p.filename() != "config.json" && size > kSample) at = {0, size / 2, size - kSample};
    for (uint64_t off : at) {
      size_t want = p.filename() == "config.json" ? static_cast<size_t>(std::min<uint64_t>(size, 1 << 24))
                                                  : static_cast<size_t>(std::min<uint64_t>(kSample, size - off));
      if (buf.size() < want) buf.resize(want);
      ssize_t r = ::pread(fd.fd, buf.data(), want, static_cast<off_t>(off));
      if (r < 0) return IoError(p.string() + ": cannot read for the cache key");
      h = Fnv1a64(buf.data(), static_cast<size_t>(r), h);
    }
  }
  return h;
}

}  // namespace qs
