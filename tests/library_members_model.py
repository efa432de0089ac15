"""The test library as a member-only service sees it: no joining, two members made for the journeys.

Each actor signs in with the bearer token (and its member id) the project file
or ``--credential`` names for it, shelves and borrows books, and reads loans,
its own and the other's (the seeded ``loan_owner`` bug).
"""

from __future__ import annotations

from engine import Model
from strategies import free_text

model = Model("library-members", states=["visitor", "member"], start="visitor", actors=("ann", "ben"))
books = model.resource("books")
loans = model.resource("loans")


@model.action(source="visitor", target="member")
def sign_in(step):
    step.authenticate(step.credential("token"))
    r = step.get("/api/books")
    step.expect_status(r, 200)
    step.me["id"] = step.credential("member_id")


@model.action(source="member", target=None, produces=books, data={"title": free_text(max_size=20)})
def shelve_book(step, title):
    r = step.post("/api/books", json={"title": title})
    step.expect_status(r, 201)
    step.cleanup("DELETE", "/api/books/{book_id}", book_id=r.json()["id"])
    return r.json()


@model.action(source="member", target=None, produces=loans, data={"book": books})
def borrow(step, book):
    r = step.post("/api/loans", json={"book_id": book.value["id"]})
    step.expect_status(r, 201, 404)
    return r.json() if r.status_code == 201 else None


@model.action(source="member", target=None, data={"loan": loans}, weight=2)
def view_loan(step, loan):
    r = step.get("/api/loans/{loan_id}", loan_id=loan.value["id"])
    if loan.value["member"] == step.me["id"]:
        step.expect_status(r, 200)
    else:
        step.expect_status(r, 404, name="a loan is visible to its borrower only")
