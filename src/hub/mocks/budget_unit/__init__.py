"""The budget-unit mock: REST + JSON look-up of budget-relationship unit codes."""

from hub.mocks.budget_unit._app import API_KEY, create_app, hub_settings

__all__ = ["API_KEY", "create_app", "hub_settings"]
