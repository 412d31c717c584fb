// The Windows PAGE_* protection constants a trace may give instead of POSIX letters
// (TRACE_FORMAT.md, mmap/mprotect PROT), read by the text grammar and written back
// by the text writer from one table.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

namespace mmusim::traces {

struct WindowsProt {
  std::string_view name;
  std::uint16_t value;
  bool read, write, exec, writecopy;
};

// winnt.h values. PAGE_EXECUTE is readable: x86 page tables cannot express
// execute-only, and Windows maps it to a readable page too.
inline constexpr std::array<WindowsProt, 8> kWindowsProts{{
    {"PAGE_NOACCESS", 0x01, false, false, false, false},
    {"PAGE_READONLY", 0x02, true, false, false, false},
    {"PAGE_READWRITE", 0x04, true, true, false, false},
    {"PAGE_WRITECOPY", 0x08, true, true, false, true},
    {"PAGE_EXECUTE", 0x10, true, false, true, false},
    {"PAGE_EXECUTE_READ", 0x20, true, false, true, false},
    {"PAGE_EXECUTE_READWRITE", 0x40, true, true, true, false},
    {"PAGE_EXECUTE_WRITECOPY", 0x80, true, true, true, true},
}};

}  // namespace mmusim::traces
