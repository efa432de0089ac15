"""Tests for the embedded demo shop: its routes, validation, and each seeded bug on and off."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from demo_shop import BUGS, COUPON_CODES, DEFAULT_BUGS, OPENAPI, PRODUCT_IDS, DemoShop, start_in_thread
from demo_shop.app import ROUTES

SHIPPING = {"name": "Ada", "street": "1 Loop Lane", "city": "Turing", "postcode": "10101", "country": "UK"}
EMPTY_CART = {"items": [], "subtotal": 0, "coupon": None, "discount": 0, "total": 0}
_numbers = itertools.count()

MakeClient = Callable[..., httpx.Client]


@pytest.fixture
def make_client() -> Iterator[MakeClient]:
    """Build in-process clients for fresh shops; bugs are off unless asked for."""
    clients: list[httpx.Client] = []

    def make(bugs: Any = False, **options: Any) -> httpx.Client:
        transport = httpx.WSGITransport(app=DemoShop(bugs=bugs, **options))
        clients.append(httpx.Client(transport=transport, base_url="http://demo"))
        return clients[-1]

    yield make
    for client in clients:
        client.close()


class Shopper:
    """A freshly signed-up user of one client, making authenticated calls."""

    def __init__(self, client: httpx.Client, *, email: str = "", password: str = "hunter22!", name: str = "Ada"):
        self.client, self.email, self.password = client, email or f"user{next(_numbers)}@example.com", password
        response = client.post("/api/signup", json={"name": name, "email": self.email, "password": password})
        assert response.status_code == 201, response.text
        self.signup: dict[str, Any] = response.json()
        self.user_id: str = self.signup["user_id"]
        self.headers = {"Authorization": f"Bearer {self.signup['token']}"}

    def call(self, method: str, path: str, json: Any = None) -> httpx.Response:
        return self.client.request(method, path, json=json, headers=self.headers)

    def add(self, product_id: str, quantity: int = 1) -> httpx.Response:
        return self.call("POST", "/api/cart/items", {"product_id": product_id, "quantity": quantity})

    def checkout(self, shipping: Any = SHIPPING) -> httpx.Response:
        return self.call("POST", "/api/checkout", {"shipping": shipping})

    def place_order(self) -> dict[str, Any]:
        assert self.add("prd_mug", 2).status_code == 201
        response = self.checkout()
        assert response.status_code == 201, response.text
        return response.json()

    def review(self, text: str, product_id: str = "prd_cap", rating: Any = 5) -> httpx.Response:
        return self.call("POST", "/api/reviews", {"product_id": product_id, "rating": rating, "text": text})


def log_in(client: httpx.Client, email: str, password: str) -> httpx.Response:
    return client.post("/api/login", json={"email": email, "password": password})


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    assert response.json()["error"] == code
    assert response.json()["message"]


# -- basics -------------------------------------------------------------------


def test_bug_selection() -> None:
    assert DemoShop().bugs == frozenset(DEFAULT_BUGS)
    assert DemoShop(bugs=False).bugs == frozenset()
    assert DemoShop(bugs=["order_owner_check"]).bugs == {"order_owner_check"}
    with pytest.raises(ValueError, match="nope.*coupon_after_removal"):
        DemoShop(bugs=["nope"])


def test_root_health_and_catalogue(make_client: MakeClient) -> None:
    client = make_client(bugs=["order_owner_check", "checkout_flaky_503"])
    assert client.get("/").json() == {"service": "journeys demo shop", "openapi": "/openapi.json"}
    assert client.get("/healthz").json() == {"ok": True, "bugs": ["checkout_flaky_503", "order_owner_check"]}
    assert [p["id"] for p in client.get("/api/products").json()["products"]] == list(PRODUCT_IDS)
    assert client.get("/api/products/prd_tee").json() == {"id": "prd_tee", "name": "Organic tee", "price": 1800}
    assert_error(client.get("/api/products/prd_nope"), 404, "product_unknown")
    assert COUPON_CODES == ("WELCOME5", "SPRING10")


def test_routing_errors(make_client: MakeClient) -> None:
    client = make_client()
    assert_error(client.get("/api/nothing"), 404, "not_found")
    response = client.put("/api/cart")
    assert_error(response, 405, "method_not_allowed")
    assert response.headers["allow"] == "GET"
    assert_error(client.get("/api/me"), 401, "unauthorized")
    assert_error(client.get("/api/me", headers={"Authorization": "Bearer tok_forged"}), 401, "unauthorized")


def test_signup_login_me_logout(make_client: MakeClient) -> None:
    client = make_client()
    ada = Shopper(client, email="Ada@Example.com", name="Ada Lovelace")
    assert ada.user_id.startswith("usr_") and len(ada.user_id) == 14
    assert ada.signup["token"].startswith("tok_") and len(ada.signup["token"]) == 28
    me = ada.call("GET", "/api/me").json()
    assert me == {"user_id": ada.user_id, "name": "Ada Lovelace", "email": "Ada@Example.com"}

    taken = client.post("/api/signup", json={"name": "X", "email": "ada@example.COM", "password": "12345678"})
    assert_error(taken, 409, "email_taken")
    assert_error(log_in(client, "ada@example.com", "wrong-pass"), 401, "invalid_credentials")
    assert_error(log_in(client, "bob@example.com", ada.password), 401, "invalid_credentials")
    login = log_in(client, "ada@example.com", ada.password)
    assert login.status_code == 200 and login.json()["user_id"] == ada.user_id

    logout = ada.call("POST", "/api/logout")
    assert logout.status_code == 204 and logout.content == b""
    assert_error(ada.call("GET", "/api/me"), 401, "unauthorized")
    assert client.get("/api/me", headers={"Authorization": f"Bearer {login.json()['token']}"}).status_code == 200


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("name", "   ", "invalid_name"),
        ("name", "x" * 101, "invalid_name"),
        ("email", "not-an-email", "invalid_email"),
        ("email", "a@b.co\n", "invalid_email"),
        ("password", "short", "invalid_password"),
        ("password", 12345678, "invalid_password"),
    ],
)
def test_signup_validation(make_client: MakeClient, field: str, value: Any, code: str) -> None:
    body = {"name": "Ada", "email": "a@b.co", "password": "12345678"} | {field: value}
    assert_error(make_client().post("/api/signup", json=body), 422, code)


def test_body_and_field_errors(make_client: MakeClient) -> None:
    client = make_client()
    ada = Shopper(client)
    assert_error(client.post("/api/signup", content=b"{nope"), 400, "invalid_json")
    assert_error(client.post("/api/signup", json=["a", "list"]), 422, "invalid_body")
    assert_error(client.post("/api/signup"), 422, "invalid_body")
    lone_surrogate = b'{"name": "\\ud800", "email": "a@b.co", "password": "12345678"}'
    assert_error(client.post("/api/signup", content=lone_surrogate), 422, "invalid_name")

    assert_error(ada.add("prd_nope"), 404, "product_unknown")
    for quantity in (0, 100, True, 1.0, "1"):
        assert_error(ada.add("prd_mug", quantity), 422, "invalid_quantity")  # type: ignore[arg-type]
    assert ada.call("POST", "/api/cart/items", {"product_id": "prd_mug", "quantity": 90, "extra": 1}).status_code == 201
    assert_error(ada.add("prd_mug", 10), 422, "invalid_quantity")
    assert_error(ada.call("DELETE", "/api/cart/items/prd_pen"), 404, "item_not_in_cart")
    assert_error(ada.call("POST", "/api/cart/coupon", {"code": "FREE"}), 404, "coupon_unknown")
    assert_error(ada.checkout(SHIPPING | {"city": " "}), 422, "invalid_shipping")
    assert_error(ada.checkout("home"), 422, "invalid_shipping")
    assert_error(ada.review("ok", rating=6), 422, "invalid_rating")
    assert_error(ada.review(""), 422, "invalid_text")
    assert_error(ada.review("ok", product_id="prd_nope"), 404, "product_unknown")


def test_cart_coupon_checkout_and_orders(make_client: MakeClient) -> None:
    ada = Shopper(make_client())
    assert_error(ada.checkout(), 422, "cart_empty")
    ada.add("prd_tee")
    assert_error(ada.call("POST", "/api/cart/coupon", {"code": "SPRING10"}), 422, "coupon_not_eligible")
    line = {"product_id": "prd_tee", "name": "Organic tee", "unit_price": 1800, "quantity": 2, "line_total": 3600}
    assert ada.add("prd_tee").json()["items"] == [line]
    cart = ada.call("POST", "/api/cart/coupon", {"code": "SPRING10"}).json()
    assert (cart["subtotal"], cart["coupon"], cart["discount"], cart["total"]) == (3600, "SPRING10", 1000, 2600)

    order = ada.checkout().json()
    assert order["id"].startswith("ord_") and order["owner"] == ada.user_id
    assert (order["status"], order["shipping"], order["items"]) == ("placed", SHIPPING, [line])
    assert (order["subtotal"], order["discount"], order["total"]) == (3600, 1000, 2600)
    assert ada.call("GET", "/api/cart").json() == EMPTY_CART

    second = ada.place_order()
    assert [o["id"] for o in ada.call("GET", "/api/orders").json()["orders"]] == [second["id"], order["id"]]
    cancelled = ada.call("POST", f"/api/orders/{order['id']}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert_error(ada.call("POST", f"/api/orders/{order['id']}/cancel"), 409, "order_already_cancelled")
    assert_error(ada.call("GET", "/api/orders/ord_0000000000"), 404, "order_unknown")


def test_reviews_and_account_deletion(make_client: MakeClient) -> None:
    client = make_client()
    ada = Shopper(client, email="ada@example.com", name="Ada")
    review = ada.review("Nice pen", product_id="prd_pen", rating=4)
    assert review.status_code == 201 and review.json()["id"].startswith("rev_")
    listed = client.get("/api/products/prd_pen/reviews").json()["reviews"]
    assert listed == [review.json() | {"author": "Ada"}]
    assert client.get("/api/reviews/recent").json()["reviews"] == listed

    bob = Shopper(client)
    assert_error(bob.call("DELETE", f"/api/reviews/{review.json()['id']}"), 404, "review_unknown")
    order = ada.place_order()
    assert bob.call("POST", f"/api/orders/{order['id']}/cancel").status_code == 404

    assert ada.call("DELETE", "/api/account").status_code == 204
    assert_error(ada.call("GET", "/api/me"), 401, "unauthorized")
    assert client.get("/api/reviews/recent").json() == {"reviews": []}
    assert_error(log_in(client, "ada@example.com", ada.password), 401, "invalid_credentials")
    again = Shopper(client, email="ADA@example.com")
    assert again.call("GET", "/api/orders").json() == {"orders": []}


# -- seeded bugs ----------------------------------------------------------------


def coupon_then_remove(client: httpx.Client) -> tuple[dict[str, Any], dict[str, Any]]:
    shopper = Shopper(client)
    shopper.add("prd_tee")
    applied = shopper.call("POST", "/api/cart/coupon", {"code": "WELCOME5"}).json()
    assert (applied["coupon"], applied["total"]) == ("WELCOME5", 1300)
    removed = shopper.call("DELETE", "/api/cart/items/prd_tee")
    assert removed.status_code == 200
    return removed.json(), shopper.call("GET", "/api/cart").json()


def test_bug_coupon_after_removal(make_client: MakeClient) -> None:
    removed, later = coupon_then_remove(make_client(bugs=["coupon_after_removal"]))
    assert (removed["coupon"], removed["discount"], removed["total"]) == ("WELCOME5", 500, -500)
    assert later == removed
    removed, later = coupon_then_remove(make_client(bugs=False))
    assert removed == later == EMPTY_CART


def deleted_account_login(client: httpx.Client) -> httpx.Response:
    shopper = Shopper(client)
    assert shopper.call("DELETE", "/api/account").status_code == 204
    return log_in(client, shopper.email, shopper.password)


def test_bug_login_after_deletion(make_client: MakeClient) -> None:
    client = make_client(bugs=["login_after_deletion"])
    response = deleted_account_login(client)
    assert response.status_code == 200
    assert client.get("/api/me", headers={"Authorization": f"Bearer {response.json()['token']}"}).status_code == 200
    assert_error(deleted_account_login(make_client(bugs=False)), 401, "invalid_credentials")


def foreign_order_view(client: httpx.Client) -> httpx.Response:
    order = Shopper(client).place_order()
    return Shopper(client).call("GET", f"/api/orders/{order['id']}")


def test_bug_order_owner_check(make_client: MakeClient) -> None:
    assert foreign_order_view(make_client(bugs=["order_owner_check"])).status_code == 200
    assert_error(foreign_order_view(make_client(bugs=False)), 404, "order_unknown")


def recent_with_text(client: httpx.Client, text: str) -> httpx.Response:
    assert Shopper(client).review(text).status_code == 201
    return client.get("/api/reviews/recent")


def test_bug_recent_reviews_encoding(make_client: MakeClient) -> None:
    assert_error(recent_with_text(make_client(bugs=["recent_reviews_encoding"]), "Ā"), 500, "internal")
    assert recent_with_text(make_client(bugs=["recent_reviews_encoding"]), "é").json()["reviews"][0]["text"] == "é"
    response = recent_with_text(make_client(bugs=False), "Ā")
    assert response.status_code == 200 and response.json()["reviews"][0]["text"] == "Ā"
    assert "Ā".encode() in response.content  # UTF-8 on the wire, not \u escapes


def test_bug_checkout_flaky_503(make_client: MakeClient) -> None:
    shopper = Shopper(make_client(bugs=["checkout_flaky_503"], flaky_rate=1.0))
    cart = shopper.add("prd_bag", 3).json()
    assert_error(shopper.checkout(), 503, "payment_unavailable")
    assert shopper.call("GET", "/api/cart").json() == cart
    assert shopper.call("GET", "/api/orders").json() == {"orders": []}

    shopper = Shopper(make_client(bugs=False, flaky_rate=1.0))
    for _ in range(20):
        shopper.place_order()


# -- reproducibility, documentation and real HTTP --------------------------------


def id_sequence(client: httpx.Client) -> list[str]:
    shopper = Shopper(client, email="same@example.com")
    order = shopper.place_order()
    review = shopper.review("ok")
    return [shopper.user_id, shopper.signup["token"], order["id"], review.json()["id"]]


def test_bug_delivery_note_copy(make_client: MakeClient) -> None:
    for bugs, note in ((False, "Free delivery on orders over €30."), ("delivery_note_copy", "Free delivery on orders over €50.")):
        response = make_client(bugs=bugs).get("/api/products")
        assert response.status_code == 200 and response.json()["delivery_note"] == note


def test_bug_reviews_outlive_account(make_client: MakeClient) -> None:
    for bugs, left in ((False, 0), ("reviews_outlive_account", 1)):
        client = make_client(bugs=bugs)
        author = Shopper(client)
        assert author.review("still here?").status_code == 201
        assert author.call("DELETE", "/api/account").status_code == 204
        assert len(client.get("/api/reviews/recent").json()["reviews"]) == left


def test_every_bug_is_on_by_default() -> None:
    assert DEFAULT_BUGS == BUGS


def test_reset_forgets_every_account_and_review(make_client: MakeClient) -> None:
    client = make_client()
    author = Shopper(client)
    assert author.review("still here?").status_code == 201
    assert client.post("/__reset").status_code == 200
    assert client.get("/api/reviews/recent").json()["reviews"] == []
    assert author.call("GET", "/api/orders").status_code == 401  # the token is gone with the account


def test_same_seed_same_ids(make_client: MakeClient) -> None:
    first = id_sequence(make_client(seed=7))
    assert id_sequence(make_client(seed=7)) == first
    assert id_sequence(make_client(seed=8)) != first


def test_openapi_lists_every_route(make_client: MakeClient) -> None:
    document = make_client().get("/openapi.json").json()
    assert document == OPENAPI and document["info"]["title"] == "journeys demo shop"
    operations = {
        (method.upper(), path): operation
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method != "parameters"
    }
    assert len(operations) == len(ROUTES) == 25
    for method, path in operations:
        concrete = path.replace("{product_id}", "prd_mug").replace("{order_id}", "o").replace("{review_id}", "r").replace("{user_id}", "u")
        assert any(r.method == method and r.pattern.fullmatch(concrete) for r in ROUTES), (method, path)
    operation_ids = {operation["operationId"] for operation in operations.values()}
    expected = {"sign_up", "log_in", "add_to_cart", "remove_from_cart", "apply_coupon", "checkout", "view_order"}
    assert expected | {"cancel_order", "post_review", "recent_reviews"} <= operation_ids
    assert operations[("GET", "/api/cart")]["security"] == [{"bearerAuth": []}]
    assert "security" not in operations[("GET", "/api/products")]


def test_real_http_server() -> None:
    url, stop = start_in_thread(DemoShop(bugs=False))
    try:
        assert url.startswith("http://127.0.0.1:") and not url.endswith(":0")
        with httpx.Client(base_url=url) as client:
            assert client.get("/healthz").json() == {"ok": True, "bugs": []}
            zoe = Shopper(client, name="Zoë")
            assert zoe.call("GET", "/api/me").json()["name"] == "Zoë"
            assert zoe.call("POST", "/api/logout").status_code == 204
            assert_error(zoe.call("GET", "/api/me"), 401, "unauthorized")
    finally:
        stop()
