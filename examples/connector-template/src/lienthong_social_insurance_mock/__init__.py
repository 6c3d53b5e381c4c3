"""The social-insurance mock: the register's REST + JSON service on the hub's synthetic citizens.

Found by the hub through the ``hub.mocks`` entry point, like the bundled mocks:
``create_app(*, seed, citizens, faults)`` and ``hub_settings(base_url)``.
"""

from lienthong_social_insurance_mock._app import API_KEY, create_app, hub_settings

__all__ = ["API_KEY", "create_app", "hub_settings"]
