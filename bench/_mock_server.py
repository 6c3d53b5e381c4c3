"""Serve one bundled mock in its own process: python -m bench._mock_server NAME PORT [CITIZENS]."""

import sys

import uvicorn

from hub._registry import installed_mocks

if __name__ == "__main__":
    name, port = sys.argv[1], int(sys.argv[2])
    citizens = int(sys.argv[3]) if len(sys.argv) > 3 else 10_000
    app = installed_mocks()[name].create_app(seed=1, citizens=citizens)
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        http="httptools",
        loop="uvloop",
    )
