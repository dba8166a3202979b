"""What the four shop applications of tests/sdk/test_frameworks.py share: the database, the
long values the suite is about, the failure, and the application's own spans and metrics.

Each application (flask_app.py, fastapi_app.py, djshop/) serves the same routes over its
framework's own request handling; only the plumbing here is common."""

from __future__ import annotations

import logging
import sqlite3
from typing import Any, Dict, List, Tuple

from opentelemetry import metrics, trace

DB_PATH = "shop.db"  # relative: each run has its own working directory (db.name is compared)
SQL_LENGTH = 3000
BODY_LENGTH = 5000
ITEMS = [(1, "lamp", 30), (2, "desk", 120), (3, "chair", 45)]

tracer = trace.get_tracer("shop", "1.0")
meter = metrics.get_meter("shop", "1.0")
orders = meter.create_counter("shop.orders", unit="{order}", description="Orders placed")
order_value = meter.create_histogram(
    "shop.order.value", unit="USD", description="Value of an order",
    explicit_bucket_boundaries_advisory=[10, 50, 100, 500],
)  # fmt: skip


def seed(path: str = DB_PATH) -> None:
    """The database every run starts from (called by the harness, not traced)."""
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, price INTEGER NOT NULL)")
        db.executemany("INSERT INTO items VALUES (?, ?, ?)", ITEMS)


def long_sql() -> str:
    """A report query of exactly SQL_LENGTH characters (db.statement must arrive whole)."""
    names = ", ".join(f"'lamp-{i:03d}'" for i in range(160))
    head = f"SELECT id, name, price FROM items WHERE name IN ('lamp', 'desk', {names}) OR price > 1000 /* "
    tail = " */ ORDER BY id"
    sql = head + "report:" + "=" * (SQL_LENGTH - len(head) - len(tail) - len("report:")) + tail
    assert len(sql) == SQL_LENGTH, len(sql)
    return sql


def long_body() -> str:
    """A log body of exactly BODY_LENGTH characters."""
    lines = [f"line {i:03d}: item={ITEMS[i % 3][1]} price={ITEMS[i % 3][2]}" for i in range(200)]
    text = "inventory dump | " + " | ".join(lines)
    return (text + " " + "." * BODY_LENGTH)[:BODY_LENGTH]


class PricingError(Exception):
    pass


def _price_of(item: Dict[str, Any]) -> int:
    try:
        return int(item["price"])
    except KeyError as exc:
        raise PricingError(f"item {item['id']} has no price") from exc


def _total(cart: List[Dict[str, Any]]) -> int:
    return sum(_price_of(item) for item in cart)


def checkout_broken_cart() -> int:
    """Raises PricingError (chained from a KeyError) a few frames deep: the failing route."""
    return _total([{"id": 1, "price": 30}, {"id": 42}])


def place_order(item: int, qty: int, price: int, framework: str) -> Tuple[int, Any]:
    """The application's own spans: an event, a link, attributes; its own metrics. Returns
    the order's total and the span context of the pricing span (background work links to it)."""
    with tracer.start_as_current_span("price-order", attributes={"shop.item": item, "shop.qty": qty}) as span:
        total = price * qty
        span.add_event("priced", {"shop.total": total, "shop.currency": "USD"})
        priced = span.get_span_context()
    with tracer.start_as_current_span(
        "reserve-stock", kind=trace.SpanKind.INTERNAL, links=[trace.Link(priced, {"shop.reason": "priced"})]
    ) as span:
        span.set_attributes({"shop.warehouse": "north", "shop.tags": ["fragile", "express"]})
        span.set_status(trace.Status(trace.StatusCode.OK))
    orders.add(1, {"shop.framework": framework, "shop.item": item})
    order_value.record(total, {"shop.framework": framework})
    logging.getLogger("shop.orders").info("order placed", extra={"shop.item": item, "shop.total": total})
    return total, priced
