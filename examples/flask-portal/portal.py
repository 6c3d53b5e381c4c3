"""A one-view citizen look-up portal on Flask, for gunicorn (or uWSGI) with several workers.

Run it from the folder holding its ``hub.toml`` (or point ``HUB_CONFIG`` at one)::

    gunicorn -c examples/flask-portal/gunicorn.conf.py --workers 3 --threads 4 \\
        --bind 127.0.0.1:8000 --pythonpath examples/flask-portal portal:app

Each worker process opens its own hub on its first request, and with it the next free
audit writer slot of the host (``<host>.1``, ``<host>.2``, ...): a hub holds
connections, an event loop thread and an audit writer, none of which survive a fork, so
it must not be made in the master (no ``--preload`` with an eager hub). gunicorn's
``worker_exit`` hook (``gunicorn.conf.py``) closes it, which signs the worker's last
entries; an ``atexit`` handler would run too late, once Python refuses new threads' work.
"""

from __future__ import annotations

import threading
from typing import Any

from flask import Flask, jsonify, request

from hub import SyncHub
from hub.errors import HubError

app = Flask(__name__)

_hub: SyncHub | None = None
_hub_lock = threading.Lock()


def hub() -> SyncHub:
    """This worker's hub, opened on first use."""
    global _hub
    with _hub_lock:
        if _hub is None:
            _hub = SyncHub.from_config()
        return _hub


def close_hub() -> None:
    """Close this worker's hub, if it opened one: its trail commits and signs what it holds."""
    global _hub
    with _hub_lock:
        if _hub is not None:
            _hub.close()
            _hub = None


@app.get("/healthz")
def healthz() -> Any:
    """Whether this worker's hub is open, and the audit writer it is."""
    return jsonify(status="ok", writer=hub().hub.audit.node)


@app.post("/citizens/lookup")
def lookup() -> Any:
    """Look a citizen up by national id for an officer's dossier; answer with the receipt."""
    form = request.get_json(silent=True) or {}
    purpose = {
        # A real portal takes these from the officer's session and the open dossier.
        "client": "portal-example",
        "officer": form.get("officer", ""),
        "procedure": form.get("procedure", ""),
        "dossier": form.get("dossier", ""),
    }
    try:
        result = hub().lookup(
            "population",
            {"national_id": form.get("national_id", "")},
            purpose=purpose,
            fields=["full_name", "date_of_birth", "permanent_residence"],
        )
    except HubError as exc:
        return jsonify(error=type(exc).__name__, audit_id=exc.audit_id), exc.status
    return jsonify(record=result.data(), audit_id=result.audit_id)
