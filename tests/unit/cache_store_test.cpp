// SPDX-License-Identifier: MIT
// DiskCache: round trip, every corruption mode, multi-process writers/readers, LRU, temp-file
// cleanup and unusable directories.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <xxhash.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "cache/cache_key.h"
#include "cache/disk_cache.h"

namespace lam::cache {
namespace {

namespace fs = std::filesystem;

CacheKey MakeKey(const std::string& bucket) {
  CacheKey k;
  k.model_fingerprint = "0123456789abcdef0123456789abcdef";
  k.backend = "cuda";
  k.device = "sm_90";
  k.toolkit = "nvrtc-13.0";
  k.driver = "any";
  k.precision = "fp32";
  k.bucket = bucket;
  k.artifact = "test-blob";
  k.source_hash = "feedface";
  return k;
}

// Key "k<n>", appended piecewise (GCC 12 warns falsely, -Wrestrict, on "k" + std::string).
CacheKey KeyN(unsigned n) {
  std::string bucket = "k";
  bucket += std::to_string(n);
  return MakeKey(bucket);
}

std::vector<uint8_t> Bytes(size_t n, uint32_t seed) {
  std::vector<uint8_t> v(n);
  std::mt19937 rng(seed);
  for (auto& b : v) b = static_cast<uint8_t>(rng());
  return v;
}

// Get() that must not fail with an error status; nullopt on a miss.
std::optional<std::vector<uint8_t>> Fetch(DiskCache& cache, const CacheKey& key) {
  auto r = cache.Get(key);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? std::move(r).value() : std::nullopt;
}

// Routes spdlog's default logger into a string for the life of the object.
class LogCapture {
 public:
  LogCapture() : prev_(spdlog::default_logger()) {
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out_);
    auto logger = std::make_shared<spdlog::logger>("capture", sink);
    logger->set_level(spdlog::level::info);
    spdlog::set_default_logger(logger);
  }
  ~LogCapture() { spdlog::set_default_logger(prev_); }
  std::string text() {
    spdlog::default_logger()->flush();
    return out_.str();
  }

 private:
  std::ostringstream out_;
  std::shared_ptr<spdlog::logger> prev_;
};

class CacheStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = std::string(LAM_TEST_DATA_DIR) + "/cache_store/" + info->name() + "-" +
           std::to_string(::getpid());
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::unique_ptr<DiskCache> OpenCache(uint64_t max_bytes = 1ull << 30) {
    DiskCacheOptions o;
    o.dir = dir_;
    o.max_bytes = max_bytes;
    auto c = DiskCache::Open(o);
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    return c.ok() ? std::move(c).value() : nullptr;
  }

  std::string dir_;
};

TEST(CacheKeyTest, CanonicalIsStableAndEveryFieldMatters) {
  const CacheKey k = MakeKey("t4096");
  EXPECT_EQ(k.Canonical(),
            "lam-cache-key/1\nmodel=0123456789abcdef0123456789abcdef\nbackend=cuda\n"
            "device=sm_90\ntoolkit=nvrtc-13.0\ndriver=any\nprecision=fp32\nbucket=t4096\n"
            "artifact=test-blob\nsource=feedface\nformat=1\n");
  EXPECT_EQ(k.Hash().size(), 32u);
  EXPECT_EQ(k.Hash(), MakeKey("t4096").Hash());
  const std::vector<std::function<void(CacheKey&)>> changes = {
      [](CacheKey& c) { c.model_fingerprint += "0"; }, [](CacheKey& c) { c.backend = "cpu"; },
      [](CacheKey& c) { c.device = "sm_80"; },       [](CacheKey& c) { c.toolkit += "x"; },
      [](CacheKey& c) { c.driver = "13000"; },       [](CacheKey& c) { c.precision = "bf16"; },
      [](CacheKey& c) { c.bucket = "t2048"; },       [](CacheKey& c) { c.artifact = "plan"; },
      [](CacheKey& c) { c.source_hash = "beef"; },   [](CacheKey& c) { c.format_version = 2; }};
  for (size_t i = 0; i < changes.size(); ++i) {
    CacheKey other = k;
    changes[i](other);
    EXPECT_NE(other.Hash(), k.Hash()) << "change " << i;
  }
}

TEST(CacheKeyTest, ValidateRejectsEmptyAndControlCharacters) {
  EXPECT_TRUE(MakeKey("t1").Validate().ok());
  CacheKey k = MakeKey("t1");
  k.device.clear();
  EXPECT_EQ(k.Validate().code(), LAM_STATUS_INVALID_ARG);
  EXPECT_NE(k.Validate().message().find("device"), std::string::npos);
  k = MakeKey("t1\nmodel=evil");
  EXPECT_EQ(k.Validate().code(), LAM_STATUS_INVALID_ARG);
  EXPECT_NE(k.Validate().message().find("bucket"), std::string::npos);
  EXPECT_FALSE(HostCpuIsa().empty());
}

TEST_F(CacheStoreTest, RoundTripAndMiss) {
  auto cache = OpenCache();
  ASSERT_NE(cache, nullptr);
  EXPECT_EQ(fs::status(dir_).permissions() & fs::perms::all, fs::perms::owner_all);
  const auto payload = Bytes(100000, 1);
  auto miss = cache->Get(MakeKey("t64"));
  ASSERT_TRUE(miss.ok());
  EXPECT_FALSE(miss->has_value());
  ASSERT_TRUE(cache->Put(MakeKey("t64"), payload).ok());
  ASSERT_TRUE(cache->Put(MakeKey("empty"), {}).ok());
  auto hit = cache->Get(MakeKey("t64"));
  ASSERT_TRUE(hit.ok());
  ASSERT_TRUE(hit->has_value());
  EXPECT_EQ(**hit, payload);
  auto empty = cache->Get(MakeKey("empty"));
  ASSERT_TRUE(empty.ok() && empty->has_value());
  EXPECT_TRUE((*empty)->empty());
  // Another instance (a restarted daemon) sees the same entries.
  auto again = OpenCache();
  auto hit2 = again->Get(MakeKey("t64"));
  ASSERT_TRUE(hit2.ok() && hit2->has_value());
  EXPECT_EQ(**hit2, payload);

  const DiskCacheStats s = cache->stats();
  EXPECT_EQ(s.hits, 2u);
  EXPECT_EQ(s.misses, 1u);
  EXPECT_EQ(s.puts, 2u);
  EXPECT_EQ(s.entries, 2u);
  EXPECT_EQ(s.corrupt_rejected, 0u);
  EXPECT_GT(s.bytes_written, payload.size());
  EXPECT_EQ(s.bytes, fs::file_size(cache->PathFor(MakeKey("t64"))) +
                         fs::file_size(cache->PathFor(MakeKey("empty"))));
  EXPECT_GE(s.load_ms, 0.0);
  EXPECT_EQ(again->stats().entries, 2u);
}

TEST_F(CacheStoreTest, ReplaceRemoveListClear) {
  auto cache = OpenCache();
  ASSERT_TRUE(cache->Put(MakeKey("a"), Bytes(10, 1)).ok());
  ASSERT_TRUE(cache->Put(MakeKey("a"), Bytes(20, 2)).ok());
  ASSERT_TRUE(cache->Put(MakeKey("b"), Bytes(30, 3)).ok());
  EXPECT_EQ(*Fetch(*cache, MakeKey("a")), Bytes(20, 2));
  auto list = cache->List();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].file, MakeKey("a").Hash() + ".lamc");  // just used: most recent
  EXPECT_TRUE(cache->Remove(MakeKey("a")).ok());
  EXPECT_EQ(cache->Remove(MakeKey("a")).code(), LAM_STATUS_NOT_FOUND);
  auto cleared = cache->Clear();
  ASSERT_TRUE(cleared.ok());
  EXPECT_EQ(*cleared, 1u);
  EXPECT_EQ(cache->stats().entries, 0u);
}

// A corruption applied to an entry file: (description, mutate(path, key_size, file_size)).
struct Corruption {
  std::string name;
  std::function<void(const std::string& path, size_t key_size, size_t size)> apply;
  std::string expected_reason;
};

void Truncate(const std::string& path, size_t at) { ASSERT_EQ(::truncate(path.c_str(), at), 0); }

void FlipBit(const std::string& path, size_t offset, int bit) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  ASSERT_TRUE(f.good());
  f.seekg(static_cast<std::streamoff>(offset));
  char c = 0;
  f.read(&c, 1);
  c = static_cast<char>(c ^ (1 << bit));
  f.seekp(static_cast<std::streamoff>(offset));
  f.write(&c, 1);
}

TEST_F(CacheStoreTest, EveryCorruptionIsAMissLoggedAndRemoved) {
  const CacheKey key = MakeKey("s64xL128");
  const auto payload = Bytes(5000, 7);
  const size_t hdr = kEntryHeaderSize;
  const std::vector<Corruption> cases = {
      {"empty file", [](auto& p, size_t, size_t) { Truncate(p, 0); }, "truncated header"},
      {"truncated in magic", [](auto& p, size_t, size_t) { Truncate(p, 5); }, "truncated header"},
      {"truncated in sizes", [](auto& p, size_t, size_t) { Truncate(p, 20); }, "truncated header"},
      {"truncated in checksum", [](auto& p, size_t, size_t) { Truncate(p, 40); },
       "truncated header"},
      {"truncated after header", [hdr](auto& p, size_t, size_t) { Truncate(p, hdr); },
       "size mismatch"},
      {"truncated in key", [hdr](auto& p, size_t ks, size_t) { Truncate(p, hdr + ks / 2); },
       "size mismatch"},
      {"truncated in payload", [hdr](auto& p, size_t ks, size_t) { Truncate(p, hdr + ks + 100); },
       "size mismatch"},
      {"last byte missing", [](auto& p, size_t, size_t n) { Truncate(p, n - 1); },
       "size mismatch"},
      {"extra byte", [](auto& p, size_t, size_t n) { Truncate(p, n + 1); }, "size mismatch"},
      {"bit in magic", [](auto& p, size_t, size_t) { FlipBit(p, 3, 0); }, "bad magic"},
      {"bit in version", [](auto& p, size_t, size_t) { FlipBit(p, 8, 1); }, "container version"},
      {"bit in header size", [](auto& p, size_t, size_t) { FlipBit(p, 12, 2); }, "header size"},
      {"bit in key size", [](auto& p, size_t, size_t) { FlipBit(p, 16, 0); }, "size mismatch"},
      {"high bit in key size", [](auto& p, size_t, size_t) { FlipBit(p, 23, 7); },
       "key size"},
      {"bit in payload size", [](auto& p, size_t, size_t) { FlipBit(p, 24, 3); },
       "size mismatch"},
      {"high bit in payload size", [](auto& p, size_t, size_t) { FlipBit(p, 31, 7); },
       "size mismatch"},
      {"bit in checksum", [](auto& p, size_t, size_t) { FlipBit(p, 32 + 9, 4); },
       "checksum mismatch"},
      {"bit in key", [hdr](auto& p, size_t, size_t) { FlipBit(p, hdr + 20, 5); },
       "checksum mismatch"},
      {"bit in payload start", [hdr](auto& p, size_t ks, size_t) { FlipBit(p, hdr + ks, 0); },
       "checksum mismatch"},
      {"bit in payload end", [](auto& p, size_t, size_t n) { FlipBit(p, n - 1, 7); },
       "checksum mismatch"},
  };
  auto cache = OpenCache();
  const size_t key_size = key.Canonical().size();
  uint64_t rejected = 0;
  for (const Corruption& c : cases) {
    SCOPED_TRACE(c.name);
    ASSERT_TRUE(cache->Put(key, payload).ok());
    const std::string path = cache->PathFor(key);
    c.apply(path, key_size, fs::file_size(path));
    LogCapture log;
    auto r = cache->Get(key);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_FALSE(r->has_value());
    const std::string text = log.text();
    EXPECT_NE(text.find("warn"), std::string::npos) << text;
    EXPECT_NE(text.find(path), std::string::npos) << text;
    EXPECT_NE(text.find(c.expected_reason), std::string::npos) << text;
    EXPECT_FALSE(fs::exists(path));
    EXPECT_EQ(cache->stats().corrupt_rejected, ++rejected);
    // The slot is usable again.
    ASSERT_TRUE(cache->Put(key, payload).ok());
    auto back = cache->Get(key);
    ASSERT_TRUE(back.ok() && back->has_value());
    EXPECT_EQ(**back, payload);
  }
}

TEST_F(CacheStoreTest, ForeignKeyInRenamedFileIsRejected) {
  auto cache = OpenCache();
  const CacheKey a = MakeKey("t128"), b = MakeKey("t256");
  ASSERT_TRUE(cache->Put(b, Bytes(64, 3)).ok());
  fs::rename(cache->PathFor(b), cache->PathFor(a));  // valid entry, wrong name
  LogCapture log;
  auto r = cache->Get(a);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->has_value());
  EXPECT_NE(log.text().find("different key"), std::string::npos) << log.text();
  EXPECT_FALSE(fs::exists(cache->PathFor(a)));
  ASSERT_TRUE(cache->Put(a, Bytes(8, 4)).ok());
  EXPECT_EQ(*Fetch(*cache, a), Bytes(8, 4));
}

TEST_F(CacheStoreTest, ForeignContainerAndPayloadVersionsAreMisses) {
  auto cache = OpenCache();
  const CacheKey key = MakeKey("t512");
  ASSERT_TRUE(cache->Put(key, Bytes(300, 5)).ok());
  // An entry written by a future daemon: same layout, version 2 (checksum still valid).
  {
    std::fstream f(cache->PathFor(key), std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(8);
    const char v2[4] = {2, 0, 0, 0};
    f.write(v2, 4);
  }
  LogCapture log;
  auto r = cache->Get(key);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->has_value());
  EXPECT_NE(log.text().find("container version 2"), std::string::npos) << log.text();
  EXPECT_FALSE(fs::exists(cache->PathFor(key)));
  // A producer that bumps its payload format gets a different key: the old entry is unseen.
  ASSERT_TRUE(cache->Put(key, Bytes(300, 5)).ok());
  CacheKey next = key;
  next.format_version = 2;
  auto r2 = cache->Get(next);
  ASSERT_TRUE(r2.ok());
  EXPECT_FALSE(r2->has_value());
}

// Payload that proves its own integrity: [u32 n][u32 seed][n bytes from seed][u64 xxh64].
std::vector<uint8_t> SelfVerifying(uint32_t n, uint32_t seed) {
  std::vector<uint8_t> v(8);
  std::memcpy(v.data(), &n, 4);
  std::memcpy(v.data() + 4, &seed, 4);
  const auto body = Bytes(n, seed);
  v.insert(v.end(), body.begin(), body.end());
  const uint64_t h = XXH64(v.data(), v.size(), 0);
  v.resize(v.size() + 8);
  std::memcpy(v.data() + v.size() - 8, &h, 8);
  return v;
}

bool Verifies(const std::vector<uint8_t>& v) {
  if (v.size() < 16) return false;
  uint32_t n = 0, seed = 0;
  std::memcpy(&n, v.data(), 4);
  std::memcpy(&seed, v.data() + 4, 4);
  if (v.size() != 16ull + n) return false;
  uint64_t h = 0;
  std::memcpy(&h, v.data() + v.size() - 8, 8);
  return h == XXH64(v.data(), v.size() - 8, 0) && v == SelfVerifying(n, seed);
}

TEST_F(CacheStoreTest, ConcurrentProcessesNeverSeeTornEntries) {
  constexpr int kWriters = 3, kReaders = 2, kKeys = 6, kPuts = 60, kReads = 400;
  // Cap small enough that writers also evict each other's entries while readers read.
  constexpr uint64_t kCap = 600 * 1024;
  ASSERT_NE(OpenCache(kCap), nullptr);
  std::vector<pid_t> pids;
  for (int w = 0; w < kWriters + kReaders; ++w) {
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      DiskCacheOptions o;
      o.dir = dir_;
      o.max_bytes = kCap;
      auto c = DiskCache::Open(o);
      if (!c.ok()) ::_exit(10);
      std::mt19937 rng(static_cast<uint32_t>(w * 7919 + 1));
      if (w < kWriters) {
        for (int i = 0; i < kPuts; ++i) {
          const int k = static_cast<int>(rng() % kKeys);
          const uint32_t n = rng() % 3 == 0 ? rng() % 200000 : rng() % 4000;
          if (!(*c)->Put(KeyN(k), SelfVerifying(n, rng())).ok()) {
            ::_exit(11);
          }
        }
      } else {
        // Read at least kReads times and until some entries were seen (writers may start late).
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
        for (int i = 0; i < kReads || (*c)->stats().hits < kReads / 4; ++i) {
          auto r = (*c)->Get(KeyN(i % kKeys));
          if (!r.ok()) ::_exit(12);
          if (r->has_value() && !Verifies(**r)) ::_exit(13);
          if (std::chrono::steady_clock::now() > deadline) break;
        }
        // A torn entry would have been detected and rejected rather than returned: fail too.
        if ((*c)->stats().corrupt_rejected != 0) ::_exit(14);
        if ((*c)->stats().hits == 0) ::_exit(15);
      }
      ::_exit(0);
    }
    pids.push_back(pid);
  }
  for (pid_t pid : pids) {
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0) << "child " << pid;
  }
  // Nothing left behind but complete entries, and the cap holds (no entry alone exceeds it).
  auto cache = OpenCache(kCap);
  uint64_t total = 0;
  for (const auto& e : fs::directory_iterator(dir_)) {
    const std::string name = e.path().filename().string();
    EXPECT_EQ(name.find(kTempPrefix), std::string::npos) << name;
    total += fs::file_size(e.path());
  }
  EXPECT_LE(total, kCap);
  for (int k = 0; k < kKeys; ++k) {
    auto r = cache->Get(KeyN(k));
    ASSERT_TRUE(r.ok());
    if (r->has_value()) {
      EXPECT_TRUE(Verifies(**r));
    }
  }
  EXPECT_EQ(cache->stats().corrupt_rejected, 0u);
}

TEST_F(CacheStoreTest, ThreadsShareOneCacheObject) {
  auto cache = OpenCache(400 * 1024);
  std::atomic<int> bad{0};
  std::vector<std::thread> threads;
  for (int w = 0; w < 4; ++w) {
    threads.emplace_back([&, w] {
      std::mt19937 rng(static_cast<uint32_t>(w + 100));
      for (int i = 0; i < 80; ++i) {
        const CacheKey key = KeyN(rng() % 5);
        if (rng() % 2 == 0) {
          if (!cache->Put(key, SelfVerifying(rng() % 50000, rng())).ok()) ++bad;
        } else {
          auto r = cache->Get(key);
          if (!r.ok() || (r->has_value() && !Verifies(**r))) ++bad;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(bad.load(), 0);
  const DiskCacheStats s = cache->stats();
  EXPECT_EQ(s.corrupt_rejected, 0u);
  EXPECT_GT(s.puts, 0u);
  EXPECT_LE(s.bytes, 400u * 1024);
}

TEST_F(CacheStoreTest, LruEvictsLeastRecentlyUsedAndKeepsNewest) {
  const size_t entry = kEntryHeaderSize + MakeKey("a").Canonical().size() + 1000;
  auto cache = OpenCache(3 * entry + 10);  // room for three entries
  ASSERT_TRUE(cache->Put(MakeKey("a"), Bytes(1000, 1)).ok());
  ASSERT_TRUE(cache->Put(MakeKey("b"), Bytes(1000, 2)).ok());
  ASSERT_TRUE(cache->Put(MakeKey("c"), Bytes(1000, 3)).ok());
  EXPECT_EQ(cache->stats().evictions, 0u);
  ASSERT_TRUE(Fetch(*cache, MakeKey("a")).has_value());  // a is now newer than b and c
  ASSERT_TRUE(cache->Put(MakeKey("d"), Bytes(1000, 4)).ok());
  EXPECT_EQ(cache->stats().evictions, 1u);
  EXPECT_FALSE(fs::exists(cache->PathFor(MakeKey("b"))));
  for (const char* k : {"a", "c", "d"}) EXPECT_TRUE(fs::exists(cache->PathFor(MakeKey(k)))) << k;
  ASSERT_TRUE(Fetch(*cache, MakeKey("c")).has_value());
  ASSERT_TRUE(cache->Put(MakeKey("e"), Bytes(1000, 5)).ok());  // evicts a (oldest use)
  EXPECT_FALSE(fs::exists(cache->PathFor(MakeKey("a"))));
  EXPECT_EQ(cache->stats().entries, 3u);
  EXPECT_LE(cache->stats().bytes, 3 * entry + 10);
  // An entry larger than the cap evicts everything else but is itself kept.
  ASSERT_TRUE(cache->Put(MakeKey("huge"), Bytes(5 * entry, 6)).ok());
  EXPECT_EQ(cache->stats().entries, 1u);
  EXPECT_EQ(cache->stats().evictions, 5u);
  EXPECT_EQ(*Fetch(*cache, MakeKey("huge")), Bytes(5 * entry, 6));
}

TEST_F(CacheStoreTest, StaleTempFilesAreRemovedOnOpenFreshOnesKept) {
  fs::create_directories(dir_);
  const std::string stale = dir_ + "/" + kTempPrefix + "999-0-dead";
  const std::string fresh = dir_ + "/" + kTempPrefix + "998-0-beef";
  std::ofstream(stale) << "partial";
  std::ofstream(fresh) << "in progress";
  const struct timespec old[2] = {{::time(nullptr) - 120, 0}, {::time(nullptr) - 120, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, stale.c_str(), old, 0), 0);
  LogCapture log;
  auto cache = OpenCache();
  EXPECT_FALSE(fs::exists(stale));
  EXPECT_TRUE(fs::exists(fresh));
  EXPECT_EQ(cache->stats().stale_temps_removed, 1u);
  EXPECT_EQ(cache->stats().entries, 0u);  // temp files are never entries
  EXPECT_NE(log.text().find("stale temp"), std::string::npos);
}

TEST_F(CacheStoreTest, UnusableDirectoryIsAClearError) {
  // A path below a regular file.
  fs::create_directories(dir_);
  std::ofstream(dir_ + "/file") << "x";
  DiskCacheOptions o;
  o.dir = dir_ + "/file/cache";
  auto r = DiskCache::Open(o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), LAM_STATUS_IO_ERROR);
  EXPECT_NE(r.status().message().find(dir_ + "/file"), std::string::npos) << r.status().ToString();
  // The path is a file itself.
  o.dir = dir_ + "/file";
  r = DiskCache::Open(o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("not a directory"), std::string::npos);

  // A directory this user may not write. Root ignores mode bits, so check as "nobody" in a child.
  const std::string locked = dir_ + "/locked";
  fs::create_directories(locked);
  // Earlier tests created the parent with mode 0700; let "nobody" reach the locked directory.
  fs::permissions(fs::path(dir_).parent_path(), fs::perms::owner_all | fs::perms::group_read |
                                                    fs::perms::group_exec | fs::perms::others_read |
                                                    fs::perms::others_exec);
  ::chmod(locked.c_str(), 0500);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (::geteuid() == 0 && (::chmod(locked.c_str(), 0700) != 0 || ::setgid(65534) != 0 ||
                             ::setuid(65534) != 0)) {
      ::_exit(20);
    }
    DiskCacheOptions lo;
    lo.dir = locked;
    auto lr = DiskCache::Open(lo);
    if (lr.ok()) ::_exit(21);
    if (lr.status().code() != LAM_STATUS_PERMISSION_DENIED) ::_exit(22);
    if (lr.status().message().find(locked) == std::string::npos) ::_exit(23);
    ::_exit(0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  ::chmod(locked.c_str(), 0700);
}

TEST_F(CacheStoreTest, DirectoryRemovedUnderneathFailsCleanly) {
  auto cache = OpenCache();
  ASSERT_TRUE(cache->Put(MakeKey("a"), Bytes(10, 1)).ok());
  fs::remove_all(dir_);
  const Status s = cache->Put(MakeKey("b"), Bytes(10, 2));
  EXPECT_EQ(s.code(), LAM_STATUS_IO_ERROR);
  EXPECT_NE(s.message().find(dir_), std::string::npos) << s.ToString();
  auto r = cache->Get(MakeKey("a"));
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->has_value());
}

TEST_F(CacheStoreTest, SymlinkEntryIsRejected) {
  auto cache = OpenCache();
  const CacheKey key = MakeKey("t1");
  std::ofstream(dir_ + "/target") << "not an entry";
  fs::create_symlink(dir_ + "/target", cache->PathFor(key));
  LogCapture log;
  auto r = cache->Get(key);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->has_value());
  EXPECT_FALSE(fs::exists(fs::symlink_status(cache->PathFor(key))));
  EXPECT_TRUE(fs::exists(dir_ + "/target"));
  EXPECT_NE(log.text().find("symbolic link"), std::string::npos);
}

// The old start-up probe opened "<dir>/.tmp-probe-<pid>" with O_CREAT|O_TRUNC, following a link
// planted there: whoever could write the directory could truncate any file the daemon can write.
TEST_F(CacheStoreTest, ProbeNeitherFollowsNorTruncatesAPlantedLink) {
  fs::create_directories(dir_);
  ::chmod(dir_.c_str(), 0700);
  const std::string victim = dir_ + "-victim";
  std::ofstream(victim) << "precious";
  const std::string planted = dir_ + "/" + kTempPrefix + "probe-" + std::to_string(::getpid());
  fs::create_symlink(victim, planted);
  auto cache = OpenCache();
  ASSERT_NE(cache, nullptr);
  std::ifstream in(victim);
  const std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(content, "precious") << "the probe truncated the file a planted link points to";
  EXPECT_TRUE(fs::is_symlink(fs::symlink_status(planted)));
  fs::remove(victim);
}

// A FIFO named like an entry used to block Get() in open() until some writer came along.
TEST_F(CacheStoreTest, FifoNamedLikeAnEntryIsAPromptMiss) {
  auto cache = OpenCache();
  ASSERT_NE(cache, nullptr);
  const CacheKey key = MakeKey("fifo");
  const std::string path = cache->PathFor(key);
  ASSERT_EQ(::mkfifo(path.c_str(), 0600), 0) << std::strerror(errno);
  LogCapture log;
  auto lookup = std::async(std::launch::async, [&] { return cache->Get(key); });
  if (lookup.wait_for(std::chrono::seconds(5)) != std::future_status::ready) {
    // Unblock the reader (a writer end lets its open() return) so the test fails, not hangs.
    const int w = ::open(path.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    if (w >= 0) ::close(w);
    lookup.wait();
    FAIL() << "Get() blocked on a FIFO named like an entry";
  }
  auto r = lookup.get();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_FALSE(r->has_value());
  EXPECT_NE(log.text().find("not a regular file"), std::string::npos) << log.text();
  // A real entry can take the name afterwards.
  ASSERT_TRUE(cache->Put(key, Bytes(64, 7)).ok());
  auto again = Fetch(*cache, key);
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(*again, Bytes(64, 7));
}

TEST_F(CacheStoreTest, GroupOrWorldWritableDirectoryIsRefusedAndLogged) {
  for (const mode_t mode : {mode_t{0777}, mode_t{0770}, mode_t{0702}}) {
    fs::create_directories(dir_);
    ASSERT_EQ(::chmod(dir_.c_str(), mode), 0);
    LogCapture log;
    DiskCacheOptions o;
    o.dir = dir_;
    auto r = DiskCache::Open(o);
    ASSERT_FALSE(r.ok()) << "mode " << std::oct << mode;
    EXPECT_EQ(r.status().code(), LAM_STATUS_PERMISSION_DENIED);
    EXPECT_NE(r.status().message().find(dir_), std::string::npos) << r.status().ToString();
    const std::string text = log.text();
    EXPECT_NE(text.find("refusing cache directory " + dir_), std::string::npos) << text;
    EXPECT_NE(text.find("writable by group or others"), std::string::npos) << text;
  }
  ::chmod(dir_.c_str(), 0750);  // group may read and enter, not write: accepted
  EXPECT_NE(OpenCache(), nullptr);
}

TEST_F(CacheStoreTest, DirectoryOwnedByAnotherUserIsRefusedAndLogged) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to give the directory to another user";
  fs::create_directories(dir_);
  ::chmod(dir_.c_str(), 0700);
  ASSERT_EQ(::chown(dir_.c_str(), 65534, 65534), 0) << std::strerror(errno);
  LogCapture log;
  DiskCacheOptions o;
  o.dir = dir_;
  auto r = DiskCache::Open(o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), LAM_STATUS_PERMISSION_DENIED);
  EXPECT_NE(log.text().find("owned by uid 65534"), std::string::npos) << log.text();
}

TEST_F(CacheStoreTest, SymlinkedDirectoryIsRefused) {
  const std::string real = dir_ + "-real";
  fs::create_directories(real);
  ::chmod(real.c_str(), 0700);
  fs::create_directories(fs::path(dir_).parent_path());
  fs::create_symlink(real, dir_);
  LogCapture log;
  DiskCacheOptions o;
  o.dir = dir_;
  auto r = DiskCache::Open(o);
  EXPECT_FALSE(r.ok());
  EXPECT_NE(log.text().find("symbolic link"), std::string::npos) << log.text();
  EXPECT_TRUE(fs::is_empty(real));
  fs::remove(dir_);
  fs::remove_all(real);
}

// Once open, the cache works on the directory it checked: a path swapped for a link afterwards
// does not redirect writes (or reads) elsewhere.
TEST_F(CacheStoreTest, SwappedDirectoryPathDoesNotRedirect) {
  auto cache = OpenCache();
  ASSERT_NE(cache, nullptr);
  const std::string moved = dir_ + "-moved";
  const std::string elsewhere = dir_ + "-elsewhere";
  fs::create_directories(elsewhere);
  fs::rename(dir_, moved);
  fs::create_symlink(elsewhere, dir_);
  const CacheKey key = MakeKey("swap");
  ASSERT_TRUE(cache->Put(key, Bytes(32, 3)).ok());
  EXPECT_TRUE(fs::is_empty(elsewhere)) << "a write followed the swapped path";
  EXPECT_TRUE(fs::exists(moved + "/" + key.Hash() + kEntrySuffix));
  auto got = Fetch(*cache, key);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(*got, Bytes(32, 3));
  fs::remove(dir_);
  fs::remove_all(moved);
  fs::remove_all(elsewhere);
}

}  // namespace
}  // namespace lam::cache
