"""Endpoints other services call: SES events through SNS, answered before Flask (routes.py)."""

from webapp.hooks.routes import init_app

__all__ = ["init_app"]
