"""Hypothesis strategies for the domain data journeys send.

People (names, emails, passwords), shop data (products, quantities, coupon
codes, ratings, postal addresses) and free text with awkward Unicode. They
draw valid-looking but uncomfortable values: combining marks, right-to-left
scripts, emoji, characters outside Latin-1. Every strategy shrinks towards a
short, plain value, so minimal reproductions read well.
"""

from __future__ import annotations

from .people import emails, names, passwords
from .shop import addresses, coupon_codes, quantities, ratings
from .text import free_text, AWKWARD_SAMPLES

__all__ = ["names", "emails", "passwords", "addresses", "quantities", "coupon_codes", "ratings",
           "free_text", "AWKWARD_SAMPLES"]
