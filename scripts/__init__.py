"""Developer scripts: compiling contracts, benchmarks, demo data."""
