#include "convert.hpp"

#include <filesystem>
#include <iostream>
#include <memory>
#include <stdexcept>

#include <fmt/format.h>

#include "traces/binary_writer.hpp"
#include "traces/generator.hpp"
#include "traces/output.hpp"
#include "traces/text_writer.hpp"

namespace mmusim::cli {
namespace {

// The name without its compression extension ends in .trace: text; else binary.
bool names_text(const std::string& path) {
  std::filesystem::path p(path);
  if (traces::Output::compression_for(path) != traces::Compression::None) p = p.stem();
  return p.extension() == ".trace";
}

// One output trace in either encoding.
class EventSink {
 public:
  EventSink(const std::string& path, Encoding to)
      : out_(path, traces::Output::compression_for(path)), path_(path) {
    if (to == Encoding::Text || (to == Encoding::Auto && names_text(path)))
      text_ = std::make_unique<traces::TextWriter>(out_.stream());
    else
      binary_ = std::make_unique<traces::BinaryWriter>(out_.stream());
  }
  void write(const traces::Event& ev) {
    if (text_) text_->write(ev);
    else binary_->write(ev);
    ++events_;
  }
  ConvertResult finish() {
    // The writers hand their buffers to the stream before it is closed, and are gone
    // before it is: a writer must never outlive the stream it writes to.
    if (binary_) binary_->finish();
    if (text_) text_->finish();
    text_.reset();
    binary_.reset();
    out_.close();
    std::error_code ec;
    const auto size = std::filesystem::file_size(path_, ec);
    return {events_, ec ? 0 : static_cast<std::uint64_t>(size)};
  }

 private:
  traces::Output out_;
  std::string path_;
  std::unique_ptr<traces::TextWriter> text_;
  std::unique_ptr<traces::BinaryWriter> binary_;
  std::uint64_t events_ = 0;
};

}  // namespace

Encoding parse_encoding(const std::string& name) {
  if (name == "auto") return Encoding::Auto;
  if (name == "text") return Encoding::Text;
  if (name == "binary") return Encoding::Binary;
  throw std::invalid_argument("unknown output encoding '" + name + "' (expected auto, text or binary)");
}

ConvertResult convert(const std::string& in, traces::Format from, const std::string& out, Encoding to) {
  // Refuse to overwrite the input: it would be truncated before it is read.
  std::error_code ec;
  if (std::filesystem::equivalent(in, out, ec))
    throw std::runtime_error(fmt::format("{}: error: the output is the input", out));
  std::unique_ptr<traces::Reader> reader = traces::open_reader(in, from);
  EventSink sink(out, to);
  traces::Event ev;
  while (reader->next(ev)) sink.write(ev);
  return sink.finish();
}

int gen(const std::vector<std::string>& args) {
  std::vector<std::string> spec_args;
  std::string out;
  Encoding to = Encoding::Auto;
  for (size_t i = 0; i < args.size(); ++i) {
    if ((args[i] == "-o" || args[i] == "--output") && i + 1 < args.size()) out = args[++i];
    else if (args[i] == "--to" && i + 1 < args.size()) to = parse_encoding(args[++i]);
    else spec_args.push_back(args[i]);
  }
  if (out.empty()) throw std::invalid_argument("gen: missing -o OUT (the trace file to write)");
  traces::Generator g(traces::Generator::parse(spec_args));
  EventSink sink(out, to);
  traces::Event ev;
  while (g.next(ev)) sink.write(ev);
  const ConvertResult r = sink.finish();
  std::cerr << fmt::format("mmusim: wrote {} events to {} ({} bytes)\n", r.events, out, r.bytes_out);
  return 0;
}

}  // namespace mmusim::cli
