"""Benchmarks: they print figures, with the command and the machine; never tests."""
