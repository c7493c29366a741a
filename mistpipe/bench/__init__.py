"""Benchmarks (`mistpipe bench ingest|pipeline|e2e`): each run starts what it measures on a real broker and
reports its figures as ratios to a ceiling measured in the same run. See BENCHMARKS.md."""
