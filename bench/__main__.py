"""Run the benchmarks: python -m bench [name ...] (all when none is named).

A benchmark that cannot run here (wrk missing, say) does not stop the others; the run
ends non-zero and names it.
"""

import importlib
import sys

BENCHMARKS = [
    "http_transports",
    "audit_append",
    "audit_slots",
    "audit_verify",
    "access_history",
    "library_overhead",
    "sidecar",
    "receipts",
    "mock_scale",
]

if __name__ == "__main__":
    names = sys.argv[1:] or BENCHMARKS
    failed = []
    for name in names:
        module = importlib.import_module(f"bench.{name}")
        sys.argv = [f"bench.{name}"]
        try:
            module.main()
        except SystemExit as stop:
            if stop.code not in (None, 0):
                print(f"bench.{name} did not run: {stop.code}", file=sys.stderr)
                failed.append(name)
    if failed:
        sys.exit(f"benchmarks that did not run: {', '.join(failed)}")
