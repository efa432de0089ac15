"""OpenAPI 3.1 description of the demo shop, served at `/openapi.json`.

`OPENAPI` documents every route of `demo_shop.app.DemoShop` as the shop is
meant to behave (the seeded bugs are deliberately absent): path templates,
snake_case operation ids, request body schemas, the main response codes with
their schemas, and bearer authentication. Small helpers keep the document
compact; path parameters are derived from the `{param}` templates.
"""

from __future__ import annotations

import re
from typing import Any

Schema = dict[str, Any]

SUCCESS_DESCRIPTIONS = {200: "OK", 201: "Created", 204: "No content"}
ERROR_DESCRIPTIONS = {
    400: "The body is not valid JSON",
    401: "Missing, unknown or revoked bearer token",
    403: "Only the shop's operator may do this",
    404: "The resource does not exist (or is not yours)",
    409: "Conflicts with the current state",
    422: "A field failed validation",
    503: "A dependency did not answer; try again",
}


def _string(min_length: int = 0, max_length: int | None = None, **extra: Any) -> Schema:
    schema: Schema = {"type": "string", "minLength": min_length, **extra}
    return schema if max_length is None else schema | {"maxLength": max_length}


def _integer(minimum: int | None = None, maximum: int | None = None) -> Schema:
    bounds = {"minimum": minimum, "maximum": maximum}
    return {"type": "integer"} | {key: value for key, value in bounds.items() if value is not None}


def _text(max_length: int) -> Schema:
    """A string that must hold something other than whitespace."""
    return _string(1, max_length, pattern=r"\S")


def _object(properties: dict[str, Schema]) -> Schema:
    return {"type": "object", "properties": properties, "required": list(properties)}


def _array(items: Schema, **extra: Any) -> Schema:
    return {"type": "array", "items": items, **extra}


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: Schema) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


CENTS = _integer(0)
REVIEW_FIELDS: dict[str, Schema] = {
    "id": _string(),
    "product_id": _string(),
    "rating": _integer(1, 5),
    "text": _text(2000),
}
PRICING: dict[str, Schema] = {"subtotal": CENTS, "discount": CENTS, "total": CENTS}

SCHEMAS: dict[str, Schema] = {
    "Error": _object({"error": _string(), "message": _string()}),
    "Product": _object({"id": _string(), "name": _string(), "price": CENTS}),
    "User": _object({"user_id": _string(), "name": _string(), "email": _string()}),
    "CartItem": _object(
        {
            "product_id": _string(),
            "name": _string(),
            "unit_price": CENTS,
            "quantity": _integer(1, 99),
            "line_total": CENTS,
        }
    ),
    "Cart": _object({"items": _array(_ref("CartItem")), **PRICING, "coupon": {"type": ["string", "null"]}}),
    "Shipping": _object({key: _text(200) for key in ("name", "street", "city", "postcode", "country")}),
    "Order": _object(
        {
            "id": _string(),
            "owner": _string(),
            "items": _array(_ref("CartItem")),
            **PRICING,
            "status": {"type": "string", "enum": ["placed", "cancelled"]},
            "shipping": _ref("Shipping"),
        }
    ),
    "Review": _object(REVIEW_FIELDS),
    "PublicReview": _object({**REVIEW_FIELDS, "author": _string()}),
}


def _operation(
    operation_id: str,
    summary: str,
    status: int,
    schema: Schema | None = None,
    *,
    body: Schema | None = None,
    auth: bool = False,
    errors: tuple[int, ...] = (),
) -> dict[str, Any]:
    """One operation: its success response, its error responses and, if given, a JSON body."""
    success: dict[str, Any] = {"description": SUCCESS_DESCRIPTIONS[status]}
    if schema is not None:
        success["content"] = _json(schema)
    codes = sorted(set(errors) | ({400, 422} if body else set()) | ({401} if auth else set()))
    responses = {str(status): success} | {
        str(code): {"description": ERROR_DESCRIPTIONS[code], "content": _json(_ref("Error"))} for code in codes
    }
    operation: dict[str, Any] = {"operationId": operation_id, "summary": summary, "responses": responses}
    if body is not None:
        operation["requestBody"] = {"required": True, "content": _json(body)}
    if auth:
        operation["security"] = [{"bearerAuth": []}]
    return operation



def _paths(operations: list[tuple[str, str, dict[str, Any]]]) -> dict[str, Any]:
    """Group (method, path, operation) triples by path, declaring each `{param}` once per path."""
    paths: dict[str, Any] = {}
    for method, path, operation in operations:
        item = paths.setdefault(path, {})
        names = re.findall(r"\{(\w+)\}", path)
        if names:
            item["parameters"] = [{"name": n, "in": "path", "required": True, "schema": _string(1)} for n in names]
        item[method.lower()] = operation
    return paths


OPERATIONS: list[tuple[str, str, dict[str, Any]]] = [
    ("GET", "/", _operation("service_info", "Name the service and its OpenAPI document", 200)),
    ("GET", "/healthz", _operation("health", "Report liveness and the enabled seeded bugs", 200)),
    ("GET", "/openapi.json", _operation("openapi_document", "This document", 200)),
    ("POST", "/__reset", _operation("reset", "Forget all data: the shop as it started (a demo's test hook)", 200)),
    (
        "POST",
        "/api/signup",
        _operation(
            "sign_up",
            "Create an account and a session",
            201,
            _object({"user_id": _string(), "name": _string(), "email": _string(), "token": _string()}),
            body=_object(
                {
                    "name": _text(100),
                    "email": _string(1, 254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$"),
                    "password": _string(8, 128),
                }
            ),
            errors=(409,),
        ),
    ),
    (
        "POST",
        "/api/login",
        _operation(
            "log_in",
            "Open a session",
            200,
            _object({"token": _string(), "user_id": _string()}),
            body=_object({"email": _string(), "password": _string()}),
            errors=(401,),
        ),
    ),
    ("POST", "/api/logout", _operation("log_out", "Revoke the calling token", 204, auth=True)),
    ("GET", "/api/me", _operation("view_me", "The signed-in user", 200, _ref("User"), auth=True)),
    ("DELETE", "/api/account", _operation("delete_account", "Delete the signed-in account", 204, auth=True)),
    (
        "GET",
        "/api/products",
        _operation("list_products", "The catalogue", 200,
                   _object({"products": _array(_ref("Product")), "delivery_note": {"type": "string"}})),
    ),
    (
        "GET",
        "/api/products/{product_id}",
        _operation("view_product", "One product", 200, _ref("Product"), errors=(404,)),
    ),
    (
        "GET",
        "/api/products/{product_id}/reviews",
        _operation(
            "product_reviews",
            "Reviews of one product, newest first",
            200,
            _object({"reviews": _array(_ref("PublicReview"))}),
            errors=(404,),
        ),
    ),
    ("GET", "/api/cart", _operation("view_cart", "The caller's cart", 200, _ref("Cart"), auth=True)),
    (
        "POST",
        "/api/cart/items",
        _operation(
            "add_to_cart",
            "Add units of a product to the cart",
            201,
            _ref("Cart"),
            body=_object({"product_id": _string(), "quantity": _integer(1, 99)}),
            auth=True,
            errors=(404,),
        ),
    ),
    (
        "DELETE",
        "/api/cart/items/{product_id}",
        _operation("remove_from_cart", "Remove a whole cart line", 200, _ref("Cart"), auth=True, errors=(404,)),
    ),
    (
        "POST",
        "/api/cart/coupon",
        _operation(
            "apply_coupon",
            "Apply a coupon to the cart",
            200,
            _ref("Cart"),
            body=_object({"code": _string()}),
            auth=True,
            errors=(404,),
        ),
    ),
    (
        "POST",
        "/api/checkout",
        _operation(
            "checkout",
            "Place an order from the cart",
            201,
            _ref("Order"),
            body=_object({"shipping": _ref("Shipping")}),
            auth=True,
            errors=(503,),
        ),
    ),
    (
        "GET",
        "/api/orders",
        _operation(
            "list_orders",
            "The caller's orders, newest first",
            200,
            _object({"orders": _array(_ref("Order"))}),
            auth=True,
        ),
    ),
    (
        "GET",
        "/api/orders/{order_id}",
        _operation("view_order", "One of the caller's orders", 200, _ref("Order"), auth=True, errors=(404,)),
    ),
    (
        "POST",
        "/api/orders/{order_id}/cancel",
        _operation(
            "cancel_order", "Cancel one of the caller's orders", 200, _ref("Order"), auth=True, errors=(404, 409)
        ),
    ),
    (
        "POST",
        "/api/reviews",
        _operation(
            "post_review",
            "Review a product",
            201,
            _ref("Review"),
            body=_object({"product_id": _string(), "rating": _integer(1, 5), "text": _text(2000)}),
            auth=True,
            errors=(404,),
        ),
    ),
    (
        "DELETE",
        "/api/reviews/{review_id}",
        _operation("delete_review", "Delete one of the caller's reviews (the operator: any review)", 204,
                   auth=True, errors=(404,)),
    ),
    (
        "DELETE",
        "/api/users/{user_id}",
        _operation("delete_user", "The operator deletes an account, with its reviews and cart", 204,
                   auth=True, errors=(403, 404)),
    ),
    (
        "GET",
        "/api/operator/inventory",
        _operation("inventory", "The operator lists live accounts and reviews", 200,
                   _object({"users": _array(_string()), "reviews": _array(_string())}),
                   auth=True, errors=(403,)),
    ),
    (
        "GET",
        "/api/reviews/recent",
        _operation(
            "recent_reviews",
            "The 20 newest reviews across the shop",
            200,
            _object({"reviews": _array(_ref("PublicReview"), maxItems=20)}),
        ),
    ),
]

OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "journeys demo shop",
        "version": "1.0.0",
        "description": "A small shop API with switchable seeded bugs; money is integer cents.",
    },
    "paths": _paths(OPERATIONS),
    "components": {
        "schemas": SCHEMAS,
        "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}},
    },
}
