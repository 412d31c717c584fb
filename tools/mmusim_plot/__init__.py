"""tools/mmusim-plot's modules: one a subcommand (cdf, breakdown, tlb, compare),
inputs (reading mmusim's outputs) and common (errors, arguments, saving)."""
