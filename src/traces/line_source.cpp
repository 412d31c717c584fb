#include "traces/line_source.hpp"

namespace mmusim::traces::detail {

LineSource::LineSource(const std::string& path, const char* kind)
    : path_(path), kind_(kind), input_(path), lines_(input_) {}

void LineSource::die(std::uint64_t line, std::string msg) {
  fatal_.emplace(path_, line, 0, std::move(msg));
  throw *fatal_;
}

bool LineSource::end_or_fail(LineBuffer::Status status) {
  if (status != LineBuffer::Status::TooLong) {
    if (input_.failed()) die(line_no_, input_.error());
    return false;
  }
  die(line_no_ + 1, "line longer than " + std::to_string(LineBuffer::kMaxLine >> 20) + " MiB (is this " + kind_ +
                        "?)");
}

}  // namespace mmusim::traces::detail
