"""The demo shop walked by customers whose sessions are cookies, or who sign every request
with HTTP Basic, never a bearer token: ``JOURNEYS_TEST_AUTH`` is ``cookie`` or ``basic``.

With one cookie jar for both actors, bob's log-in would replace alice's session and alice
looking at bob's order would be bob looking at his own: the order-visibility bug hides.
"""

from __future__ import annotations

import os

from hypothesis import strategies as st

from engine import Model
from strategies import addresses, emails, names, passwords

AUTH = os.environ.get("JOURNEYS_TEST_AUTH", "cookie")

model = Model("shop-sessions", states=["anonymous", "signed_in", "has_cart"], start="anonymous",
              actors=("alice", "bob"))
orders = model.resource("orders")


@model.action(source="anonymous", target="signed_in",
              data={"name": names(), "email": emails(), "password": passwords()})
def sign_up(step, name, email, password):
    email = step.unique(email)
    r = step.post("/api/signup", json={"name": name, "email": email, "password": password})
    step.expect_status(r, 201)
    if AUTH == "basic":
        step.authenticate(basic=(email, password))
    step.me.update(user_id=r.json()["user_id"])
    step.cleanup("DELETE", "/api/account")


@model.action(source=("signed_in", "has_cart"), target="signed_in")
def who_am_i(step):
    r = step.get("/api/me")
    step.expect_status(r, 200)
    step.expect_field(r, "user_id", "==", step.me["user_id"], name="the session is the actor's own")


@model.action(source=("signed_in", "has_cart"), target="has_cart",
              data={"product": st.sampled_from(["prd_mug", "prd_tee"]), "quantity": st.integers(1, 3)})
def add_to_cart(step, product, quantity):
    r = step.post("/api/cart/items", json={"product_id": product, "quantity": quantity})
    step.expect_status(r, 201)


@model.action(source="has_cart", target="signed_in", produces=orders, data={"shipping": addresses()})
def checkout(step, shipping):
    r = step.post("/api/checkout", json={"shipping": shipping})
    step.expect_status(r, 201)
    return {"id": r.json()["id"], "owner": step.me["user_id"]}


@model.action(source=("signed_in", "has_cart"), target=None, data={"order": orders})
def view_order(step, order):
    r = step.get("/api/orders/{order_id}", order_id=order.value["id"])
    if order.value["owner"] == step.me["user_id"]:
        step.expect_status(r, 200)
    else:
        step.expect_status(r, 403, 404, name="an order is visible to its owner only")
