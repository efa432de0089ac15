"""Reading request bodies: each field taken as the type and within the limits it must have.

Every helper returns the field's value or raises the `ApiError` a client gets
for it, a 422 naming the field (a 404 from `_known_product` for a product the
catalogue does not hold), so each handler reads its body in a few lines and
malformed requests are answered alike across routes.
"""

from __future__ import annotations

from typing import Any

from demo_shop.domain import EMAIL_PATTERN, PRODUCTS, SHIPPING_FIELDS
from demo_shop.routing import ApiError


def _string(
    body: dict[str, Any],
    name: str,
    *,
    min_len: int = 0,
    max_len: int | None = None,
    non_blank: bool = False,
    code: str | None = None,
) -> str:
    """Field `name` as a string within the limits, else 422 `invalid_<name>` (or `code`)."""
    value = body.get(name)
    if isinstance(value, str) and _utf8_encodable(value):
        fits = min_len <= len(value) and (max_len is None or len(value) <= max_len)
        if fits and not (non_blank and value.isspace()):
            return value
    limits = f" of {min_len} to {max_len} characters" if max_len is not None else ""
    blank = ", not only whitespace" if non_blank else ""
    raise ApiError(422, code or f"invalid_{name}", f"'{name}' must be a string{limits}{blank}.")


def _utf8_encodable(value: str) -> bool:
    """False for strings holding lone surrogates, which could not be echoed back as UTF-8."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _integer(body: dict[str, Any], name: str, low: int, high: int) -> int:
    value = body.get(name)
    if isinstance(value, int) and not isinstance(value, bool) and low <= value <= high:
        return value
    raise ApiError(422, f"invalid_{name}", f"'{name}' must be an integer from {low} to {high}.")


def _email(body: dict[str, Any]) -> str:
    value = body.get("email")
    if isinstance(value, str) and len(value) <= 254 and EMAIL_PATTERN.fullmatch(value):
        return value
    raise ApiError(422, "invalid_email", "'email' must be an address like name@example.com, at most 254 characters.")


def _shipping(body: dict[str, Any]) -> dict[str, str]:
    shipping = body.get("shipping")
    if not isinstance(shipping, dict):
        message = f"'shipping' must be an object with {', '.join(SHIPPING_FIELDS)}."
        raise ApiError(422, "invalid_shipping", message)
    return {
        key: _string(shipping, key, min_len=1, max_len=200, non_blank=True, code="invalid_shipping")
        for key in SHIPPING_FIELDS
    }


def _known_product(product_id: str) -> str:
    if product_id not in PRODUCTS:
        raise ApiError(404, "product_unknown", "There is no such product.")
    return product_id
