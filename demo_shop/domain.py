"""What the demo shop knows: its seeded bugs, its catalogue and the records it keeps.

`BUGS` names every seeded bug `DemoShop` can switch on (`_resolve_bugs` checks a
choice of them). `PRODUCTS` and `COUPONS` are the fixed catalogue, and the
constants bound what a request may ask for and hold the shop's copy. `User`,
`Cart` and `Review` are the in-memory records, with the password hashing and the
JSON views of products, cart lines and reviews that the routes answer with.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

BUGS: tuple[str, ...] = (
    "coupon_after_removal",
    "login_after_deletion",
    "recent_reviews_encoding",
    "order_owner_check",
    "checkout_flaky_503",
    "delivery_note_copy",
    "reviews_outlive_account",
)
# All on unless bugs are chosen by name: journeys go on past a known failure, so the
# copy change and the left-behind reviews no longer hide the bugs behind them.
DEFAULT_BUGS: tuple[str, ...] = BUGS


class Product(NamedTuple):
    name: str
    price: int  # cents


class Coupon(NamedTuple):
    amount: int  # cents off
    minimum: int  # minimum subtotal in cents


PRODUCTS: dict[str, Product] = {
    "prd_mug": Product("Enamel mug", 600),
    "prd_tee": Product("Organic tee", 1800),
    "prd_cap": Product("Canvas cap", 1200),
    "prd_pen": Product("Brass pen", 300),
    "prd_bag": Product("Tote bag", 900),
}
PRODUCT_IDS: tuple[str, ...] = tuple(PRODUCTS)
COUPONS: dict[str, Coupon] = {"WELCOME5": Coupon(500, 1000), "SPRING10": Coupon(1000, 3000)}
COUPON_CODES: tuple[str, ...] = tuple(COUPONS)

SHIPPING_FIELDS = ("name", "street", "city", "postcode", "country")
EMAIL_PATTERN = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")  # used with fullmatch
MAX_LINE_QUANTITY = 99
RECENT_REVIEWS = 20
DELIVERY_NOTE = "Free delivery on orders over €30."
# BUG delivery_note_copy: a content edit went out with the wrong threshold.
DELIVERY_NOTE_EDITED = "Free delivery on orders over €50."


@dataclass
class User:
    id: str
    name: str
    email: str
    password_hash: str = ""
    deleted: bool = False


@dataclass
class Cart:
    lines: dict[str, int] = field(default_factory=dict)  # product id -> quantity, in insertion order
    coupon: str | None = None


@dataclass
class Review:
    id: str
    author_id: str
    product_id: str
    rating: int
    text: str


def _resolve_bugs(bugs: bool | Iterable[str]) -> frozenset[str]:
    if isinstance(bugs, bool):
        return frozenset(DEFAULT_BUGS) if bugs else frozenset()
    chosen = frozenset([bugs] if isinstance(bugs, str) else bugs)
    unknown = sorted(chosen.difference(BUGS))
    if unknown:
        raise ValueError(f"unknown bug(s) {', '.join(unknown)}; valid bugs are {', '.join(BUGS)}")
    return chosen


def _hash_password(user_id: str, password: str) -> str:
    return hashlib.sha256(f"{user_id}:{password}".encode()).hexdigest()


def _password_matches(user: User, password: str) -> bool:
    return hmac.compare_digest(user.password_hash, _hash_password(user.id, password))


def _product_json(product_id: str) -> dict[str, Any]:
    name, price = PRODUCTS[product_id]
    return {"id": product_id, "name": name, "price": price}


def _line_json(product_id: str, quantity: int) -> dict[str, Any]:
    name, price = PRODUCTS[product_id]
    line = {"product_id": product_id, "name": name, "unit_price": price, "quantity": quantity}
    return line | {"line_total": price * quantity}


def _subtotal(cart: Cart) -> int:
    return sum(PRODUCTS[pid].price * quantity for pid, quantity in cart.lines.items())


def _review_json(review: Review) -> dict[str, Any]:
    return {"id": review.id, "product_id": review.product_id, "rating": review.rating, "text": review.text}
