// The replacement policies a TLB array can use; a header of its own so that the
// configuration can name them without depending on the TLB.
#pragma once

namespace mmusim::tlb {

// Every policy fills an invalid way first.
enum class Replacement : unsigned char {
  Lru,       // least recently used (timestamps)
  TreePlru,  // tree pseudo-LRU: ways-1 bits per set, ways a power of two
  Random,    // a seeded xorshift64: deterministic for a seed
  Srrip,     // static re-reference interval prediction, 2-bit RRPV, hit priority
             // (Jaleel et al., "High Performance Cache Replacement Using Re-Reference
             // Interval Prediction (RRIP)", ISCA 2010)
};

}  // namespace mmusim::tlb
