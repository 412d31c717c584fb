// libsystemc.so carries a main() that calls sc_main(), so every program linked
// with it must define sc_main, even one that has a main of its own (the CLI,
// GoogleTest's runner, the benchmarks). Theirs runs; this one never does.
extern "C" int sc_main(int, char**) { return 0; }
