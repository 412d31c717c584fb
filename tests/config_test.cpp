// Configuration: named values, overrides, files, and the errors that name the key.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "config/config.hpp"

namespace mmusim::config {
namespace {

TEST(Config, SetOverridesANamedValueWithSuffixesAndHex) {
  Config c;
  set(c, "tlb.l1d.4k.entries=128");
  set(c, "mem.size = 64M");
  set(c, "kernel.cost.copy_4k=0x400");
  set(c, "core.strict_timing=on");
  EXPECT_EQ(c.tlb.l1d.a4k.entries, 128u);
  EXPECT_EQ(c.mem.size_bytes, 64ull << 20);
  EXPECT_EQ(c.kernel.cost.copy_4k, 0x400u);
  EXPECT_TRUE(c.core.strict_timing);
}

TEST(Config, UnknownKeyAndBadValueNameTheKey) {
  Config c;
  try {
    set(c, "tlb.l1d.entriez=8");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("tlb.l1d.entriez"), std::string::npos);
  }
  try {
    set(c, "tlb.l1d.4k.ways=four");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("tlb.l1d.ways"), std::string::npos);
  }
  EXPECT_THROW(set(c, "tlb.l1d.ways"), ConfigError);
}

TEST(Config, EnumValuesAreSetAndReportedByName) {
  Config c;
  set(c, "kernel.cow=eager");
  set(c, "kernel.thp=always");
  EXPECT_EQ(c.kernel.cow, CowPolicy::Eager);
  EXPECT_EQ(c.kernel.thp, ThpPolicy::Always);
  EXPECT_EQ(to_json(c)["kernel.cow"], "eager");
  try {
    set(c, "kernel.cow=sometimes");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("lazy|eager"), std::string::npos) << e.what();
  }
}

TEST(Config, ValidateRejectsImpossibleGeometry) {
  Config c;
  EXPECT_NO_THROW(validate(c));
  c.tlb.l1d.a4k.ways = 3;
  EXPECT_THROW(validate(c), ConfigError);
  c = Config{};
  c.tlb.l1i.a4k.entries = 96;  // 12 sets of 8 ways: not a power of two
  EXPECT_THROW(validate(c), ConfigError);
  c = Config{};
  c.mem.latency_cycles = 0;
  EXPECT_THROW(validate(c), ConfigError);
  c = Config{};
  c.kernel.fault_around_pages = 12;
  EXPECT_THROW(validate(c), ConfigError);
  c = Config{};
  set(c, "tlb.l1i.4k.entries=96");
  set(c, "tlb.l1i.4k.ways=6");  // 16 sets of 6 ways: fine for LRU, impossible for a PLRU tree
  EXPECT_NO_THROW(validate(c));
  set(c, "tlb.l1i.4k.replacement=plru");
  try {
    validate(c);
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("tlb.l1i.replacement"), std::string::npos) << e.what();
  }
}

TEST(Config, FileErrorsNameFileAndLine) {
  const auto p = std::filesystem::temp_directory_path() / "mmusim_config_test.conf";
  std::ofstream(p) << "# comment\ntlb.l1d.entries = 32  # trailing\nbogus.key = 1\n";
  Config c;
  try {
    load_file(c, p.string());
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("mmusim_config_test.conf:3"), std::string::npos) << e.what();
  }
  EXPECT_EQ(c.tlb.l1d.a4k.entries, 32u);
  std::filesystem::remove(p);
}

TEST(Config, ShippedConfigurationsLoadAndValidate) {
  for (const char* name : {"skylake.conf", "teaching.conf"}) {
    Config c;
    EXPECT_NO_THROW(load_file(c, std::string(MMUSIM_SOURCE_DIR) + "/configs/" + name)) << name;
    EXPECT_NO_THROW(validate(c)) << name;
  }
}

TEST(Config, SkylakeFileEqualsTheBuiltInDefaults) {
  Config defaults, file;
  load_file(file, std::string(MMUSIM_SOURCE_DIR) + "/configs/skylake.conf");
  EXPECT_EQ(to_json(defaults), to_json(file));
}

TEST(Config, EveryParamHasAUnitAndADescription) {
  Config c;
  for (const auto& p : params(c)) {
    EXPECT_FALSE(p.unit.empty()) << p.key;
    EXPECT_FALSE(p.what.empty()) << p.key;
  }
}

}  // namespace
}  // namespace mmusim::config
