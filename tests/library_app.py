"""A second target for the tests, shaped unlike the demo shop: a lending library.

Members join (a random id and a bearer token each), add books to a shared
shelf, borrow and return them. Ids are random per instance, so a reproduction
that hard-codes one cannot pass; loan ids are small integers counted from a
random start, which no exporter can find by matching strings. Seeded bugs, each switchable:

- ``shelf_astral``: a book whose title holds a character outside the Basic
  Multilingual Plane (an emoji, say) breaks the shared shelf listing (500) for
  everyone while it is on the shelf; it is the second thing its journey
  creates (after the member).
- ``double_return``: returning a loan twice answers 204 instead of 404.
- ``loan_owner``: any member can read another member's loan.
- ``orphan_loans``: deleting a book that is out on loan answers 204 (instead of
  409) and deletes it, and the loans board (every open loan with its title)
  then answers 500 for everyone. Only a clean-up deletes books, so this is
  left-behind state whose clean-up *succeeded*: the data that breaks the board
  is the loan, made after the book, by the journey's last creating step.

``POST /__reset`` forgets everything (a test hook, as a staging copy might have). A librarian
(``Library(librarian_key=...)``, sent as ``X-Librarian-Key``) may delete any book, loans and all:
what ``journeys cleanup`` signs in as after a crash.
"""

from __future__ import annotations

import json
import secrets
import threading

BUGS = ("shelf_astral", "double_return", "loan_owner", "orphan_loans")


class Library:
    def __init__(self, bugs=BUGS, librarian_key: str | None = None) -> None:
        self.bugs = frozenset(bugs)
        self.librarian_key = librarian_key
        self.lock = threading.Lock()
        self.members: dict[str, str] = {}  # token -> member id
        self.books: dict[str, dict] = {}
        self.loans: dict[int, dict] = {}
        self.next_loan = 1000 + secrets.randbelow(9000)

    def __call__(self, environ, start_response):
        method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "")
        size = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(size) if size else b""
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = None
        token = environ.get("HTTP_AUTHORIZATION", "").removeprefix("Bearer ")
        librarian = bool(self.librarian_key) and environ.get("HTTP_X_LIBRARIAN_KEY") == self.librarian_key
        with self.lock:
            member = "librarian" if librarian else self.members.get(token)
            status, answer = self.route(method, path.rstrip("/").split("/"), body, member)
        payload = b"" if answer is None else json.dumps(answer).encode()
        start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))])
        return [payload]

    def route(self, method, parts, body, member):
        if parts == ["", "healthz"] or parts == [""]:
            return "200 OK", {"ok": True}
        if parts == ["", "__reset"] and method == "POST":
            self.members.clear()
            self.books.clear()
            self.loans.clear()
            return "200 OK", {"reset": True}
        if body is None or not isinstance(body, dict):
            return "400 Bad Request", {"error": "json"}
        if parts == ["", "api", "members"] and method == "POST":
            if not isinstance(body.get("name"), str) or not body["name"].strip():
                return "422 Unprocessable Entity", {"error": "name"}
            member_id, token = "m_" + secrets.token_hex(6), "t_" + secrets.token_hex(12)
            self.members[token] = member_id
            return "201 Created", {"id": member_id, "token": token}
        if member is None:
            return "401 Unauthorized", {"error": "sign in"}
        if parts == ["", "api", "books"] and method == "POST":
            if not isinstance(body.get("title"), str) or not body["title"].strip():
                return "422 Unprocessable Entity", {"error": "title"}
            book = {"id": "b_" + secrets.token_hex(6), "title": body["title"], "owner": member}
            self.books[book["id"]] = book
            return "201 Created", book
        if parts == ["", "api", "books"] and method == "GET":
            if "shelf_astral" in self.bugs and any(ord(c) > 0xFFFF for b in self.books.values()
                                                    for c in b["title"]):
                return "500 Internal Server Error", {"error": "internal"}
            return "200 OK", {"books": [{"id": b["id"], "title": b["title"]} for b in self.books.values()]}
        if len(parts) == 4 and parts[:3] == ["", "api", "books"] and method == "DELETE":
            book = self.books.get(parts[3])
            if book is None:
                return "404 Not Found", {"error": "no such book"}
            if member == "librarian":  # takes the book off the shelf, its loans with it
                self.loans = {k: loan for k, loan in self.loans.items() if loan["book_id"] != book["id"]}
                del self.books[book["id"]]
                return "204 No Content", None
            if book["owner"] != member:
                return "403 Forbidden", {"error": "not yours"}
            on_loan = any(loan["book_id"] == book["id"] and not loan["returned"] for loan in self.loans.values())
            if on_loan and "orphan_loans" not in self.bugs:
                return "409 Conflict", {"error": "the book is out on loan"}
            del self.books[parts[3]]
            return "204 No Content", None
        if parts == ["", "api", "board"] and method == "GET":
            open_loans = [loan for loan in self.loans.values() if not loan["returned"]]
            if any(loan["book_id"] not in self.books for loan in open_loans):
                return "500 Internal Server Error", {"error": "internal"}
            return "200 OK", {"loans": [{"id": loan["id"], "title": self.books[loan["book_id"]]["title"]}
                                        for loan in open_loans]}
        if parts == ["", "api", "loans"] and method == "POST":
            if body.get("book_id") not in self.books:
                return "404 Not Found", {"error": "no such book"}
            loan = {"id": self.next_loan, "book_id": body["book_id"], "member": member, "returned": False}
            self.next_loan += 1
            self.loans[loan["id"]] = loan
            return "201 Created", loan
        if len(parts) == 4 and parts[:3] == ["", "api", "loans"]:
            loan = self.loans.get(int(parts[3])) if parts[3].isdigit() else None
            if loan is None or (loan["member"] != member and not (method == "GET" and "loan_owner" in self.bugs)):
                return "404 Not Found", {"error": "no such loan"}
            if method == "GET":
                return "200 OK", loan
            if method == "DELETE":
                if loan["returned"] and "double_return" not in self.bugs:
                    return "404 Not Found", {"error": "already returned"}
                loan["returned"] = True
                return "204 No Content", None
        return "404 Not Found", {"error": "no route"}
