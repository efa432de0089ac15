"""Journeys through the demo shop, written as its own team would write them.

Two customers, alice and bob, sign up, browse, fill carts, use coupons, check
out, look at orders, review products and delete their accounts. The checks are
the shop's business rules (statuses, a cart's arithmetic, an order is visible
to its owner only, a deleted account is gone), not the seeded bugs: the walk
has to find those.

Run it:  journeys explore models/shop.py --target demo
"""

from __future__ import annotations

from hypothesis import strategies as st

from engine import Model
from strategies import addresses, coupon_codes, emails, free_text, names, passwords, quantities, ratings

# What the shop team knows about its own catalogue and promotions.
PRODUCTS = {"prd_mug": 600, "prd_tee": 1800, "prd_cap": 1200, "prd_pen": 300, "prd_bag": 900}
COUPONS = {"WELCOME5": {"off": 500, "minimum": 1000}, "SPRING10": {"off": 1000, "minimum": 3000}}

model = Model(
    "shop",
    states=["anonymous", "signed_in", "has_cart", "ordered"],
    start="anonymous",
    actors=("alice", "bob"),
    description="Customers of the demo shop, from sign-up to orders and account deletion.",
)
orders = model.resource("orders")

SIGNED_IN = ("signed_in", "has_cart", "ordered")
ANYWHERE = ("anonymous", *SIGNED_IN)


# --- accounts ------------------------------------------------------------------------------
@model.action(source="anonymous", target="signed_in",
              data={"name": names(), "email": emails(), "password": passwords()})
def sign_up(step, name, email, password):
    email = step.unique(email)
    r = step.post("/api/signup", json={"name": name, "email": email, "password": password})
    step.expect_status(r, 201)
    step.expect_field(r, "email", "==", email)
    body = r.json()
    step.authenticate(body["token"])
    # The teardown deletes the account; if the run dies first, `journeys cleanup` does, as operator.
    step.created("DELETE", "/api/users/{user_id}", user_id=body["user_id"])
    accounts = step.me.get("accounts", []) + [(email, password)]  # for the clean-up
    step.me.clear()
    step.me.update(user_id=body["user_id"], email=email, password=password, deleted=False,
                   accounts=accounts)


@model.action(source="anonymous", target="signed_in",
              precondition=lambda me: "email" in me and not me["deleted"])
def log_in(step):
    r = step.post("/api/login", json={"email": step.me["email"], "password": step.me["password"]})
    step.expect_status(r, 200)
    step.authenticate(r.json()["token"])


@model.action(source="anonymous", target="anonymous", precondition=lambda me: me.get("deleted"))
def log_in_to_deleted_account(step):
    r = step.post("/api/login", json={"email": step.me["email"], "password": step.me["password"]})
    step.expect_status(r, 401, name="a deleted account cannot log in")


@model.action(source=SIGNED_IN, target="anonymous")
def log_out(step):
    r = step.post("/api/logout")
    step.expect_status(r, 204)
    step.authenticate(None)


@model.action(source=SIGNED_IN, target="anonymous")
def delete_account(step):
    r = step.delete("/api/account")
    step.expect_status(r, 204)
    step.authenticate(None)
    step.me["deleted"] = True
    step.me.pop("cart", None)
    # Its reviews go with it: any actor may look for them later.
    step.shared.setdefault("deleted_reviews", set()).update(step.me.pop("reviews", []))


# --- browsing ------------------------------------------------------------------------------
@model.action(source=ANYWHERE, target=None)
def browse_catalogue(step):
    r = step.get("/api/products")
    step.expect_status(r, 200)
    step.expect_field(r, "products", "!=", [], name="the catalogue is not empty")
    step.expect_text(r, "delivery_note", "over €30", name="the catalogue promises free delivery over €30")


@model.action(source=ANYWHERE, target=None)
def read_recent_reviews(step):
    r = step.get("/api/reviews/recent")
    step.expect_status(r, 200)


# --- cart and checkout ---------------------------------------------------------------------
@model.action(weight=3, source=SIGNED_IN, target="has_cart",
              data={"product": st.sampled_from(sorted(PRODUCTS)), "quantity": quantities()})
def add_to_cart(step, product, quantity):
    before = step.me.get("cart", {}).get("subtotal", 0)
    r = step.post("/api/cart/items", json={"product_id": product, "quantity": quantity})
    step.expect_status(r, 201)
    step.expect_field(r, "subtotal", "==", before + PRODUCTS[product] * quantity,
                      name="the subtotal grows by the line added")
    step.me["cart"] = r.json()


@model.action(weight=3, source="has_cart", target="has_cart", data={"pick": st.integers(0, 9)},
              precondition=lambda me: me.get("cart", {}).get("items"))
def remove_from_cart(step, pick):
    items = step.me["cart"]["items"]
    product = items[pick % len(items)]["product_id"]
    r = step.delete("/api/cart/items/{product_id}", product_id=product)
    step.expect_status(r, 200)
    step.me["cart"] = r.json()


@model.action(weight=3, source="has_cart", target="has_cart", data={"code": coupon_codes(tuple(COUPONS))})
def apply_coupon(step, code):
    subtotal = step.me.get("cart", {}).get("subtotal", 0)
    r = step.post("/api/cart/coupon", json={"code": code})
    coupon = COUPONS.get(code)
    if coupon is None:
        step.expect_status(r, 404, name="an unknown coupon is refused")
    elif subtotal < coupon["minimum"]:
        step.expect_status(r, 422, name="a coupon below its minimum spend is refused")
    else:
        step.expect_status(r, 200)
        step.expect_field(r, "discount", "==", coupon["off"])
        step.me["cart"] = r.json()


@model.action(source="has_cart", target="has_cart")
def view_cart(step):
    r = step.get("/api/cart")
    step.expect_status(r, 200)
    step.me["cart"] = r.json()


@model.action(weight=3, source="has_cart", target="ordered", produces=orders, data={"shipping": addresses()},
              precondition=lambda me: me.get("cart", {}).get("items"))
def checkout(step, shipping):
    expected_total = step.me["cart"]["total"]
    r = step.post("/api/checkout", json={"shipping": shipping})
    step.expect_status(r, 201)
    step.expect_field(r, "total", "==", expected_total, name="the order costs what the cart said")
    step.me["cart"] = {}
    return r.json()


# --- orders ----------------------------------------------------------------------------------
@model.action(weight=3, source=SIGNED_IN, target=None, data={"order": orders})
def view_order(step, order):
    r = step.get("/api/orders/{order_id}", order_id=order.value["id"])
    if order.value["owner"] == step.me.get("user_id"):
        step.expect_status(r, 200)
        step.expect_field(r, "id", "==", order.value["id"])
    else:
        step.expect_status(r, 403, 404, name="an order is visible to its owner only")


@model.action(source=SIGNED_IN, target=None, data={"order": orders})
def cancel_order(step, order):
    order_id = order.value["id"]
    r = step.post("/api/orders/{order_id}/cancel", order_id=order_id)
    cancelled = step.shared.setdefault("cancelled", set())
    if order.value["owner"] != step.me.get("user_id"):
        step.expect_status(r, 403, 404, name="only the owner can cancel an order")
    elif order_id in cancelled:
        step.expect_status(r, 409, name="an order is cancelled once")
    else:
        step.expect_status(r, 200)
        step.expect_field(r, "status", "==", "cancelled")
        cancelled.add(order_id)


@model.action(source=SIGNED_IN, target=None)
def order_history(step):
    r = step.get("/api/orders")
    step.expect_status(r, 200)
    owners = {order["owner"] for order in r.json()["orders"]}
    step.expect(owners <= {step.me["user_id"]}, "order history lists only my orders",
                f"owners seen: {sorted(owners)}", response=r)


# --- reviews -------------------------------------------------------------------------------
@model.action(source=SIGNED_IN, target=None,
              data={"product": st.sampled_from(sorted(PRODUCTS)), "rating": ratings(),
                    "text": free_text(max_size=300)})
def post_review(step, product, rating, text):
    r = step.post("/api/reviews", json={"product_id": product, "rating": rating, "text": text})
    step.expect_status(r, 201)
    step.expect_field(r, "text", "==", text, name="a review keeps its text as written")
    review_id = r.json()["id"]
    step.cleanup("DELETE", "/api/reviews/{review_id}", review_id=review_id)
    step.me.setdefault("reviews", []).append(review_id)


@model.action(source=ANYWHERE, target=None, data={"product": st.sampled_from(sorted(PRODUCTS))})
def read_product_reviews(step, product):
    r = step.get("/api/products/{product_id}/reviews", product_id=product)
    step.expect_status(r, 200)
    for review_id in sorted(step.shared.get("deleted_reviews", ())):
        step.expect_field(r, "reviews.*.id", "excludes", review_id, name="a deleted account's reviews are gone")


# --- clean-up: a journey leaves nothing behind on the shop ---------------------------------
@model.reset
def forget_everything(step):
    """The demo can be reset to an empty shop. Declare a reset only for a target of your own
    (staging, a local instance): it lets journeys confirm left-behind data by experiment."""
    r = step.post("/__reset")
    step.expect_status(r, 200)


@model.teardown
def delete_test_accounts(step):
    """Delete every account the actor created (and with them their reviews and carts)."""
    step.authenticate(None)
    for email, password in step.me.get("accounts", []):
        r = step.post("/api/login", json={"email": email, "password": password})
        if r.status_code == 200:
            step.authenticate(r.json()["token"])
            step.delete("/api/account")
            step.authenticate(None)


@model.cleanup_login
def as_shop_operator(step):
    """After a crash, `journeys cleanup` removes what the run left as the shop's operator, whose
    token only the environment holds (`journeys demo serve` reads the same variable)."""
    step.authenticate(step.secret("SHOP_OPERATOR_TOKEN"))


# --- invariants: checked on every response of every step ------------------------------------------
@model.invariant("no server errors")
def no_server_errors(check, response):
    check.status_below(response, 500)


@model.invariant("money amounts are never negative")
def money_never_negative(check, response):
    body = response.json() if "json" in response.headers.get("content-type", "") else None
    if isinstance(body, dict):
        for field in ("subtotal", "discount", "total"):
            if field in body:
                check.field(response, field, ">=", 0)
