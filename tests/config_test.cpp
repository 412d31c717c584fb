// Configuration: named values, overrides, files, the shipped machines, and the errors
// that name the key. The TLB keys are tlb.NAME.{4k,2m,1g}.{entries,ways,replacement},
// tlb.NAME.arrays and tlb.NAME.latency for NAME in l1d, l1i, l2, l2i.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "config/config.hpp"

namespace mmusim::config {
namespace {

const std::string kConfigs = std::string(MMUSIM_SOURCE_DIR) + "/configs/";

Config load(const std::string& name) {
  Config c;
  load_file(c, kConfigs + name);
  return c;
}

// The message validate() throws for `c`, or "" when it accepts `c`.
std::string validation_error(const Config& c) {
  try {
    validate(c);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

// The message set() throws for `assignment`, or "" when it accepts it.
std::string set_error(Config& c, std::string_view assignment) {
  try {
    set(c, assignment);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

// The defaults with `assignments` applied (each must be a valid KEY=VALUE).
Config with(std::initializer_list<std::string_view> assignments) {
  Config c;
  for (auto a : assignments) set(c, a);
  return c;
}

// An error message names what it is about: `needle` (a key, a file:line, the allowed values).
::testing::AssertionResult Mentions(const std::string& message, const std::string& needle) {
  if (message.find(needle) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "expected '" << needle << "' in: '" << message << "'";
}

TEST(Config, SetOverridesANamedValueWithSuffixesAndHex) {
  Config c;
  set(c, "tlb.l1d.4k.entries=128");
  set(c, "mem.size = 64M");
  set(c, "kernel.cost.pte_update=0x400");
  set(c, "core.strict_timing=on");
  EXPECT_EQ(c.tlb.l1d.a4k.entries, 128u);
  EXPECT_EQ(c.mem.size_bytes, 64ull << 20);
  EXPECT_EQ(c.kernel.cost.pte_update, 0x400u);
  EXPECT_TRUE(c.core.strict_timing);
}

TEST(Config, SetChangesOnlyTheNamedField) {
  // --set tlb.l1d.4k.entries=128 reaches that field and no other: not the 2m or 1g
  // array, not another level's 4k array.
  Config defaults, c;
  set(c, "tlb.l1d.4k.entries=128");
  EXPECT_EQ(c.tlb.l1d.a4k.entries, 128u);
  const auto before = to_json(defaults), after = to_json(c);
  std::vector<std::string> changed;
  for (const auto& [key, value] : after.items())
    if (before.at(key) != value) changed.push_back(key);
  EXPECT_EQ(changed, std::vector<std::string>{"tlb.l1d.4k.entries"});
}

TEST(Config, UnknownKeyAndBadValueNameTheKey) {
  Config c;
  EXPECT_TRUE(Mentions(set_error(c, "tlb.l1d.entriez=8"), "tlb.l1d.entriez"));
  EXPECT_TRUE(Mentions(set_error(c, "tlb.l1d.4k.ways=four"), "tlb.l1d.4k.ways"));
  EXPECT_TRUE(Mentions(set_error(c, "cache.l2.sets=-1"), "cache.l2.sets"));
  EXPECT_TRUE(Mentions(set_error(c, "tlb.l1d.4k.entries=0x100000000"), "tlb.l1d.4k.entries"));  // > unsigned
  EXPECT_THROW(set(c, "tlb.l1d.4k.ways"), ConfigError);  // no '='
}

TEST(Config, KeysOfTheOldLayoutAreUnknown) {
  // The TLB keys were redesigned: a file written for the old ones must fail loudly
  // rather than be half-applied.
  Config c;
  for (const char* old : {"tlb.l1d.entries=64", "tlb.l1i.ways=8", "tlb.hit_cycles=1", "tlb.miss_cycles=9",
                          "tlb.l1d.replacement=lru"}) {
    const std::string key = std::string(old).substr(0, std::string(old).find('='));
    const std::string msg = set_error(c, old);
    EXPECT_TRUE(Mentions(msg, "unknown configuration key"));
    EXPECT_TRUE(Mentions(msg, key));
  }
}

TEST(Config, EnumValuesAreSetAndReportedByName) {
  Config c;
  set(c, "kernel.cow=eager");
  set(c, "kernel.thp=always");
  EXPECT_EQ(c.kernel.cow, CowPolicy::Eager);
  EXPECT_EQ(c.kernel.thp, ThpPolicy::Always);
  EXPECT_EQ(to_json(c)["kernel.cow"], "eager");
  EXPECT_TRUE(Mentions(set_error(c, "kernel.cow=sometimes"), "lazy|eager"));
}

TEST(Config, TlbArraysMemoryModelAndReplacementParseByName) {
  Config c;
  set(c, "tlb.l1d.arrays=unified");
  set(c, "tlb.l2i.arrays=4k+2m");
  set(c, "tlb.l2.arrays=split");
  set(c, "mem.model=fixed");
  set(c, "tlb.l2.4k.replacement=srrip");
  EXPECT_EQ(c.tlb.l1d.arrays, TlbArrays::Unified);
  EXPECT_EQ(c.tlb.l2i.arrays, TlbArrays::Shared4k2m);
  EXPECT_EQ(c.tlb.l2.arrays, TlbArrays::Split);
  EXPECT_EQ(c.mem.model, MemoryModel::Fixed);
  EXPECT_EQ(c.tlb.l2.a4k.replacement, tlb::Replacement::Srrip);
  const auto j = to_json(c);
  EXPECT_EQ(j["tlb.l1d.arrays"], "unified");
  EXPECT_EQ(j["tlb.l2i.arrays"], "4k+2m");
  EXPECT_EQ(j["mem.model"], "fixed");
}

TEST(Config, ABadEnumValueNamesTheKeyAndTheAllowedValues) {
  Config c;
  std::string msg = set_error(c, "tlb.l1d.arrays=shared");
  EXPECT_TRUE(Mentions(msg, "tlb.l1d.arrays"));
  EXPECT_TRUE(Mentions(msg, "split|4k+2m|unified"));
  msg = set_error(c, "mem.model=dram");
  EXPECT_TRUE(Mentions(msg, "mem.model"));
  EXPECT_TRUE(Mentions(msg, "fixed|caches"));
  msg = set_error(c, "tlb.l1i.2m.replacement=fifo");
  EXPECT_TRUE(Mentions(msg, "tlb.l1i.2m.replacement"));
  EXPECT_TRUE(Mentions(msg, "lru|plru|random|srrip"));
  EXPECT_EQ(c.tlb.l1d.arrays, TlbArrays::Split);  // a rejected value leaves the field alone
  EXPECT_EQ(c.mem.model, MemoryModel::Caches);
}

TEST(Config, ValidateRejectsImpossibleGeometry) {
  Config c;
  EXPECT_NO_THROW(validate(c));
  c.tlb.l1d.a4k.ways = 3;
  EXPECT_THROW(validate(c), ConfigError);
  c = Config{};
  c.tlb.l1i.a4k.entries = 96;  // 12 sets of 8 ways: not a power of two
  EXPECT_TRUE(Mentions(validation_error(c), "tlb.l1i.4k"));
  c = Config{};
  c.mem.latency_cycles = 0;
  EXPECT_TRUE(Mentions(validation_error(c), "mem.latency"));
  c = Config{};
  c.kernel.fault_around_pages = 12;
  EXPECT_TRUE(Mentions(validation_error(c), "kernel.fault_around_pages"));
  c = Config{};
  set(c, "tlb.l1i.4k.entries=96");
  set(c, "tlb.l1i.4k.ways=6");  // 16 sets of 6 ways: fine for LRU, impossible for a PLRU tree
  EXPECT_NO_THROW(validate(c));
  set(c, "tlb.l1i.4k.replacement=plru");
  EXPECT_TRUE(Mentions(validation_error(c), "tlb.l1i.4k.replacement"));
}

TEST(Config, WaysThatDoNotDivideEntriesNameTheWaysKey) {
  // 32 entries in 3 ways: the L1 DTLB's 2M array, not its 4K one.
  EXPECT_TRUE(Mentions(validation_error(with({"tlb.l1d.2m.ways=3"})), "tlb.l1d.2m.ways"));
  EXPECT_TRUE(Mentions(validation_error(with({"tlb.l2.1g.ways=5"})), "tlb.l2.1g.ways"));
  EXPECT_TRUE(Mentions(validation_error(with({"tlb.l1d.1g.ways=0"})), "tlb.l1d.1g.ways"));
  EXPECT_TRUE(Mentions(validation_error(with({"psc.pde.ways=3"})), "psc.pde.ways"));
}

TEST(Config, A4kPlus2mLevelHoldsNo2mArray) {
  // With arrays = 4k+2m the 4k array holds the 2M pages; a 2m array beside it would be
  // a second home for them.
  const std::string msg = validation_error(with({"tlb.l2.2m.entries=32", "tlb.l2.2m.ways=4"}));
  EXPECT_TRUE(Mentions(msg, "tlb.l2.2m.entries"));
  EXPECT_TRUE(Mentions(msg, "4k+2m"));
  // ... but its 1G array is its own (the Skylake STLB's 16 1G entries).
  EXPECT_EQ(validation_error(with({"tlb.l1d.arrays=4k+2m", "tlb.l1d.2m.entries=0"})), "");
}

TEST(Config, AUnifiedLevelHoldsNo2mOr1gArray) {
  std::string msg = validation_error(with({"tlb.l1d.arrays=unified"}));  // defaults: 2m 32, 1g 4
  EXPECT_TRUE(Mentions(msg, "tlb.l1d.2m.entries"));
  EXPECT_TRUE(Mentions(msg, "unified"));
  msg = validation_error(with({"tlb.l1d.arrays=unified", "tlb.l1d.2m.entries=0"}));
  EXPECT_TRUE(Mentions(msg, "tlb.l1d.1g.entries"));
  EXPECT_EQ(validation_error(with({"tlb.l1d.arrays=unified", "tlb.l1d.2m.entries=0", "tlb.l1d.1g.entries=0",
                                   "tlb.l1d.4k.entries=72", "tlb.l1d.4k.ways=72"})),
            "");  // Zen 4's L1 DTLB: one fully associative set of 72
}

TEST(Config, AnAbsentLevelHasNo2mOr1gEntries) {
  // tlb.l2i.4k.entries = 0 means there is no L2 ITLB; entries in its other arrays
  // would be a TLB that exists and does not.
  std::string msg = validation_error(with({"tlb.l2i.2m.entries=8", "tlb.l2i.2m.ways=4"}));
  EXPECT_TRUE(Mentions(msg, "tlb.l2i.2m.entries"));
  EXPECT_TRUE(Mentions(msg, "tlb.l2i.4k.entries = 0"));
  msg = validation_error(with({"tlb.l2.4k.entries=0"}));  // defaults: the STLB's 1g has 16
  EXPECT_TRUE(Mentions(msg, "tlb.l2.1g.entries"));
  EXPECT_EQ(validation_error(with({"tlb.l2.4k.entries=0", "tlb.l2.1g.entries=0"})), "");  // no STLB at all
  // The L1 TLBs cannot be absent.
  EXPECT_TRUE(Mentions(validation_error(with({"tlb.l1d.4k.entries=0"})), "tlb.l1d.4k.entries"));
  EXPECT_TRUE(Mentions(validation_error(with({"tlb.l1i.4k.entries=0"})), "tlb.l1i.4k.entries"));
}

TEST(Config, AnL2TlbLookupTakesAtLeastOneCycle) {
  EXPECT_TRUE(Mentions(validation_error(with({"tlb.l2.latency=0"})), "tlb.l2.latency"));
  // A present L2 ITLB too; an absent one's latency is never paid.
  EXPECT_EQ(validation_error(with({"tlb.l2i.latency=0"})), "");
  EXPECT_TRUE(Mentions(validation_error(with({"tlb.l2i.4k.entries=512", "tlb.l2i.4k.ways=4", "tlb.l2i.latency=0"})),
                  "tlb.l2i.latency"));
  // An L1 hit may be free: it overlaps the L1D access (linux-fault-path.md §3.2).
  EXPECT_EQ(validation_error(with({"tlb.l1d.latency=0", "tlb.l1i.latency=0"})), "");
}

TEST(Config, CacheSetsMustBeAPowerOfTwo) {
  EXPECT_TRUE(Mentions(validation_error(with({"cache.l2.sets=1000"})), "cache.l2.sets"));
  EXPECT_TRUE(Mentions(validation_error(with({"cache.llc.sets=0"})), "cache.llc.sets"));
  EXPECT_TRUE(Mentions(validation_error(with({"cache.l1d.ways=0"})), "cache.l1d.ways"));
  EXPECT_EQ(validation_error(with({"cache.llc.sets=32768", "cache.llc.ways=12"})), "");  // ways need not be 2^n
}

TEST(Config, CacheLineIsAPowerOfTwoFrom8To4096Bytes) {
  for (const char* bad : {"cache.l1d.line=4", "cache.l1d.line=48", "cache.l1d.line=8192", "cache.l1d.line=0"})
    EXPECT_TRUE(Mentions(validation_error(with({bad})), "cache.l1d.line")) << bad;
  // Valid sizes, given to every level (the levels share one line size).
  EXPECT_EQ(validation_error(with({"cache.l1d.line=8", "cache.l2.line=8", "cache.llc.line=8"})), "");
  EXPECT_EQ(validation_error(with({"cache.l1d.line=4096", "cache.l2.line=4096", "cache.llc.line=4096"})), "");
}

TEST(Config, CacheAndDramLatenciesAreAtLeastOneCycle) {
  EXPECT_TRUE(Mentions(validation_error(with({"cache.l1d.latency=0"})), "cache.l1d.latency"));
  EXPECT_TRUE(Mentions(validation_error(with({"cache.llc.latency=0"})), "cache.llc.latency"));
  EXPECT_TRUE(Mentions(validation_error(with({"cache.dram_latency=0"})), "cache.dram_latency"));
}

TEST(Config, FileErrorsNameFileAndLine) {
  const auto p = std::filesystem::temp_directory_path() / "mmusim_config_test.conf";
  std::ofstream(p) << "# comment\ntlb.l1d.4k.entries = 32  # trailing\nbogus.key = 1\n";
  Config c;
  try {
    load_file(c, p.string());
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_TRUE(Mentions(e.what(), "mmusim_config_test.conf:3"));
    EXPECT_TRUE(Mentions(e.what(), "bogus.key"));
  }
  EXPECT_EQ(c.tlb.l1d.a4k.entries, 32u);  // the lines before the error were applied
  std::filesystem::remove(p);
}

TEST(Config, EveryShippedConfigurationLoadsAndValidates) {
  // Every file in configs/, so a new machine is checked without being listed here.
  std::set<std::string> seen;
  for (const auto& entry : std::filesystem::directory_iterator(kConfigs)) {
    if (entry.path().extension() != ".conf") continue;
    const std::string name = entry.path().filename().string();
    seen.insert(name);
    Config c;
    EXPECT_NO_THROW(load_file(c, entry.path().string())) << name;
    EXPECT_EQ(validation_error(c), "") << name;
  }
  for (const char* name : {"skylake.conf", "teaching.conf", "zen4.conf"}) EXPECT_TRUE(seen.count(name)) << name;
}

TEST(Config, SkylakeFileEqualsTheBuiltInDefaults) {
  Config defaults, file = load("skylake.conf");
  EXPECT_EQ(to_json(defaults), to_json(file));
}

TEST(Config, Zen4FileDiffersFromSkylakeWhereZen4Does) {
  const Config sky = load("skylake.conf"), zen = load("zen4.conf");
  // Clock: linux-fault-path.md §3.2 column headers.
  EXPECT_EQ(sky.core.frequency_ghz, 3.0);
  EXPECT_EQ(zen.core.frequency_ghz, 3.7);
  // L1 DTLB: Intel splits it by page size; Zen 4 has 72 fully associative entries for all.
  EXPECT_EQ(sky.tlb.l1d.arrays, TlbArrays::Split);
  EXPECT_EQ(zen.tlb.l1d.arrays, TlbArrays::Unified);
  EXPECT_EQ(zen.tlb.l1d.a4k.entries, 72u);
  EXPECT_EQ(zen.tlb.l1d.a4k.ways, 72u);
  EXPECT_EQ(zen.tlb.l1d.a2m.entries + zen.tlb.l1d.a1g.entries, 0u);
  // L2: 3072 12-way with 1G smashed (no 1G array), and a separate 512-entry L2 ITLB.
  EXPECT_EQ(zen.tlb.l2.a4k.entries, 3072u);
  EXPECT_EQ(zen.tlb.l2.a4k.ways, 12u);
  EXPECT_EQ(sky.tlb.l2.a1g.entries, 16u);
  EXPECT_EQ(zen.tlb.l2.a1g.entries, 0u);
  EXPECT_EQ(sky.tlb.l2i.a4k.entries, 0u);
  EXPECT_EQ(zen.tlb.l2i.a4k.entries, 512u);
  EXPECT_EQ(zen.tlb.l2.latency_cycles, 7u);
  // Caches: 1 MiB L2 at 14 cycles, DRAM ~300; a 64-entry page-walk cache for PDEs.
  EXPECT_EQ(zen.cache.l2.sets * zen.cache.l2.ways * zen.cache.l2.line_bytes, 1u << 20);
  EXPECT_EQ(zen.cache.l2.latency_cycles, 14u);
  EXPECT_EQ(zen.cache.dram_latency_cycles, 300u);
  EXPECT_EQ(zen.psc.pde.entries, 64u);
  // The OS is the same Linux: kernel settings do not change with the CPU.
  EXPECT_EQ(zen.kernel.thp, sky.kernel.thp);
  EXPECT_EQ(zen.kernel.fault_around_pages, sky.kernel.fault_around_pages);
}

TEST(Config, TeachingMachineIsTinyWithFixedRoundLatencies) {
  const Config c = load("teaching.conf");
  EXPECT_EQ(c.core.frequency_ghz, 1.0);
  EXPECT_EQ(c.mem.model, MemoryModel::Fixed);
  EXPECT_EQ(c.mem.latency_cycles, 10u);
  // 4 entries in 2 sets: the fifth distinct page evicts.
  EXPECT_EQ(c.tlb.l1d.a4k.entries, 4u);
  EXPECT_EQ(c.tlb.l1d.a4k.ways, 2u);
  EXPECT_EQ(c.tlb.l1d.a2m.entries, 2u);
  EXPECT_EQ(c.tlb.l1d.a1g.entries, 0u);
  EXPECT_EQ(c.tlb.l1i.a4k.entries, 4u);
  EXPECT_EQ(c.tlb.l2.a4k.entries, 16u);
  EXPECT_EQ(c.tlb.l2.a4k.ways, 4u);
  EXPECT_EQ(c.tlb.l2.arrays, TlbArrays::Shared4k2m);
  EXPECT_EQ(c.tlb.l2.latency_cycles, 5u);
  for (const auto* psc : {&c.psc.pml5e, &c.psc.pml4e, &c.psc.pdpte, &c.psc.pde}) EXPECT_EQ(psc->entries, 2u);
  EXPECT_LT(c.cache.l1d.sets * c.cache.l1d.ways * c.cache.l1d.line_bytes, 4096u);
}

TEST(Config, EveryParamHasAUniqueKeyAUnitAndADescription) {
  Config c;
  std::set<std::string> keys;
  for (const auto& p : params(c)) {
    EXPECT_TRUE(keys.insert(p.key).second) << "duplicate key " << p.key;
    EXPECT_FALSE(p.unit.empty()) << p.key;
    EXPECT_FALSE(p.what.empty()) << p.key;
  }
}

TEST(Config, EffectiveConfigurationReadsBackAsAssignments) {
  // The configuration a run writes into its stats can be replayed with --set: every
  // value reads back as what was written, for every key (enums by name, 4k+2m too).
  Config zen = load("zen4.conf");
  const auto j = to_json(zen);
  Config back;
  for (const auto& [key, value] : j.items())
    set(back, key + "=" + (value.is_string() ? value.get<std::string>() : value.dump()));
  EXPECT_EQ(to_json(back), j);
}

}  // namespace
}  // namespace mmusim::config

namespace mmusim::config {
namespace {

// DESIGN.md principle 5: a bad value is an error naming the key, never a NaN that
// runs or an allocation that fails.
TEST(Config, NonFiniteAndOverflowingNumbersAreRefused) {
  Config c;
  EXPECT_THROW(set(c, "core.frequency_ghz=nan"), ConfigError);
  EXPECT_THROW(set(c, "core.frequency_ghz=inf"), ConfigError);
  EXPECT_THROW(set(c, "mem.size=18014398509481985K"), ConfigError);
}

TEST(Config, HugeStructuresAreRefusedNamingTheKey) {
  Config c;
  c.cache.llc.sets = 1u << 30;
  try {
    validate(c);
    FAIL() << "a 2^30-set LLC was accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("cache.llc"), std::string::npos) << e.what();
  }
  Config t;
  t.tlb.l2.a4k = {1u << 22, 4};
  EXPECT_THROW(validate(t), ConfigError);
}

}  // namespace
}  // namespace mmusim::config

namespace mmusim::config {
namespace {

// memory_timing.hpp: lines move between levels whole, and a farther level is no faster.
TEST(Config, CacheLevelsShareALineSizeAndGetSlowerAwayFromTheCore) {
  auto error_of = [](auto change) {
    Config c;
    change(c);
    try {
      validate(c);
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_NE(error_of([](Config& c) { c.cache.l2.line_bytes = 128; }).find("cache.l2.line"), std::string::npos);
  EXPECT_NE(error_of([](Config& c) { c.cache.llc.line_bytes = 32; }).find("cache.llc.line"), std::string::npos);
  EXPECT_NE(error_of([](Config& c) { c.cache.l2.latency_cycles = 2; }).find("cache.l2.latency"), std::string::npos);
  EXPECT_NE(error_of([](Config& c) { c.cache.dram_latency_cycles = 10; }).find("cache.dram_latency"),
            std::string::npos);
  EXPECT_EQ(error_of([](Config&) {}), "") << "the defaults are consistent";
}

TEST(Config, AKeySetTwiceInOneFileIsAnErrorNamingBothLines) {
  const std::string path = ::testing::TempDir() + "/twice.conf";
  std::ofstream(path) << "tlb.l1d.4k.entries = 64\n# a comment\ntlb.l1d.4k.entries=128\n";
  Config c;
  try {
    load_file(c, path);
    FAIL() << "a repeated key was accepted";
  } catch (const ConfigError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find(":3:"), std::string::npos) << what;
    EXPECT_NE(what.find("first on line 1"), std::string::npos) << what;
    EXPECT_NE(what.find("tlb.l1d.4k.entries"), std::string::npos) << what;
  }
}

// The cores a machine may have: 1 up to the kernel's cpumask width.
TEST(Config, CoresAreOneTo64) {
  EXPECT_TRUE(Mentions(validation_error(with({"cores=0"})), "cores"));
  EXPECT_TRUE(Mentions(validation_error(with({"cores=65"})), "cores"));
  EXPECT_EQ(validation_error(with({"cores=64"})), "");
}

// A shootdown to one target costs 1.5 us and each further target 0.2 us, on both
// machines (linux-fault-path.md §3.2): the parts add up to that at each clock.
TEST(Config, ShootdownCostsAddUpToThePublishedMicroseconds) {
  for (const char* file : {"skylake.conf", "zen4.conf"}) {
    const Config c = load(file);
    const auto& k = c.kernel.cost;
    const u64 one_target = k.ipi_send + k.ipi_delivery + k.ipi_entry + k.tlb_flush_local + k.ipi_ack;
    EXPECT_NEAR(c.cycles_to_ns(one_target), 1500.0, 1.0) << file;
    EXPECT_NEAR(c.cycles_to_ns(k.ipi_send), 200.0, 1.0) << file;
  }
}

}  // namespace
}  // namespace mmusim::config
