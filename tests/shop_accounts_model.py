"""The demo shop as production sees it: no sign-up, two accounts made for the journeys.

Each actor signs in with the email and password the project file (or
``--credential``) names for it, looks at its profile, orders, and looks at
orders anyone placed (the seeded order-visibility bug). Orders stay on the
target (the test's own demo): a shop may keep orders even once cancelled.
"""

from __future__ import annotations

from hypothesis import strategies as st

from engine import Model

model = Model("shop-accounts", states=["signed_out", "signed_in"], start="signed_out", actors=("alice", "bob"))
orders = model.resource("orders")

SHIPPING = {"name": "QA", "street": "1 Test Row", "city": "London", "postcode": "N1 9GU", "country": "GB"}


@model.action(source="signed_out", target="signed_in")
def log_in(step):
    r = step.post("/api/login", json={"email": step.credential("email"), "password": step.credential("password")})
    step.expect_status(r, 200)
    step.authenticate(r.json()["token"])
    step.me["user_id"] = r.json()["user_id"]


@model.action(source="signed_in", target=None)
def view_profile(step):
    r = step.get("/api/me")
    step.expect_status(r, 200)
    step.expect_field(r, "email", "==", step.credential("email"), name="the profile is the account's own")


@model.action(source="signed_in", target=None, produces=orders,
              data={"product": st.sampled_from(["prd_bag", "prd_mug"]), "quantity": st.integers(1, 3)})
def order(step, product, quantity):
    r = step.post("/api/cart/items", json={"product_id": product, "quantity": quantity})
    step.expect_status(r, 201)
    r = step.post("/api/checkout", json={"shipping": SHIPPING})
    step.expect_status(r, 201, 503)  # the demo's seeded intermittent 503 on checkout is another failure
    return r.json() if r.status_code == 201 else None


@model.action(source="signed_in", target=None, data={"order": orders}, weight=3)
def view_order(step, order):
    r = step.get("/api/orders/{order_id}", order_id=order.value["id"])
    if order.value["owner"] == step.me["user_id"]:
        step.expect_status(r, 200)
    else:
        step.expect_status(r, 403, 404, name="an order is visible to its owner only")


@model.action(source="signed_in", target="signed_out")
def log_out(step):
    r = step.post("/api/logout")
    step.expect_status(r, 204)
    step.authenticate(None)
