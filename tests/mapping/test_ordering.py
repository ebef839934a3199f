"""SPEC §7: the user keys an event must wait behind to keep per-user order."""

from __future__ import annotations

from sailbridge.mapping import ordering_keys

from .builders import event, identify, track


def test_an_event_waits_behind_its_user_id() -> None:
    assert ordering_keys(track("Signed Up", userId="u1", anonymousId="anon-1")) == ("u1",)


def test_an_anonymous_event_waits_behind_its_anonymous_id() -> None:
    assert ordering_keys(event("page", anonymousId="anon-1")) == ("anon-1",)


def test_a_merging_identify_also_waits_behind_the_anonymous_id() -> None:
    assert ordering_keys(identify(userId="u1", anonymousId="anon-1")) == ("u1", "anon-1")


def test_an_identify_whose_ids_are_equal_waits_behind_one_key() -> None:
    assert ordering_keys(identify(userId="same", anonymousId="same")) == ("same",)


def test_an_anonymous_identify_waits_behind_the_anonymous_id_only() -> None:
    assert ordering_keys(identify(userId=None, anonymousId="anon-1")) == ("anon-1",)


def test_an_alias_also_waits_behind_the_previous_id() -> None:
    assert ordering_keys(event("alias", userId="u1", previousId="anon-1")) == ("u1", "anon-1")
