"""The signature must match Sailthru's official client for every payload."""

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from sailthru.sailthru_client import get_signature_hash

from sailbridge.sailthru.signing import encode_json, signature, signed_params, verify

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.text()
    | st.floats(allow_nan=False, allow_infinity=False)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4)
    ),
    max_leaves=12,
)


def test_signature_matches_the_documented_test_vector() -> None:
    assert signature("abcsecret", ["123key", "json", '{"id":"neil@example.com"}']) == (
        "fa5c79189b708199f3cf69f1cf8f7928"
    )


def test_signed_params_sign_the_exact_json_string_sent() -> None:
    params = signed_params("123key", "abcsecret", {"id": "neil@example.com"})
    assert params == {
        "api_key": "123key",
        "format": "json",
        "json": '{"id":"neil@example.com"}',
        "sig": "fa5c79189b708199f3cf69f1cf8f7928",
    }


@settings(max_examples=300)
@given(
    api_key=st.text(min_size=1),
    secret=st.text(),
    payload=st.dictionaries(st.text(), json_values, max_size=6),
)
def test_signature_equals_official_client_for_arbitrary_payloads(
    api_key: str, secret: str, payload: dict[str, Any]
) -> None:
    ours = signed_params(api_key, secret, payload)
    official = get_signature_hash(
        {"api_key": api_key, "format": "json", "json": encode_json(payload)}, secret
    )
    assert ours["sig"] == official


@given(secret=st.text(), payload=st.dictionaries(st.text(), json_values, max_size=4))
def test_verify_accepts_own_signature_and_rejects_another_secret(
    secret: str, payload: dict[str, Any]
) -> None:
    params = signed_params("key", secret, payload)
    assert verify(secret, params)
    assert not verify(secret + "x", params)


def test_unicode_json_is_sent_as_utf8_not_escaped() -> None:
    assert encode_json({"name": "Zoë 🚀"}) == '{"name":"Zoë 🚀"}'
