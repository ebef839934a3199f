"""SPEC §5: Sailthru vars are flat."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from sailbridge.flatten import flatten
from tests.mapping.builders import event, params, plan


def test_played_game_example_from_segments_documentation_comes_out_exactly() -> None:
    played_game = event(
        "track",
        userId="14092348",
        event="Played Game",
        timestamp="2017",
        properties={
            "levels": [1, 2, 3],
            "arcade": {
                "blips and chitz": {"planet": "Parblesnops"},
                "galaxy": {"coordinates": "1232.4832"},
                "games": ["Roy: A life well lived", "Whack a mole"],
            },
        },
    )
    assert params(plan(played_game)) == {
        "id": "14092348",
        "key": "extid",
        "event": "Played Game",
        "vars": {
            "levels_0": 1,
            "levels_1": 2,
            "levels_2": 3,
            "arcade_blips and chitz_planet": "Parblesnops",
            "arcade_galaxy_coordinates": "1232.4832",
            "arcade_games_0": "Roy: A life well lived",
            "arcade_games_1": "Whack a mole",
        },
    }


def test_nested_objects_join_their_keys_with_underscores() -> None:
    assert flatten({"arcade": {"galaxy": {"coordinates": "1232.4832"}}}) == {
        "arcade_galaxy_coordinates": "1232.4832"
    }


def test_arrays_use_the_element_index() -> None:
    assert flatten({"levels": [1, 2]}) == {"levels_0": 1, "levels_1": 2}


def test_objects_inside_arrays_join_index_and_key() -> None:
    assert flatten({"items": [{"sku": "A"}, {"sku": "B"}]}) == {
        "items_0_sku": "A",
        "items_1_sku": "B",
    }


def test_keys_are_kept_as_written_with_spaces_and_case() -> None:
    assert flatten({"Favourite Colour": {"Main Shade": "Teal"}}) == {
        "Favourite Colour_Main Shade": "Teal"
    }


def test_scalars_keep_their_json_type() -> None:
    flat = flatten({"n": 3, "x": 2.5, "yes": True, "no": False, "s": "3"})
    assert flat == {"n": 3, "x": 2.5, "yes": True, "no": False, "s": "3"}
    assert [type(v) for v in flat.values()] == [int, float, bool, bool, str]


def test_null_stays_null() -> None:
    assert flatten({"nickname": None, "address": {"line2": None}}) == {
        "nickname": None,
        "address_line2": None,
    }


def test_empty_objects_and_arrays_produce_nothing() -> None:
    assert flatten({"a": {}, "b": [], "c": {"d": {}, "e": [[]]}, "f": 1}) == {"f": 1}


def test_flat_input_comes_out_unchanged() -> None:
    assert flatten({"plan": "pro", "seats": 4}) == {"plan": "pro", "seats": 4}


def test_collision_is_won_by_the_later_key_in_document_order() -> None:
    assert flatten({"a_b": 1, "a": {"b": 2}}) == {"a_b": 2}
    assert flatten({"a": {"b": 2}, "a_b": 1}) == {"a_b": 1}


def test_flatten_leaves_its_input_untouched() -> None:
    nested: dict[str, Any] = {"a": {"b": [1, {"c": 2}]}}
    flatten(nested)
    assert nested == {"a": {"b": [1, {"c": 2}]}}


# Keys without "_" cannot collide, so every scalar leaf must survive.
_keys = st.text(alphabet=st.characters(blacklist_characters="_"), max_size=5)
_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
_json = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_keys, inner, max_size=4),
    max_leaves=20,
)


def _leaves(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [leaf for child in value.values() for leaf in _leaves(child)]
    if isinstance(value, list):
        return [leaf for child in value for leaf in _leaves(child)]
    return [value]


@given(st.dictionaries(_keys, _json, max_size=5))
def test_flattened_values_are_never_objects_or_arrays(value: dict[str, Any]) -> None:
    assert not any(isinstance(v, (dict, list)) for v in flatten(value).values())


@given(st.dictionaries(_keys, _json, max_size=5))
def test_flatten_loses_no_scalar_leaf_when_keys_cannot_collide(value: dict[str, Any]) -> None:
    assert list(flatten(value).values()) == _leaves(value)


@given(st.dictionaries(st.text(max_size=5), _json, max_size=5))
def test_flattening_twice_changes_nothing(value: dict[str, Any]) -> None:
    once = flatten(value)
    assert flatten(once) == once
