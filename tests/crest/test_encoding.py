"""crest.encoding: C_REST_CURRENT_ENCODING conversion, strict in both directions."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crest.encoding import EncodingError, from_utf8, to_utf8
from crest.errors import ConfigError, CrestError
from crest.forms import encode

HELLO = "Привет, мир"
HELLO_1251 = HELLO.encode("windows-1251")


def test_bytes_in_the_site_encoding_become_text_recursively_keys_too() -> None:
    params = {
        b"\xc8\xec\xff": HELLO_1251,  # "Имя"
        "fields": {
            "NAME": HELLO_1251,
            "TAGS": [HELLO_1251, ("x", b"\xe0")],
            "N": 5,
            "OK": True,
            "NO": None,
        },  # 0xE0 is Cyrillic small a in windows-1251
        "plain": "уже текст",
    }
    out = to_utf8(params, "windows-1251")
    assert out == {
        "Имя": HELLO,
        "fields": {"NAME": HELLO, "TAGS": [HELLO, ("x", "\u0430")], "N": 5, "OK": True, "NO": None},
        "plain": "уже текст",
    }
    # What goes on the wire is then UTF-8, as CRest sends it after iconv: "Пр" is D0 9F D1 80.
    assert encode({"NAME": out["fields"]["NAME"]}).startswith("NAME=%D0%9F%D1%80")


def test_results_go_back_to_site_bytes_recursively_keys_stay_text() -> None:
    result = {"result": {"NAME": HELLO, "LIST": [{"Имя": "Иван"}, 1, None, 2.5]}, "total": 1}
    assert from_utf8(result, "cp1251") == {
        "result": {
            "NAME": HELLO_1251,
            "LIST": [{"Имя": "Иван".encode("cp1251")}, 1, None, 2.5],
        },
        "total": 1,
    }


def test_none_encoding_changes_nothing() -> None:
    value: dict[str, Any] = {"a": b"\xff", "b": ["c"]}
    assert to_utf8(value, None) is value
    assert from_utf8(value, None) is value


def test_unknown_encoding_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="no-such-charset"):
        to_utf8({"a": b"x"}, "no-such-charset")
    with pytest.raises(ConfigError):
        from_utf8({"a": "x"}, "no-such-charset")


def test_invalid_site_bytes_are_an_error_not_replacement() -> None:
    # 0x98 is the one byte windows-1251 leaves undefined.
    with pytest.raises(EncodingError, match=r"\['fields'\]\['NAME'\].*0x98") as info:
        to_utf8({"fields": {"NAME": b"ok\x98"}}, "windows-1251")
    assert isinstance(info.value, CrestError)


def test_unrepresentable_characters_are_an_error_not_question_marks() -> None:
    with pytest.raises(EncodingError, match=r"U\+1F600.*windows-1251"):
        from_utf8({"result": ["fine", "smile 😀"]}, "windows-1251")
    with pytest.raises(EncodingError, match="U\\+00E9"):
        from_utf8({"name": "café"}, "windows-1251")


def test_keys_that_collide_once_decoded_are_refused() -> None:
    with pytest.raises(EncodingError, match="two keys"):
        to_utf8({b"a": 1, "a": 2}, "cp1251")


@given(st.text(alphabet=st.characters(codec="cp1251"), max_size=30))
def test_round_trip_for_everything_the_encoding_can_hold(text: str) -> None:
    assert to_utf8(from_utf8({text: [text]}, "cp1251"), "cp1251") == {text: [text]}
