"""The embedded demo target: a small shop JSON API written as a plain WSGI app.

`DemoShop` serves sign-up and login, a fixed catalogue, carts with coupons,
checkout, orders and reviews from in-memory state, using only the standard
library. It carries deliberately seeded bugs (named in `BUGS`, each switchable)
so the engine's journeys have something real to find. One lock guards all state
and one seeded RNG draws every id, token and flaky failure, so a run is
reproducible for a given seed and request sequence.

This module holds the shop and its routes; the bug names, catalogue and records
are in `demo_shop.domain`, the request/response plumbing and route table in
`demo_shop.routing`, and the body field checks in `demo_shop.validation`. Their
public names are re-exported here, where they were first defined, so imports
from `demo_shop.app` keep working.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterable
from typing import Any

from demo_shop.domain import (
    BUGS, COUPON_CODES, COUPONS, DEFAULT_BUGS, DELIVERY_NOTE, DELIVERY_NOTE_EDITED, EMAIL_PATTERN, MAX_LINE_QUANTITY,
    PRODUCT_IDS, PRODUCTS, RECENT_REVIEWS, SHIPPING_FIELDS, Cart, Coupon, Product, Review, User,
    _hash_password, _line_json, _password_matches, _product_json, _resolve_bugs, _review_json, _subtotal,
)
from demo_shop.openapi import OPENAPI
from demo_shop.routing import (
    JSON_CONTENT_TYPE, ROUTES, SESSION_COOKIE, ApiError, Handler, Request, Response, Route, _basic_credentials,
    _encode, _read_request, _session_cookie, _user, route,
)
from demo_shop.validation import _email, _integer, _known_product, _shipping, _string

OPERATOR = User("operator", "The shop's operator", "")

# Everything public this module defined before it was split, still importable from here.
__all__ = [
    "BUGS", "COUPON_CODES", "COUPONS", "DEFAULT_BUGS", "DELIVERY_NOTE", "DELIVERY_NOTE_EDITED", "EMAIL_PATTERN",
    "JSON_CONTENT_TYPE", "MAX_LINE_QUANTITY", "OPENAPI", "PRODUCT_IDS", "PRODUCTS", "RECENT_REVIEWS", "ROUTES",
    "SHIPPING_FIELDS", "ApiError", "Cart", "Coupon", "DemoShop", "Handler", "Product", "Request", "Response", "Review",
    "Route", "User", "route",
]


class DemoShop:
    """The shop as a WSGI callable; `bugs` picks which seeded bugs are live."""

    def __init__(self, *, bugs: bool | Iterable[str] = True, seed: int = 0, flaky_rate: float = 0.02,
                 operator_token: str | None = None) -> None:
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
        self.operator_token = operator_token  # the shop's own staff: may remove any test data

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
        """A bearer token, the session cookie log-in sets, or HTTP Basic with email and password."""
        scheme, _, credentials = request.authorization.partition(" ")
        token = credentials.strip() if scheme.lower() == "bearer" else request.cookie(SESSION_COOKIE)
        if self.operator_token and token == self.operator_token:
            request.user, request.token, request.operator = OPERATOR, token, True
            return
        user_id = self._tokens.get(token) if token else None
        if user_id is None and scheme.lower() == "basic":
            email, _, password = _basic_credentials(credentials)
            user = self._login_candidate(email, password)
            user_id, token = (user.id, "") if user is not None else (None, "")
        if user_id is None:
            raise ApiError(401, "unauthorized", "A valid bearer token, session cookie or Basic log-in is required.")
        request.user, request.token = self._users[user_id], token

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
        return Response(201, {"user_id": user.id, "name": name, "email": email, "token": token},
                        (_session_cookie(token),))

    @route("POST", "/api/login")
    def _log_in(self, request: Request) -> Response:
        body = request.json_object()
        user = self._login_candidate(_string(body, "email"), _string(body, "password"))
        if user is None:
            raise ApiError(401, "invalid_credentials", "The email or password is wrong.")
        token = self._issue_token(user)
        return Response(200, {"token": token, "user_id": user.id}, (_session_cookie(token),))

    @route("POST", "/api/logout", auth=True)
    def _log_out(self, request: Request) -> Response:
        self._tokens.pop(request.token, None)  # Basic auth has no session to end
        return Response(204, None, (_session_cookie(""),))

    @route("GET", "/api/me", auth=True)
    def _me(self, request: Request) -> Response:
        user = _user(request)
        return Response(200, {"user_id": user.id, "name": user.name, "email": user.email})

    @route("DELETE", "/api/account", auth=True)
    def _delete_account(self, request: Request) -> Response:
        self._remove_account(_user(request))
        return Response(204)

    def _remove_account(self, user: User) -> None:
        user.deleted = True
        self._tokens = {token: owner for token, owner in self._tokens.items() if owner != user.id}
        # BUG reviews_outlive_account: the account goes, its reviews stay (and stay public).
        if not self._bug("reviews_outlive_account"):
            self._reviews = {rid: review for rid, review in self._reviews.items() if review.author_id != user.id}
        self._carts.pop(user.id, None)
        # A fixed build forgets the account and its orders: a days-long exploration deletes
        # tens of thousands. BUG login_after_deletion needs the deleted account kept, and so
        # does BUG reviews_outlive_account (a review shows its author's name).
        if not self._bug("login_after_deletion") and not self._bug("reviews_outlive_account"):
            self._users.pop(user.id, None)
            kept = [u for u in self._users_by_email.get(user.email.lower(), []) if u is not user]
            if kept:
                self._users_by_email[user.email.lower()] = kept
            else:
                self._users_by_email.pop(user.email.lower(), None)
            self._orders = {oid: order for oid, order in self._orders.items() if order["owner"] != user.id}

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
        if review is None or not (request.operator or review.author_id == _user(request).id):
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


from demo_shop import operator as _operator  # noqa: E402  (its routes join the table after the shop's)

del _operator
