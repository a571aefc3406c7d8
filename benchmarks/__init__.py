"""Throughput and latency harnesses; figures in benchmarks/README.md."""
