"""Benchmarks: commands that measure and print, never assert (see benchmarks/README.md)."""
