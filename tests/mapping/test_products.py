"""SPEC §4: how one Segment product becomes a Sailthru purchase item.

Order Completed and Product Added share this mapping; it is exercised through
Order Completed here, and through Product Added in the cart tests.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sailbridge.events import Event
from sailbridge.mapping import cart_from_sailthru
from sailbridge.mapping.plan import Fail, Item

from .builders import params, plan, track

PRODUCT: dict[str, Any] = {
    "product_id": "p1",
    "name": "Monopoly",
    "price": 18.99,
    "url": "https://shop/p1",
}


def order_of(*products: Any, **fields: Any) -> Event:
    return track(
        "Order Completed", {"email": "a@example.com", "products": list(products)}, **fields
    )


def item_of(product: dict[str, Any], **fields: Any) -> Item:
    item: Item = params(plan(order_of(product, **fields)))["items"][0]
    return item


def failure_of(*products: Any, **fields: Any) -> str:
    result = plan(order_of(*products, **fields))
    assert isinstance(result, Fail), result
    return result.reason


def test_a_product_maps_to_id_title_qty_price_and_url() -> None:
    assert item_of(PRODUCT) == {
        "id": "p1",
        "title": "Monopoly",
        "qty": 1,
        "price": 1899,
        "url": "https://shop/p1",
    }


def test_item_id_falls_back_from_product_id_to_id() -> None:
    assert item_of({**PRODUCT, "product_id": None, "id": "v1-id"})["id"] == "v1-id"


def test_item_id_falls_back_to_sku_last() -> None:
    product = {k: v for k, v in PRODUCT.items() if k != "product_id"} | {"sku": "G-32"}
    assert item_of(product)["id"] == "G-32"


def test_product_id_wins_over_id_and_sku() -> None:
    assert item_of({**PRODUCT, "id": "other", "sku": "G-32"})["id"] == "p1"


def test_a_numeric_product_id_is_sent_as_text() -> None:
    assert item_of({**PRODUCT, "product_id": 42})["id"] == "42"


def test_a_product_without_any_id_fails_naming_its_position() -> None:
    nameless = {k: v for k, v in PRODUCT.items() if k != "product_id"}
    assert "products[1]" in failure_of(PRODUCT, nameless)


def test_item_title_falls_back_to_the_id_when_the_product_has_no_name() -> None:
    assert item_of({**PRODUCT, "name": None})["title"] == "p1"


def test_item_qty_defaults_to_one() -> None:
    assert item_of(PRODUCT)["qty"] == 1


@pytest.mark.parametrize(("quantity", "qty"), [(3, 3), ("2", 2), (2.0, 2)])
def test_item_qty_is_the_quantity_as_an_integer(quantity: Any, qty: int) -> None:
    assert item_of({**PRODUCT, "quantity": quantity})["qty"] == qty


@pytest.mark.parametrize("quantity", [0, -1, 1.5, "two", True])
def test_a_quantity_that_is_not_a_whole_number_of_at_least_one_fails(quantity: Any) -> None:
    assert "products[0] quantity" in failure_of({**PRODUCT, "quantity": quantity})


@pytest.mark.parametrize(
    ("price", "price_cents"),
    [(18.99, 1899), (5, 500), ("12.50", 1250), (1.005, 101), (0.125, 13), (19.999, 2000), (0, 0)],
)
def test_order_product_price_becomes_integer_cents(price: Any, price_cents: int) -> None:
    cents = item_of({**PRODUCT, "price": price})["price"]
    assert cents == price_cents and type(cents) is int


@pytest.mark.parametrize("price", ["free", "NaN", "", True, [1]])
def test_a_non_numeric_price_fails_naming_the_product(price: Any) -> None:
    reason = failure_of({**PRODUCT, "price": price})
    assert "products[0] price" in reason


def test_a_product_without_a_price_fails_because_sailthru_requires_one() -> None:
    reason = failure_of({k: v for k, v in PRODUCT.items() if k != "price"})
    assert "products[0] has no price" in reason


def test_item_url_falls_back_to_the_page_url() -> None:
    product = {**PRODUCT, "url": None}
    item = item_of(product, context={"page": {"url": "https://shop/checkout"}})
    assert item["url"] == "https://shop/checkout"


def test_the_product_url_wins_over_the_page_url() -> None:
    assert (
        item_of(PRODUCT, context={"page": {"url": "https://shop/checkout"}})["url"]
        == "https://shop/p1"
    )


def test_a_product_with_no_url_anywhere_fails_naming_the_product() -> None:
    reason = failure_of({**PRODUCT, "url": None})
    assert "products[0] has no url" in reason and "context.page.url" in reason


def test_item_tags_are_the_product_tags() -> None:
    assert item_of({**PRODUCT, "tags": ["board", "family"]})["tags"] == ["board", "family"]


def test_item_tags_given_as_a_comma_separated_string_are_split() -> None:
    assert item_of({**PRODUCT, "tags": "board, family"})["tags"] == ["board", "family"]


def test_a_product_without_tags_sends_no_tags() -> None:
    assert "tags" not in item_of(PRODUCT)


def test_item_images_wrap_image_url_and_thumb_in_url_objects() -> None:
    product = {
        **PRODUCT,
        "image_url": "https://img/full.png",
        "image_url_thumb": "https://img/t.png",
    }
    assert item_of(product)["images"] == {
        "full": {"url": "https://img/full.png"},
        "thumb": {"url": "https://img/t.png"},
    }


def test_item_images_include_only_the_sizes_present() -> None:
    product = {**PRODUCT, "image_url": "https://img/full.png"}
    assert item_of(product)["images"] == {"full": {"url": "https://img/full.png"}}


def test_a_product_without_images_sends_no_images() -> None:
    assert "images" not in item_of(PRODUCT)


def test_item_vars_are_the_other_product_properties_flattened() -> None:
    product = {
        **PRODUCT,
        "id": "legacy",
        "quantity": 2,
        "tags": ["x"],
        "image_url": "https://img/f.png",
        "sku": "G-32",
        "category": "Games",
        "brand": "Hasbro",
        "dimensions": {"w": 30},
    }
    assert item_of(product)["vars"] == {
        "sku": "G-32",
        "category": "Games",
        "brand": "Hasbro",
        "dimensions_w": 30,
    }


def test_a_product_with_nothing_else_sends_no_item_vars() -> None:
    assert "vars" not in item_of(PRODUCT)


@given(st.decimals(min_value=0, max_value=10**6, places=4, allow_nan=False, allow_infinity=False))
def test_price_cents_are_the_round_half_up_of_the_exact_decimal(price: Decimal) -> None:
    expected = int((price * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    assert item_of({**PRODUCT, "price": str(price)})["price"] == expected


@given(
    st.decimals(
        min_value=-(10**6),
        max_value=Decimal("-0.005"),
        places=4,
        allow_nan=False,
        allow_infinity=False,
    )
)
def test_every_price_below_zero_cents_fails_the_event(price: Decimal) -> None:
    result = plan(track("Product Added", {**PRODUCT, "price": str(price)}))
    assert isinstance(result, Fail) and "is negative" in result.reason


@given(st.floats(min_value=0, max_value=10**6, allow_nan=False).map(lambda f: round(f, 2)))
def test_two_decimal_float_prices_are_exact_cents(price: float) -> None:
    assert item_of({**PRODUCT, "price": price})["price"] == int(Decimal(str(price)) * 100)


# --- the cart as Sailthru's GET /user returns it ------------------------------------


@pytest.mark.parametrize("stored", [None, {}, {"items": []}, {"items": None}])
def test_a_missing_or_empty_sailthru_cart_is_empty(stored: Any) -> None:
    assert cart_from_sailthru(stored) == ()


def test_a_sailthru_cart_comes_back_in_post_shape() -> None:
    stored = {
        "items": [
            {
                "id": "p1",
                "title": "Monopoly",
                "qty": 2,
                "price": 1899,
                "url": "https://shop/p1",
                "tags": ["board"],
                "vars": {"sku": "G-32"},
                "images": {"full": "https://img/full.png", "thumb": "https://img/t.png"},
            }
        ],
        "price": 3798,
        "time": {"sec": 1700000000},
    }
    assert cart_from_sailthru(stored) == (
        {
            "id": "p1",
            "title": "Monopoly",
            "qty": 2,
            "price": 1899,
            "url": "https://shop/p1",
            "tags": ["board"],
            "vars": {"sku": "G-32"},
            "images": {
                "full": {"url": "https://img/full.png"},
                "thumb": {"url": "https://img/t.png"},
            },
        },
    )


def test_sailthru_cart_prices_stay_in_cents() -> None:
    (item,) = cart_from_sailthru({"items": [{"id": "p1", "qty": 1, "price": 1899}]})
    assert item["price"] == 1899


def test_fields_sailthru_adds_on_read_are_dropped() -> None:
    (item,) = cart_from_sailthru({"items": [{"id": "p1", "qty": 1, "price": 5, "_hash": "x"}]})
    assert item == {"id": "p1", "qty": 1, "price": 5}


def test_images_already_in_post_shape_are_kept() -> None:
    stored = {"items": [{"id": "p1", "images": {"full": {"url": "https://img/f.png"}}}]}
    assert cart_from_sailthru(stored)[0]["images"] == {"full": {"url": "https://img/f.png"}}


def test_unusable_images_are_dropped() -> None:
    stored = {"items": [{"id": "p1", "images": {"full": "", "thumb": 3}}]}
    assert "images" not in cart_from_sailthru(stored)[0]
