"""Segment ecommerce products as Sailthru purchase items, and Sailthru's cart back again.

One item shape serves Order Completed, Product Added and the cart read from Sailthru,
so that a product added to the cart and the same product bought look the same in
Sailthru (SPEC §4).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from sailbridge.flatten import flatten
from sailbridge.mapping.errors import Unmappable
from sailbridge.mapping.plan import Item
from sailbridge.mapping.values import cents, identifier, string_list, text, whole_number

MAPPED_FIELDS: Final[frozenset[str]] = frozenset(
    (
        "product_id",
        "id",
        "name",
        "quantity",
        "price",
        "url",
        "tags",
        "image_url",
        "image_url_thumb",
        "email",
        "clearIncompleteCartAfterNHours",
    )
)
"""Product properties that become item fields; every other one goes to the item's vars.

``email`` is here because on Product Added/Removed the product *is* the event's
properties, where ``email`` names the buyer, not a feature of the product; so is the
cart-expiry property, an instruction about the cart rather than a feature.
"""

_IMAGE_FIELDS: Final = (("full", "image_url"), ("thumb", "image_url_thumb"))
_POST_ITEM_FIELDS: Final = ("id", "title", "qty", "price", "url", "tags", "vars", "images")


def product_id(product: Mapping[str, Any], label: str) -> str:
    """``product_id``, else ``id``, else ``sku``: Segment's v2 spec, v1, and a fallback."""
    for field in ("product_id", "id", "sku"):
        found = identifier(product.get(field))
        if found is not None:
            return found
    raise Unmappable(f"{label} has no product_id, id or sku; Sailthru needs an item id")


def product_quantity(product: Mapping[str, Any], label: str) -> int:
    """``quantity``, defaulting to 1 as Segment's spec does."""
    quantity = product.get("quantity")
    return 1 if quantity is None else whole_number(quantity, f"{label} quantity")


def purchase_item(product: Mapping[str, Any], label: str, page_url: str | None) -> Item:
    """One Segment product as a POST /purchase item.

    ``label`` names the product in failure reasons (``products[2]``). ``page_url`` is
    ``context.page.url``, the documented fallback for a product without its own url.
    The title falls back to the item id: Sailthru requires a title, and an order is
    better kept under its id than lost for a missing name.
    """
    item_id = product_id(product, label)
    if product.get("price") is None:
        raise Unmappable(f"{label} has no price; Sailthru requires a price for every item")
    url = text(product.get("url")) or page_url
    if url is None:
        raise Unmappable(
            f"{label} has no url and the event has no context.page.url; "
            "Sailthru requires a url for every item"
        )
    price = cents(product["price"], f"{label} price")
    if price < 0:
        raise Unmappable(
            f"{label} price {product['price']!r} is negative; Sailthru requires item prices "
            "of 0 or more (send a discount as properties.discount or a negative adjustment)"
        )
    item: Item = {
        "id": item_id,
        "title": text(product.get("name")) or item_id,
        "qty": product_quantity(product, label),
        "price": price,
        "url": url,
    }
    tags = string_list(product.get("tags"))
    if tags is not None:
        item["tags"] = tags
    images = {
        size: {"url": image}
        for size, field in _IMAGE_FIELDS
        if (image := text(product.get(field))) is not None
    }
    if images:
        item["images"] = images
    extra = flatten({k: v for k, v in product.items() if k not in MAPPED_FIELDS})
    if extra:
        item["vars"] = extra
    return item


def cart_from_sailthru(purchase_incomplete: dict[str, Any] | None) -> tuple[Item, ...]:
    """The cart from GET /user's ``purchase_incomplete``, in POST /purchase shape.

    Prices there are already integer cents and stay as they are; only images differ
    (``{"full": "https://..."}`` read, ``{"full": {"url": "https://..."}}`` posted).
    Fields Sailthru adds on read and does not take on write are dropped.
    """
    if not purchase_incomplete:
        return ()
    items = purchase_incomplete.get("items")
    if not isinstance(items, list):
        return ()
    return tuple(_post_item(item) for item in items if isinstance(item, dict))


def _post_item(stored: Mapping[str, Any]) -> Item:
    item: Item = {field: stored[field] for field in _POST_ITEM_FIELDS if field in stored}
    images = item.pop("images", None)
    if isinstance(images, dict):
        wrapped = {size: _wrap_image(image) for size, image in images.items()}
        kept = {size: image for size, image in wrapped.items() if image is not None}
        if kept:
            item["images"] = kept
    return item


def _wrap_image(image: Any) -> dict[str, Any] | None:
    """A stored image (a URL string, or already ``{"url": ...}``) in POST shape."""
    if isinstance(image, str) and image:
        return {"url": image}
    if isinstance(image, dict) and image.get("url"):
        return image
    return None
