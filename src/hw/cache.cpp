#include "hw/cache.hpp"

#include <algorithm>
#include <bit>
#include <stdexcept>
#include <string>

namespace mmusim::hw {

namespace {

unsigned checked_line_shift(unsigned sets, unsigned ways, unsigned line_bytes) {
  if (sets == 0 || !std::has_single_bit(sets))
    throw std::invalid_argument("cache: " + std::to_string(sets) + " sets is not a power of two");
  if (ways == 0) throw std::invalid_argument("cache: ways must be nonzero");
  // Below 8 bytes a line number could be all ones and collide with the empty mark.
  if (line_bytes < 8 || !std::has_single_bit(line_bytes))
    throw std::invalid_argument("cache: a line of " + std::to_string(line_bytes) +
                                " bytes is not a power of two of at least 8");
  return static_cast<unsigned>(std::countr_zero(line_bytes));
}

}  // namespace

Cache::Cache(unsigned sets, unsigned ways, unsigned line_bytes)
    : sets_(sets),
      ways_(ways),
      line_shift_(checked_line_shift(sets, ways, line_bytes)),
      set_mask_(sets - 1),
      tags_(std::size_t{sets} * ways, kEmpty),
      stamps_(std::size_t{sets} * ways, 0),
      dirty_(std::size_t{sets} * ways, 0),
      mru_way_(sets, 0) {}

bool Cache::lookup_other_ways(std::uint64_t line, std::uint64_t set, bool write) {
  const std::size_t base = set * ways_;
  for (unsigned way = 0; way < ways_; ++way) {
    if (tags_[base + way] != line) continue;
    dirty_[base + way] |= static_cast<unsigned char>(write);
    touch(set, way);
    ++stats_.hits;
    return true;
  }
  ++stats_.misses;
  return false;
}

std::optional<std::uint64_t> Cache::install(std::uint64_t line, std::uint64_t set, unsigned way, bool dirty) {
  const std::size_t slot = set * ways_ + way;
  std::optional<std::uint64_t> written_back;
  if (tags_[slot] != kEmpty) {
    ++stats_.evictions;
    if (dirty_[slot]) {
      ++stats_.writebacks;
      written_back = tags_[slot] << line_shift_;
    }
  }
  tags_[slot] = line;
  dirty_[slot] = dirty;
  touch(set, way);
  ++stats_.fills;
  return written_back;
}

std::optional<std::uint64_t> Cache::fill(std::uint64_t pa, bool dirty) {
  const std::uint64_t line = pa >> line_shift_;
  const std::uint64_t set = line & set_mask_;
  const auto [present, way] = find_or_victim(line, set);
  if (present) {  // not installed twice: made MRU (and dirty if asked)
    dirty_[set * ways_ + way] |= static_cast<unsigned char>(dirty);
    touch(set, way);
    return std::nullopt;
  }
  return install(line, set, way, dirty);
}

Cache::Outcome Cache::access(std::uint64_t pa, bool write) {
  const std::uint64_t line = pa >> line_shift_;
  const std::uint64_t set = line & set_mask_;
  const auto [present, way] = find_or_victim(line, set);
  if (present) {
    dirty_[set * ways_ + way] |= static_cast<unsigned char>(write);
    touch(set, way);
    ++stats_.hits;
    return {true, std::nullopt};
  }
  ++stats_.misses;
  return {false, install(line, set, way, write)};
}

void Cache::invalidate_all() {
  std::fill(tags_.begin(), tags_.end(), kEmpty);
  std::fill(stamps_.begin(), stamps_.end(), 0);
  std::fill(dirty_.begin(), dirty_.end(), 0);
  std::fill(mru_way_.begin(), mru_way_.end(), 0);
}

std::optional<std::size_t> Cache::find(std::uint64_t pa) const {
  const std::uint64_t line = pa >> line_shift_;
  const std::size_t base = (line & set_mask_) * ways_;
  for (unsigned way = 0; way < ways_; ++way)
    if (tags_[base + way] == line) return base + way;
  return std::nullopt;
}

bool Cache::contains(std::uint64_t pa) const { return find(pa).has_value(); }

bool Cache::dirty(std::uint64_t pa) const {
  const auto slot = find(pa);
  return slot && dirty_[*slot];
}

}  // namespace mmusim::hw
