//! Support code shared by the benchmarks.
