"""Run the benchmarks: python -m bench [name ...] (all when none is named)."""

import importlib
import sys

BENCHMARKS = [
    "http_transports",
    "audit_append",
    "audit_verify",
    "library_overhead",
    "sidecar",
    "mock_scale",
]

if __name__ == "__main__":
    names = sys.argv[1:] or BENCHMARKS
    for name in names:
        module = importlib.import_module(f"bench.{name}")
        sys.argv = [f"bench.{name}"]
        module.main()
