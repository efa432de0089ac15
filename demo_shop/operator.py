"""The shop's operator: its own staff, who may remove any account or review (test data after a crash).

Enabled only when the shop is given an operator token (``DemoShop(operator_token=...)``, or
``journeys demo serve`` with ``$SHOP_OPERATOR_TOKEN`` set); the token is sent as a bearer token.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from demo_shop.routing import ApiError, Request, Response, route

if TYPE_CHECKING:
    from demo_shop.app import DemoShop


def _operator_only(request: Request) -> None:
    if not request.operator:
        raise ApiError(403, "operator_only", "Only the shop's operator may do this.")


@route("DELETE", "/api/users/{user_id}", auth=True)
def _delete_user(shop: DemoShop, request: Request) -> Response:
    _operator_only(request)
    user = shop._users.get(request.params["user_id"])
    if user is None or user.deleted:
        raise ApiError(404, "user_unknown", "There is no such account.")
    shop._remove_account(user)
    return Response(204)


@route("GET", "/api/operator/inventory", auth=True)
def _inventory(shop: DemoShop, request: Request) -> Response:
    _operator_only(request)
    return Response(200, {"users": [u.id for u in shop._users.values() if not u.deleted],
                          "reviews": list(shop._reviews)})
