from django.db import models


class Item(models.Model):
    name = models.TextField()
    price = models.IntegerField()

    class Meta:
        db_table = "items"  # the table shop.seed() and shop.long_sql() use
        ordering = ["id"]
