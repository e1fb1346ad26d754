"""Benchmarks of the engine (run as scripts)."""
