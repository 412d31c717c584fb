#include "traces/champsim_reader.hpp"

#include <cstring>
#include <optional>

#include "traces/input.hpp"

namespace mmusim::traces {
namespace {

// Field offsets in a record (champsim_reader.hpp).
constexpr std::size_t kIpAt = 0;
constexpr std::size_t kDestMemAt = 16;
constexpr std::size_t kSrcMemAt = 32;
constexpr unsigned kDestSlots = 2;
constexpr unsigned kSrcSlots = 4;
static_assert(kSrcMemAt + 8 * kSrcSlots == ChampsimReader::kRecordSize);
static_assert(kDestMemAt + 8 * kDestSlots == kSrcMemAt);

inline std::uint64_t load_le64(const unsigned char* p) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = v << 8 | p[i];  // compiles to one load on little-endian hosts
  return v;
}

// Records per block read: 1 MiB.
constexpr std::size_t kBlockRecords = 16384;

}  // namespace

struct ChampsimReader::Impl {
  std::string path;
  Input input;
  std::unique_ptr<unsigned char[]> buf;
  std::size_t pos = 0, end = 0;   // unread bytes are buf[pos, end)
  bool eof = false;
  std::uint64_t records = 0;      // records decoded

  // The events of the current record still to return.
  struct Access {
    Op op;
    std::uint64_t addr;
    std::uint64_t size;
  };
  Access pending[1 + kSrcSlots + kDestSlots];
  unsigned npending = 0, next_pending = 0;
  std::optional<TraceError> fatal;

  explicit Impl(const std::string& p)
      : path(p), input(p), buf(new unsigned char[kBlockRecords * kRecordSize]) {}

  [[noreturn]] void die(std::uint64_t line, std::string msg) {
    fatal.emplace(path, line, 0, std::move(msg));
    throw *fatal;
  }

  // Makes at least one whole record available; false at a clean end.
  bool fill() {
    if (end - pos >= kRecordSize) return true;
    const std::size_t keep = end - pos;
    if (keep != 0) std::memmove(buf.get(), buf.get() + pos, keep);
    pos = 0;
    end = keep;
    const std::size_t cap = kBlockRecords * kRecordSize;
    while (!eof && end < cap) {
      const std::size_t got = input.read(reinterpret_cast<char*>(buf.get()) + end, cap - end);
      if (got == 0) eof = true;
      end += got;
    }
    if (end >= kRecordSize) return true;
    if (input.failed()) die(records, input.error());
    if (end != 0) {
      die(records + 1, "truncated record at byte " + std::to_string(records * kRecordSize) + " (" +
                           std::to_string(end) + " of " + std::to_string(kRecordSize) +
                           " bytes; is this a ChampSim trace?)");
    }
    return false;
  }

  void decode(const unsigned char* r) {
    npending = next_pending = 0;
    pending[npending++] = {Op::Fetch, load_le64(r + kIpAt), kFetchSize};
    for (unsigned i = 0; i < kSrcSlots; ++i) {
      const std::uint64_t a = load_le64(r + kSrcMemAt + 8 * i);
      if (a != 0) pending[npending++] = {Op::Read, a, kDataSize};
    }
    for (unsigned i = 0; i < kDestSlots; ++i) {
      const std::uint64_t a = load_le64(r + kDestMemAt + 8 * i);
      if (a != 0) pending[npending++] = {Op::Write, a, kDataSize};
    }
  }

  bool next(Event& ev) {
    if (fatal) throw *fatal;
    if (next_pending == npending) {
      if (!fill()) return false;
      decode(buf.get() + pos);
      pos += kRecordSize;
      ++records;
    }
    const Access& a = pending[next_pending++];
    ev.reset_options();
    ev.op = a.op;
    ev.addr = a.addr;
    ev.size = a.size;
    ev.line = records;
    return true;
  }
};

ChampsimReader::ChampsimReader(const std::string& path) : impl_(std::make_unique<Impl>(path)) {}
ChampsimReader::~ChampsimReader() = default;
ChampsimReader::ChampsimReader(ChampsimReader&&) noexcept = default;
ChampsimReader& ChampsimReader::operator=(ChampsimReader&&) noexcept = default;

bool ChampsimReader::next(Event& ev) { return impl_->next(ev); }
const std::string& ChampsimReader::path() const { return impl_->path; }
double ChampsimReader::fraction_read() const { return impl_->input.fraction_read(); }
std::uint64_t ChampsimReader::record() const { return impl_->records; }

}  // namespace mmusim::traces
