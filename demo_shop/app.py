"""The embedded demo target: a small shop JSON API written as a plain WSGI app.

`DemoShop` serves sign-up and login, a fixed catalogue, carts with coupons,
checkout, orders and reviews from in-memory state, using only the standard
library. It carries deliberately seeded bugs (named in `BUGS`, each switchable)
so the engine's journeys have something real to find. One lock guards all state
and one seeded RNG draws every id, token and flaky failure, so a run is
reproducible for a given seed and request sequence.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, NamedTuple

from demo_shop.openapi import OPENAPI

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
JSON_CONTENT_TYPE = "application/json; charset=utf-8"
DELIVERY_NOTE = "Free delivery on orders over €30."
# BUG delivery_note_copy: a content edit went out with the wrong threshold.
DELIVERY_NOTE_EDITED = "Free delivery on orders over €50."


class Response(NamedTuple):
    status: int
    body: Any = None  # None means an empty body
    headers: tuple[tuple[str, str], ...] = ()


class ApiError(Exception):
    """A client-visible failure: HTTP status, error code and a human sentence."""

    def __init__(self, status: int, code: str, message: str, headers: tuple[tuple[str, str], ...] = ()) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers

    def response(self) -> Response:
        return Response(self.status, {"error": self.code, "message": self.message}, self.headers)


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


@dataclass
class Request:
    method: str
    path: str
    authorization: str
    raw_body: bytes
    params: dict[str, str] = field(default_factory=dict)
    user: User | None = None  # set by the router on authenticated routes
    token: str = ""

    def json_object(self) -> dict[str, Any]:
        """The body as a JSON object; an absent body counts as "not an object"."""
        try:
            body = json.loads(self.raw_body) if self.raw_body.strip() else None
        except (ValueError, RecursionError):
            raise ApiError(400, "invalid_json", "The request body is not valid JSON.") from None
        if not isinstance(body, dict):
            raise ApiError(422, "invalid_body", "The request body must be a JSON object.")
        return body


Handler = Callable[["DemoShop", Request], Response]


class Route(NamedTuple):
    method: str
    pattern: re.Pattern[str]
    handler: Handler
    auth: bool


ROUTES: list[Route] = []


def route(method: str, template: str, *, auth: bool = False) -> Callable[[Handler], Handler]:
    """Register a handler for `method` on a path template such as `/api/orders/{order_id}`."""
    parts = re.split(r"\{(\w+)\}", template)
    regex = "".join(f"(?P<{part}>[^/]+)" if i % 2 else re.escape(part) for i, part in enumerate(parts))

    def register(handler: Handler) -> Handler:
        ROUTES.append(Route(method, re.compile(regex), handler, auth))
        return handler

    return register


class DemoShop:
    """The shop as a WSGI callable; `bugs` picks which seeded bugs are live."""

    def __init__(self, *, bugs: bool | Iterable[str] = True, seed: int = 0, flaky_rate: float = 0.02) -> None:
        if not 0.0 <= flaky_rate <= 1.0:
            raise ValueError(f"flaky_rate must be between 0 and 1, got {flaky_rate!r}")
        self.bugs: frozenset[str] = _resolve_bugs(bugs)
        self._flaky_rate = flaky_rate
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._users: dict[str, User] = {}
        self._users_by_email: dict[str, list[User]] = {}  # lower-cased email -> accounts, oldest first
        self._tokens: dict[str, str] = {}  # token -> user id
        self._carts: dict[str, Cart] = {}  # user id -> cart
        self._orders: dict[str, dict[str, Any]] = {}  # in placement order
        self._reviews: dict[str, Review] = {}  # in posting order

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        status, headers, payload = self._handle(environ)
        start_response(status, headers)
        return [payload] if payload else []

    def _handle(self, environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]], bytes]:
        try:
            request = _read_request(environ)
            with self._lock:
                return _encode(self._dispatch(request))
        except ApiError as error:
            return _encode(error.response())
        except Exception:
            return _encode(ApiError(500, "internal", "An unexpected error occurred.").response())

    def _dispatch(self, request: Request) -> Response:
        allowed = []
        for candidate in ROUTES:
            match = candidate.pattern.fullmatch(request.path)
            if match is None:
                continue
            if candidate.method != request.method:
                allowed.append(candidate.method)
                continue
            request.params = match.groupdict()
            if candidate.auth:
                self._authenticate(request)
            return candidate.handler(self, request)
        if allowed:
            message = f"{request.method} is not allowed here; use {', '.join(allowed)}."
            raise ApiError(405, "method_not_allowed", message, (("Allow", ", ".join(allowed)),))
        raise ApiError(404, "not_found", "There is no such route.")

    def _bug(self, name: str) -> bool:
        return name in self.bugs

    def _new_id(self, prefix: str, hex_digits: int, taken: dict[str, Any]) -> str:
        while True:
            candidate = f"{prefix}{self._rng.getrandbits(4 * hex_digits):0{hex_digits}x}"
            if candidate not in taken:
                return candidate

    # -- accounts -------------------------------------------------------------

    def _authenticate(self, request: Request) -> None:
        scheme, _, token = request.authorization.partition(" ")
        user_id = self._tokens.get(token.strip()) if scheme.lower() == "bearer" else None
        if user_id is None:
            raise ApiError(401, "unauthorized", "A valid bearer token is required.")
        request.user, request.token = self._users[user_id], token.strip()

    def _issue_token(self, user: User) -> str:
        token = self._new_id("tok_", 24, self._tokens)
        self._tokens[token] = user.id
        return token

    def _active_user_with_email(self, email: str) -> User | None:
        accounts = self._users_by_email.get(email.lower(), [])
        return next((u for u in accounts if not u.deleted), None)

    def _login_candidate(self, email: str, password: str) -> User | None:
        for user in self._users_by_email.get(email.lower(), []):
            if _password_matches(user, password):
                # BUG login_after_deletion: deleted accounts are not filtered out.
                if not user.deleted or self._bug("login_after_deletion"):
                    return user
        return None

    @route("GET", "/")
    def _root(self, request: Request) -> Response:
        return Response(200, {"service": "journeys demo shop", "openapi": "/openapi.json"})

    @route("GET", "/healthz")
    def _health(self, request: Request) -> Response:
        return Response(200, {"ok": True, "bugs": sorted(self.bugs)})

    @route("POST", "/__reset")
    def _reset(self, request: Request) -> Response:
        """Forget every account, cart, order and review: the shop as it started (the demo only)."""
        self._users.clear()
        self._users_by_email.clear()
        self._tokens.clear()
        self._carts.clear()
        self._orders.clear()
        self._reviews.clear()
        return Response(200, {"reset": True})

    @route("GET", "/openapi.json")
    def _openapi(self, request: Request) -> Response:
        return Response(200, OPENAPI)

    @route("POST", "/api/signup")
    def _sign_up(self, request: Request) -> Response:
        body = request.json_object()
        name = _string(body, "name", min_len=1, max_len=100, non_blank=True)
        email = _email(body)
        password = _string(body, "password", min_len=8, max_len=128)
        if self._active_user_with_email(email):
            raise ApiError(409, "email_taken", "An account with this email already exists.")
        user = User(self._new_id("usr_", 10, self._users), name, email)
        user.password_hash = _hash_password(user.id, password)
        self._users[user.id] = user
        self._users_by_email.setdefault(email.lower(), []).append(user)
        token = self._issue_token(user)
        return Response(201, {"user_id": user.id, "name": name, "email": email, "token": token})

    @route("POST", "/api/login")
    def _log_in(self, request: Request) -> Response:
        body = request.json_object()
        user = self._login_candidate(_string(body, "email"), _string(body, "password"))
        if user is None:
            raise ApiError(401, "invalid_credentials", "The email or password is wrong.")
        return Response(200, {"token": self._issue_token(user), "user_id": user.id})

    @route("POST", "/api/logout", auth=True)
    def _log_out(self, request: Request) -> Response:
        del self._tokens[request.token]
        return Response(204)

    @route("GET", "/api/me", auth=True)
    def _me(self, request: Request) -> Response:
        user = _user(request)
        return Response(200, {"user_id": user.id, "name": user.name, "email": user.email})

    @route("DELETE", "/api/account", auth=True)
    def _delete_account(self, request: Request) -> Response:
        user = _user(request)
        user.deleted = True
        self._tokens = {token: owner for token, owner in self._tokens.items() if owner != user.id}
        # BUG reviews_outlive_account: the account goes, its reviews stay (and stay public).
        if not self._bug("reviews_outlive_account"):
            self._reviews = {rid: review for rid, review in self._reviews.items() if review.author_id != user.id}
        self._carts.pop(user.id, None)
        return Response(204)

    # -- catalogue and cart ---------------------------------------------------

    @route("GET", "/api/products")
    def _list_products(self, request: Request) -> Response:
        note = DELIVERY_NOTE_EDITED if self._bug("delivery_note_copy") else DELIVERY_NOTE
        return Response(200, {"products": [_product_json(pid) for pid in PRODUCT_IDS], "delivery_note": note})

    @route("GET", "/api/products/{product_id}")
    def _view_product(self, request: Request) -> Response:
        return Response(200, _product_json(_known_product(request.params["product_id"])))

    def _cart(self, request: Request) -> Cart:
        return self._carts.setdefault(_user(request).id, Cart())

    def _cart_json(self, cart: Cart) -> dict[str, Any]:
        items = [_line_json(pid, quantity) for pid, quantity in cart.lines.items()]
        subtotal = _subtotal(cart)
        discount = COUPONS[cart.coupon].amount if cart.coupon else 0
        # Correct carts never hold an ineligible coupon, so only the seeded bug
        # can push the total below zero; the bug also skips the clamp.
        total = subtotal - discount if self._bug("coupon_after_removal") else max(0, subtotal - discount)
        return {"items": items, "subtotal": subtotal, "coupon": cart.coupon, "discount": discount, "total": total}

    @route("GET", "/api/cart", auth=True)
    def _view_cart(self, request: Request) -> Response:
        return Response(200, self._cart_json(self._cart(request)))

    @route("POST", "/api/cart/items", auth=True)
    def _add_to_cart(self, request: Request) -> Response:
        body = request.json_object()
        product_id = _known_product(_string(body, "product_id"))
        quantity = _integer(body, "quantity", 1, MAX_LINE_QUANTITY)
        cart = self._cart(request)
        if cart.lines.get(product_id, 0) + quantity > MAX_LINE_QUANTITY:
            raise ApiError(422, "invalid_quantity", f"A cart line holds at most {MAX_LINE_QUANTITY} units.")
        cart.lines[product_id] = cart.lines.get(product_id, 0) + quantity
        return Response(201, self._cart_json(cart))

    @route("DELETE", "/api/cart/items/{product_id}", auth=True)
    def _remove_from_cart(self, request: Request) -> Response:
        cart = self._cart(request)
        if request.params["product_id"] not in cart.lines:
            raise ApiError(404, "item_not_in_cart", "That product is not in the cart.")
        del cart.lines[request.params["product_id"]]
        # BUG coupon_after_removal: the coupon is kept without re-checking eligibility.
        if cart.coupon and not self._bug("coupon_after_removal"):
            if _subtotal(cart) < COUPONS[cart.coupon].minimum:
                cart.coupon = None
        return Response(200, self._cart_json(cart))

    @route("POST", "/api/cart/coupon", auth=True)
    def _apply_coupon(self, request: Request) -> Response:
        code = _string(request.json_object(), "code")
        if code not in COUPONS:
            raise ApiError(404, "coupon_unknown", "There is no such coupon.")
        cart, minimum = self._cart(request), COUPONS[code].minimum
        if _subtotal(cart) < minimum:
            raise ApiError(422, "coupon_not_eligible", f"{code} needs a subtotal of at least {minimum} cents.")
        cart.coupon = code
        return Response(200, self._cart_json(cart))

    # -- orders ---------------------------------------------------------------

    @route("POST", "/api/checkout", auth=True)
    def _checkout(self, request: Request) -> Response:
        shipping = _shipping(request.json_object())
        cart = self._cart(request)
        if not cart.lines:
            raise ApiError(422, "cart_empty", "The cart is empty.")
        # BUG checkout_flaky_503: the payment provider sometimes does not answer.
        if self._bug("checkout_flaky_503") and self._rng.random() < self._flaky_rate:
            raise ApiError(503, "payment_unavailable", "The payment provider did not answer; try again.")
        priced = self._cart_json(cart)
        order = {
            "id": self._new_id("ord_", 10, self._orders),
            "owner": _user(request).id,
            **{key: priced[key] for key in ("items", "subtotal", "discount", "total")},
            "status": "placed",
            "shipping": shipping,
        }
        self._orders[order["id"]] = order
        self._carts.pop(_user(request).id)
        return Response(201, order)

    @route("GET", "/api/orders", auth=True)
    def _list_orders(self, request: Request) -> Response:
        own = [order for order in self._orders.values() if order["owner"] == _user(request).id]
        return Response(200, {"orders": own[::-1]})

    def _order(self, request: Request, *, any_owner: bool = False) -> dict[str, Any]:
        order = self._orders.get(request.params["order_id"])
        if order is None or not (any_owner or order["owner"] == _user(request).id):
            raise ApiError(404, "order_unknown", "There is no such order.")
        return order

    @route("GET", "/api/orders/{order_id}", auth=True)
    def _view_order(self, request: Request) -> Response:
        # BUG order_owner_check: any signed-in user may read any order.
        return Response(200, self._order(request, any_owner=self._bug("order_owner_check")))

    @route("POST", "/api/orders/{order_id}/cancel", auth=True)
    def _cancel_order(self, request: Request) -> Response:
        order = self._order(request)
        if order["status"] == "cancelled":
            raise ApiError(409, "order_already_cancelled", "The order is already cancelled.")
        order["status"] = "cancelled"
        return Response(200, order)

    # -- reviews --------------------------------------------------------------

    def _public_review(self, review: Review) -> dict[str, Any]:
        author = self._users[review.author_id].name
        return {**_review_json(review), "author": author}

    def _widget_text(self, text: str) -> str:
        # BUG recent_reviews_encoding: the widget pipes texts through Latin-1, which
        # raises UnicodeEncodeError (answered as 500) above code point 255.
        return text.encode("latin-1").decode("latin-1") if self._bug("recent_reviews_encoding") else text

    @route("POST", "/api/reviews", auth=True)
    def _post_review(self, request: Request) -> Response:
        body = request.json_object()
        product_id = _known_product(_string(body, "product_id"))
        rating = _integer(body, "rating", 1, 5)
        text = _string(body, "text", min_len=1, max_len=2000, non_blank=True)
        review = Review(self._new_id("rev_", 10, self._reviews), _user(request).id, product_id, rating, text)
        self._reviews[review.id] = review
        return Response(201, _review_json(review))

    @route("DELETE", "/api/reviews/{review_id}", auth=True)
    def _delete_review(self, request: Request) -> Response:
        review = self._reviews.get(request.params["review_id"])
        if review is None or review.author_id != _user(request).id:
            raise ApiError(404, "review_unknown", "There is no such review of yours.")
        del self._reviews[review.id]
        return Response(204)

    @route("GET", "/api/products/{product_id}/reviews")
    def _product_reviews(self, request: Request) -> Response:
        product_id = _known_product(request.params["product_id"])
        reviews = [r for r in reversed(self._reviews.values()) if r.product_id == product_id]
        return Response(200, {"reviews": [self._public_review(r) for r in reviews]})

    @route("GET", "/api/reviews/recent")
    def _recent_reviews(self, request: Request) -> Response:
        newest = list(self._reviews.values())[-RECENT_REVIEWS:][::-1]
        reviews = [self._public_review(r) | {"text": self._widget_text(r.text)} for r in newest]
        return Response(200, {"reviews": reviews})


def _resolve_bugs(bugs: bool | Iterable[str]) -> frozenset[str]:
    if isinstance(bugs, bool):
        return frozenset(DEFAULT_BUGS) if bugs else frozenset()
    chosen = frozenset([bugs] if isinstance(bugs, str) else bugs)
    unknown = sorted(chosen.difference(BUGS))
    if unknown:
        raise ValueError(f"unknown bug(s) {', '.join(unknown)}; valid bugs are {', '.join(BUGS)}")
    return chosen


def _read_request(environ: dict[str, Any]) -> Request:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    return Request(
        method=environ["REQUEST_METHOD"].upper(),
        path=environ.get("PATH_INFO") or "/",
        authorization=environ.get("HTTP_AUTHORIZATION", ""),
        raw_body=environ["wsgi.input"].read(length) if length > 0 else b"",
    )


def _encode(response: Response) -> tuple[str, list[tuple[str, str]], bytes]:
    status = f"{response.status} {HTTPStatus(response.status).phrase}"
    if response.body is None:
        return status, list(response.headers), b""
    payload = json.dumps(response.body, ensure_ascii=False).encode("utf-8")
    headers = [("Content-Type", JSON_CONTENT_TYPE), ("Content-Length", str(len(payload))), *response.headers]
    return status, headers, payload


def _user(request: Request) -> User:
    assert request.user is not None, "handler is registered without auth=True"
    return request.user


def _hash_password(user_id: str, password: str) -> str:
    return hashlib.sha256(f"{user_id}:{password}".encode()).hexdigest()


def _password_matches(user: User, password: str) -> bool:
    return hmac.compare_digest(user.password_hash, _hash_password(user.id, password))


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
