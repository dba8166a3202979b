"""The FastAPI shop of tests/sdk/test_frameworks.py, served by uvicorn (`uvicorn
fastapi_app:app --log-config uvicorn_logging.json`): async handlers, httpx to itself,
background tasks, jinja2 templates, sqlite3."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path
from typing import Any

import httpx
from fastapi import BackgroundTasks, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from opentelemetry import trace
from pydantic import BaseModel

import shop

log = logging.getLogger("shop.fastapi")
app = FastAPI()
templates = Jinja2Templates(directory=str(Path(__file__).with_name("templates")))


class NewItem(BaseModel):
    name: str
    price: int


class NewOrder(BaseModel):
    item: int
    qty: int


def query(sql: str, *params: object) -> list:
    with sqlite3.connect(shop.DB_PATH) as db:
        db.row_factory = sqlite3.Row
        return db.cursor().execute(sql, params).fetchall()  # cursors: what the sqlite3 instrumentation traces


@app.get("/", response_class=HTMLResponse)
async def index(request: Request) -> Any:
    items = query("SELECT id, name, price FROM items ORDER BY id")
    log.info("listed %d items", len(items))
    return templates.TemplateResponse(request, "index.html", {"title": "Shop", "items": items})


@app.get("/items/{item_id}")
async def item(item_id: int) -> dict:
    rows = query("SELECT id, name, price FROM items WHERE id = ?", item_id)
    if not rows:
        log.warning("no item %d", item_id)
        raise HTTPException(status_code=404, detail="no such item")
    return dict(rows[0])


@app.post("/items", status_code=201)
async def create_item(new: NewItem) -> dict:
    with sqlite3.connect(shop.DB_PATH) as db:
        cursor = db.cursor().execute("INSERT INTO items (name, price) VALUES (?, ?)", (new.name, new.price))
    log.info("created item %s", new.name)
    return {"id": cursor.lastrowid}


@app.get("/proxy/{item_id}")
async def proxy(item_id: int, request: Request) -> Any:
    async with httpx.AsyncClient() as client:
        response = await client.get(f"{request.base_url}items/{item_id}", timeout=10)
    log.info("proxied item %d: %d", item_id, response.status_code)
    return response.json()


def send_receipt(total: int, priced: trace.SpanContext) -> None:
    """A background task (run after the response is sent): its span links to the pricing."""
    with shop.tracer.start_as_current_span("send-receipt", links=[trace.Link(priced, {"shop.reason": "receipt"})]):
        logging.getLogger("shop.receipts").info("receipt sent for %d USD", total)


@app.post("/orders", status_code=201)
async def order(new: NewOrder, background: BackgroundTasks) -> dict:
    (price,) = query("SELECT price FROM items WHERE id = ?", new.item)[0]
    total, priced = shop.place_order(new.item, new.qty, price, "fastapi")
    background.add_task(send_receipt, total, priced)
    return {"total": total}


@app.get("/report")
async def report() -> dict:
    return {"rows": len(query(shop.long_sql()))}


@app.get("/log/long")
async def long_log() -> dict:
    log.warning(shop.long_body())
    return {"logged": shop.BODY_LENGTH}


@app.get("/boom")
async def boom() -> dict:
    return {"total": shop.checkout_broken_cart()}
