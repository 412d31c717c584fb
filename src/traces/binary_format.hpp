// The binary encoding of the trace format: constants shared by its reader, its
// writer and format detection. The layout is specified in docs/binary-format.md.
#pragma once

namespace mmusim::traces::binary {

// The first eight bytes of every binary trace. As PNG's: a non-ASCII first byte so no
// text reader mistakes it for text, then CR LF, ^Z and LF, which any text-mode
// transfer that rewrote line ends or stopped at ^Z would damage visibly.
inline constexpr unsigned char kMagic[8] = {0x89, 'M', 'M', 'U', '\r', '\n', 0x1A, '\n'};

}  // namespace mmusim::traces::binary
