#include "traces/reader.hpp"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <stdexcept>

#include "traces/binary_format.hpp"
#include "traces/binary_reader.hpp"
#include "traces/champsim_reader.hpp"
#include "traces/input.hpp"
#include "traces/lackey_reader.hpp"
#include "traces/text_reader.hpp"

namespace mmusim::traces {
namespace {

constexpr const char* kFormatNames[] = {"auto", "text", "binary", "lackey", "champsim"};

// A lackey record (valgrind --tool=lackey --trace-mem=yes): "I  ADDR,SIZE" or
// " L|S|M ADDR,SIZE", ADDR in hex without 0x.
bool is_lackey_record(std::string_view line) {
  if (line.size() < 5) return false;
  const bool instr = line.substr(0, 3) == "I  ";
  const bool data = line[0] == ' ' && (line[1] == 'L' || line[1] == 'S' || line[1] == 'M') && line[2] == ' ';
  if (!instr && !data) return false;
  const std::string_view rest = line.substr(3);
  const auto comma = rest.find(',');
  return comma != std::string_view::npos && comma > 0 &&
         std::all_of(rest.begin(), rest.begin() + static_cast<std::ptrdiff_t>(comma),
                     [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; });
}

// valgrind's own lines: "==PID== text".
bool is_valgrind_banner(std::string_view line) {
  if (line.size() < 5 || line.substr(0, 2) != "==") return false;
  const auto end = line.find("==", 2);
  return end != std::string_view::npos && end > 2 &&
         std::all_of(line.begin() + 2, line.begin() + static_cast<std::ptrdiff_t>(end),
                     [](char c) { return c >= '0' && c <= '9'; });
}

bool is_text(const char* p, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    const auto c = static_cast<unsigned char>(p[i]);
    if (c < 0x20 && c != '\n' && c != '\r' && c != '\t') return false;  // UTF-8 bytes >= 0x80 are fine
  }
  return true;
}

}  // namespace

const char* format_name(Format f) { return kFormatNames[static_cast<unsigned>(f)]; }

Format parse_format(std::string_view name) {
  for (unsigned i = 0; i < std::size(kFormatNames); ++i)
    if (name == kFormatNames[i]) return static_cast<Format>(i);
  throw std::invalid_argument("unknown trace format '" + std::string(name) +
                              "' (expected auto, text, binary, lackey or champsim)");
}

Format detect_format(const std::string& path) {
  Input in(path);
  char head[4096];
  std::size_t n = 0;
  while (n < sizeof head) {
    const std::size_t got = in.read(head + n, sizeof head - n);
    if (got == 0) break;
    n += got;
  }
  if (n >= sizeof binary::kMagic && std::memcmp(head, binary::kMagic, sizeof binary::kMagic) == 0)
    return Format::Binary;
  // A read that stops inside a UTF-8 sequence or a line is fine: only whole lines
  // before the last newline are classified.
  if (!is_text(head, n)) return Format::Champsim;
  std::string_view text(head, n);
  unsigned looked = 0;
  while (!text.empty() && looked < 8) {
    const auto nl = text.find('\n');
    if (nl == std::string_view::npos && n == sizeof head) break;  // a partial last line
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) continue;
    if (is_valgrind_banner(line) || is_lackey_record(line)) return Format::Lackey;
    ++looked;
  }
  return Format::Text;
}

std::unique_ptr<Reader> open_reader(const std::string& path, Format format) {
  if (format == Format::Auto) format = detect_format(path);
  switch (format) {
    case Format::Text:
    case Format::Auto:
      return std::make_unique<TextReader>(path);
    case Format::Lackey:
      return std::make_unique<LackeyReader>(path);
    case Format::Champsim:
      return std::make_unique<ChampsimReader>(path);
    case Format::Binary:
      return std::make_unique<BinaryReader>(path);
  }
  throw std::logic_error("open_reader: unknown format");
}

}  // namespace mmusim::traces
