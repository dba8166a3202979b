import json
import logging

import requests
from django.http import Http404, JsonResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

import shop
from djshop.models import Item

log = logging.getLogger("shop.django")


@require_GET
def index(request):
    items = list(Item.objects.all())
    log.info("listed %d items", len(items))
    return render(request, "index.html", {"title": "Shop", "items": items})


@require_GET
def item(request, item_id):
    found = Item.objects.filter(id=item_id).first()
    if found is None:
        log.warning("no item %d", item_id)
        raise Http404("no such item")
    return JsonResponse({"id": found.id, "name": found.name, "price": found.price})


@csrf_exempt
@require_POST
def create_item(request):
    data = json.loads(request.body)
    created = Item.objects.create(name=data["name"], price=data["price"])
    log.info("created item %s", created.name)
    return JsonResponse({"id": created.id}, status=201)


@require_GET
def proxy(request, item_id):
    response = requests.get(request.build_absolute_uri(f"/items/{item_id}"), timeout=10)
    log.info("proxied item %d: %d", item_id, response.status_code)
    return JsonResponse(response.json(), status=response.status_code)


@csrf_exempt
@require_POST
def order(request):
    data = json.loads(request.body)
    price = Item.objects.get(id=data["item"]).price
    total, _ = shop.place_order(data["item"], data["qty"], price, "django")
    return JsonResponse({"total": total}, status=201)


@require_GET
def report(request):
    return JsonResponse({"rows": len(list(Item.objects.raw(shop.long_sql())))})


@require_GET
def long_log(request):
    log.warning(shop.long_body())
    return JsonResponse({"logged": shop.BODY_LENGTH})


@require_GET
def boom(request):
    return JsonResponse({"total": shop.checkout_broken_cart()})
