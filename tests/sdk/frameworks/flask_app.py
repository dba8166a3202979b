"""The Flask shop of tests/sdk/test_frameworks.py: jinja2 templates, sqlite3, requests to
itself, logging set up by the application's own basicConfig. `python flask_app.py PORT` runs
the development server (threaded); gunicorn.conf.py serves the same `app` with workers."""

from __future__ import annotations

import logging
import sqlite3
import sys

import requests
from flask import Flask, abort, jsonify, render_template, request

import shop

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
log = logging.getLogger("shop.flask")
app = Flask(__name__)
# No template cache: each render loads and compiles. With gunicorn's workers, which worker
# renders first (and so which request has the jinja2.compile span) would be down to chance.
app.jinja_options = {**app.jinja_options, "cache_size": 0}


def query(sql: str, *params: object) -> list:
    with sqlite3.connect(shop.DB_PATH) as db:
        db.row_factory = sqlite3.Row
        return db.cursor().execute(sql, params).fetchall()  # cursors: what the sqlite3 instrumentation traces


@app.route("/")
def index() -> str:
    items = query("SELECT id, name, price FROM items ORDER BY id")
    log.info("listed %d items", len(items))
    return render_template("index.html", title="Shop", items=items)


@app.route("/items/<int:item_id>")
def item(item_id: int):
    rows = query("SELECT id, name, price FROM items WHERE id = ?", item_id)
    if not rows:
        log.warning("no item %d", item_id)
        abort(404)
    return jsonify(dict(rows[0]))


@app.post("/items")
def create_item():
    data = request.get_json()
    with sqlite3.connect(shop.DB_PATH) as db:
        cursor = db.cursor().execute("INSERT INTO items (name, price) VALUES (?, ?)", (data["name"], data["price"]))
    log.info("created item %s", data["name"])
    return jsonify({"id": cursor.lastrowid}), 201


@app.route("/proxy/<int:item_id>")
def proxy(item_id: int):
    response = requests.get(f"{request.host_url}items/{item_id}", timeout=10)
    log.info("proxied item %d: %d", item_id, response.status_code)
    return jsonify(response.json()), response.status_code


@app.post("/orders")
def order():
    data = request.get_json()
    (price,) = query("SELECT price FROM items WHERE id = ?", data["item"])[0]
    total, _ = shop.place_order(data["item"], data["qty"], price, "flask")
    return jsonify({"total": total}), 201


@app.route("/report")
def report():
    return jsonify({"rows": len(query(shop.long_sql()))})


@app.route("/log/long")
def long_log():
    log.warning(shop.long_body())
    return jsonify({"logged": shop.BODY_LENGTH})


@app.route("/boom")
def boom():
    return jsonify({"total": shop.checkout_broken_cart()})


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(sys.argv[1]), threaded=True)
