"""Journeys through the test library (tests/library_app.py), written from its description.

Two members join, shelve books, borrow and return them, and look at loans.
"""

from __future__ import annotations

from engine import Model
from strategies import free_text, names

model = Model("library", states=["visitor", "member"], start="visitor", actors=("ann", "ben"))
books = model.resource("books")
loans = model.resource("loans")


@model.reset
def forget_everything(step):
    """The test library can be reset (``--no-reset`` runs as if it could not)."""
    r = step.post("/__reset")
    step.expect_status(r, 200)


@model.cleanup_login
def as_librarian(step):
    """After a crash, `journeys cleanup` takes books off the shelf as the librarian."""
    step.authenticate(header=("X-Librarian-Key", step.secret("LIBRARY_LIBRARIAN_KEY")))


@model.action(source="visitor", target="member", data={"name": names()})
def join(step, name):
    r = step.post("/api/members", json={"name": name})
    step.expect_status(r, 201)
    step.authenticate(r.json()["token"])
    step.me["id"] = r.json()["id"]


@model.action(source="member", target=None, produces=books, data={"title": free_text(max_size=40)})
def shelve_book(step, title):
    r = step.post("/api/books", json={"title": title})
    step.expect_status(r, 201)
    step.cleanup("DELETE", "/api/books/{book_id}", book_id=r.json()["id"])
    return r.json()


@model.action(source=["visitor", "member"], target=None)
def browse_shelf(step):
    r = step.get("/api/books")
    if step.signed_in:
        step.expect_status(r, 200)
    else:
        step.expect_status(r, 401)


@model.action(source="member", target=None, produces=loans, data={"book": books}, weight=2)
def borrow(step, book):
    r = step.post("/api/loans", json={"book_id": book.value["id"]})
    step.expect_status(r, 201, 404)  # the book may have been taken off the shelf
    if r.status_code == 201:
        return r.json()
    return None


@model.action(source="member", target=None, data={"loan": loans}, weight=2)
def return_loan(step, loan):
    r = step.delete("/api/loans/{loan_id}", loan_id=loan.value["id"])
    returned = step.shared.setdefault("returned", set())
    if loan.value["member"] != step.me.get("id"):
        step.expect_status(r, 404, name="only the borrower can return a loan")
    elif loan.value["id"] in returned:
        step.expect_status(r, 404, name="a loan is returned once")
    else:
        step.expect_status(r, 204)
        returned.add(loan.value["id"])


@model.action(source="member", target=None, data={"loan": loans})
def view_loan(step, loan):
    r = step.get("/api/loans/{loan_id}", loan_id=loan.value["id"])
    if loan.value["member"] == step.me.get("id"):
        step.expect_status(r, 200)
    else:
        step.expect_status(r, 404, name="a loan is visible to its borrower only")


@model.action(source="member", target=None)
def view_board(step):
    r = step.get("/api/board")
    step.expect_status(r, 200)


@model.invariant("no server errors")
def no_server_errors(check, response):
    check.status_below(response, 500)
