"""The embedded demo target: a small shop API with switchable seeded bugs.

Re-exports the WSGI app (`DemoShop`) with its bug names and catalogue
constants, its OpenAPI document, and the helpers that serve it over HTTP.
"""

from __future__ import annotations

from demo_shop.app import BUGS, COUPON_CODES, DEFAULT_BUGS, PRODUCT_IDS, DemoShop
from demo_shop.openapi import OPENAPI
from demo_shop.server import serve, start_in_thread

__all__ = ["BUGS", "COUPON_CODES", "DEFAULT_BUGS", "OPENAPI", "PRODUCT_IDS", "DemoShop", "serve", "start_in_thread"]
