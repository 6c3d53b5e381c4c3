"""``python -m hub.audit``: the ``hub audit`` commands, without the rest of the hub."""

from hub.audit._cli import audit_app

audit_app(prog_name="python -m hub.audit")
