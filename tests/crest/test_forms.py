"""crest.forms against the real PHP: ``encode`` is ``http_build_query``, ``decode`` is ``parse_str``.

One ``php`` process serves the whole module: it reads one JSON line (a batch of cases) and
answers one JSON line, so hypothesis can send hundreds of cases without paying for a PHP
start-up each time. Values reach PHP through ``serialize()`` text, which, unlike JSON, keeps
ints, floats (INF and NAN included) and strings apart exactly as PHP stores them.

PHP is required, not optional: ``make test`` installs php-cli, and a missing ``php`` fails.
"""

from __future__ import annotations

import base64
import json
import math
import shutil
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from crest.errors import CrestError, FormError
from crest.forms import MAX_NAME_LENGTH, decode, encode, repeated_field

# The worker: for each input line, a JSON array of cases; answers a JSON array of results.
# "e" cases carry a serialize()d value and get http_build_query() back. "d" cases carry a
# base64 body and get parse_str() as JSON text, or null when PHP's result is not UTF-8 (json
# cannot show it). -n keeps any php.ini out (precision stays 14); the input limits are raised
# so PHP never truncates what we compare.
_PHP_WORKER = r"""
while (($line = fgets(STDIN)) !== false) {
    $out = [];
    foreach (json_decode($line, true) as [$op, $data]) {
        if ($op === 'e') {
            $out[] = http_build_query(unserialize($data));
        } else {
            parse_str(base64_decode($data), $parsed);
            $json = json_encode($parsed);
            $out[] = $json === false ? null : $json;
        }
    }
    echo json_encode($out), "\n";
    fflush(STDOUT);
}
"""


class Php:
    """A long-running PHP process answering batches of encode/decode cases."""

    def __init__(self) -> None:
        exe = shutil.which("php")
        if exe is None:
            pytest.fail(
                "php CLI not found: these tests compare with real PHP (`make sysdeps` installs php-cli)"
            )
        self._proc = subprocess.Popen(
            [
                exe,
                "-n",
                "-d",
                "max_input_vars=100000",
                "-d",
                "max_input_nesting_level=1000",
                "-r",
                _PHP_WORKER,
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            encoding="utf-8",
        )

    def _ask(self, cases: list[tuple[str, str]]) -> list[Any]:
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._proc.stdin.write(json.dumps(cases) + "\n")
        self._proc.stdin.flush()
        line = self._proc.stdout.readline()
        assert line, "php worker died"
        answers: list[Any] = json.loads(line)
        return answers

    def http_build_query(self, values: list[Any]) -> list[str]:
        return self._ask([("e", php_serialize(v)) for v in values])

    def parse_str(self, bodies: list[bytes]) -> list[Any]:
        """PHP's result per body as Python JSON data, or None when it is not UTF-8."""
        answers = self._ask([("d", base64.b64encode(b).decode("ascii")) for b in bodies])
        return [None if a is None else json.loads(a) for a in answers]

    def close(self) -> None:
        assert self._proc.stdin is not None
        self._proc.stdin.close()
        self._proc.wait(timeout=10)


@pytest.fixture(scope="module")
def php() -> Iterator[Php]:
    worker = Php()
    yield worker
    worker.close()


def php_serialize(value: Any) -> str:
    """``serialize()`` text for a Python value; string lengths are counted in UTF-8 bytes."""
    if value is None:
        return "N;"
    if isinstance(value, bool):
        return f"b:{int(value)};"
    if isinstance(value, int):
        return f"i:{value};"
    if isinstance(value, float):
        if math.isnan(value):
            return "d:NAN;"
        if math.isinf(value):
            return "d:INF;" if value > 0 else "d:-INF;"
        return f"d:{value!r};"
    if isinstance(value, str):
        return f's:{len(value.encode("utf-8"))}:"{value}";'
    items = value.items() if isinstance(value, dict) else enumerate(value)
    body = "".join(php_serialize(k) + php_serialize(v) for k, v in items)
    return f"a:{len(value)}:{{{body}}}"


def same_as_php(ours: dict[str, Any], theirs: Any) -> bool:
    """Compare decode() with parse_str's JSON, key order included.

    decode() always returns a dict at the top; PHP's json shows a top-level 0..n-1 array as a
    list, so that one case is normalised.
    """
    if isinstance(theirs, list):
        theirs = {str(i): v for i, v in enumerate(theirs)}
    return json.dumps(ours) == json.dumps(theirs)


# --- strategies ---------------------------------------------------------------------------

# Characters PHP's urlencode treats specially, plus non-ASCII from several scripts and planes.
_SPECIAL = "~*'!() +&=[]%#?/\\:;,@$^`{}|\"<>.-_\t\n\r"
_text = st.text(alphabet=st.sampled_from(_SPECIAL) | st.characters(codec="utf-8"), max_size=12)
# PHP array keys: numeric strings become integer keys on the PHP side, which is the point.
_keys = st.sampled_from(["0", "1", "2", "10", "-1", "01", "1.5", " ", "", "a b", "é", "[x]"]) | _text
_int64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
_scalars = (
    st.none()
    | st.booleans()
    | _int64
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from([0.1 + 0.2, 1e20, 1e14, 1e15, 99999999999999.0, 1e-5, 1e-4, 5e-324, -0.0, 1 / 3])
    | _text
)
_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_keys, inner, max_size=4),
    max_leaves=12,
)
_top = st.dictionaries(_keys, _values, max_size=5) | st.lists(_values, max_size=5)

_fast = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# --- encode -------------------------------------------------------------------------------


def test_encode_known_cases(php: Php) -> None:
    cases: list[Any] = [
        {"a": True, "b": False, "c": None, "d": [], "e": {"x": None}, "f": "~*'!() +&=[]é"},
        [1, 2, [3, 4]],
        {"fields": {"NAME": "Иван", "PHONE": [{"VALUE": "+7 999", "VALUE_TYPE": "WORK"}]}},
        {"filter": {">ID": 5, "!=STAGE": "WON"}, "select": ["ID", "TITLE"]},
        {"0": "zero", "1": {"2": "x"}, "-1": "neg", "01": "lead zero"},
        {"f": [0.1 + 0.2, 1e20, 1e-7, -0.0, 5e-324, 1.7976931348623157e308, math.inf, -math.inf, math.nan]},
        {"big": 2**63 - 1, "small": -(2**63)},
    ]
    assert [encode(c) for c in cases] == php.http_build_query(cases)


def test_encode_tilde_is_escaped_like_php(php: Php) -> None:
    # Python's quote leaves '~' alone; PHP's urlencode does not. A regression check.
    assert encode({"a": "~"}) == "a=%7E" == php.http_build_query([{"a": "~"}])[0]


def test_encode_float_formatting(php: Php) -> None:
    floats = [0.1 + 0.2, 1e20, 1e14, 99999999999999.99, 123456789012345678.0, 1e-5, 1.5e-7, 0.0001]
    floats += [-0.0, 0.0, 1e100, 1e-100, 5e-324, 2.2250738585072014e-308, 1.7976931348623157e308]
    floats += [math.inf, -math.inf, math.nan, -1e-320, 2.5, 0.5, 1 / 3, 2 / 3, -123.456e-10]
    # 15-digit integers: exact halves keep PHP's trailing zeros (found by hypothesis).
    floats += [908353235056305.0, -908353235056305.0, 100000000000005.0, 100000000000015.0]
    floats += [100000000000001.0, 999999999999995.0, 999999999999994.0, 90835323505630.5]
    cases = [{"x": f} for f in floats]
    assert [encode(c) for c in cases] == php.http_build_query(cases)
    # The examples the docs quote, spelled out so a failure reads well.
    assert encode({"x": 0.1 + 0.2}) == "x=0.3"
    assert encode({"x": 1e20}) == "x=1.0E%2B20"


def test_encode_float_keys_truncate_like_php() -> None:
    # serialize() has no float keys, so this one is checked against PHP's documented rule.
    assert encode({1.9: "a", -2.5: "b"}) == "1=a&-2=b"


@_fast
@given(st.lists(_top, min_size=1, max_size=8))
def test_encode_matches_http_build_query(php: Php, batch: list[Any]) -> None:
    assert [encode(v) for v in batch] == php.http_build_query(batch)


@_fast
@given(
    st.lists(
        st.floats(allow_nan=True, allow_infinity=True)
        # Integers around PHP's 14 digits of precision, where rounding has its corner cases.
        | st.integers(min_value=10**13, max_value=10**16).map(float),
        min_size=1,
        max_size=50,
    )
)
def test_encode_any_float_matches_php(php: Php, floats: list[float]) -> None:
    cases = [{"x": f} for f in floats]
    assert [encode(c) for c in cases] == php.http_build_query(cases)


# --- decode -------------------------------------------------------------------------------

_ADVERSARIAL = [
    "a[]=1&a[]=2",
    "a[5]=1&a[]=2",
    "a[]=1&a[5]=2&a[]=3",
    "a[-5]=1&a[]=2",
    "a[-1]=x&a[]=y",
    "a[9223372036854775807]=1&a[]=2&a[][b]=3",
    "a[9223372036854775806]=1&a[]=2&a[]=3",
    "a[-9223372036854775808]=1&a[]=2",
    "a[9223372036854775808]=1&a[]=2",
    "a[-0]=1&a[00]=2&a[+1]=3&a[ 1]=4",
    "a=1&a[b]=2",
    "a[b]=2&a=1",
    "a[b]c=1",
    "a[b][c=1",
    "a[b=1&a[c=2",
    "a[b[c]=1",
    "a[b]]=1",
    "a]=1",
    "[a]=1&=2&[]=3",
    "a.b c=1&a[b.c d]=2&a.b[c.d=3",
    "  a=1&  .b=2",
    "a%5Bb%5D=1&a%5B%5D=2",
    "a[%5B]=1&a[%5D]=2",
    "a+b=c+d&a%2Bb=%2B",
    "a=1=2&b==&c",
    "&&a&&b=&",
    "a%00b=1&c[x%00y]=2&d[e%00]=3",
    "v=%00%01",
    "a=%zz%4&b=%&c=%%41",
    "0=a&1=b",
    "1=a&0=b",
    "0=a&2=b",
    "a[1]=x&a[0]=y",
    "a[0]=x&a[1]=y&a[0][q]=z",
    "a[][]=1&a[][]=2",
    "a[b][][c]=1&a[b][][c]=2",
    "a[1.5]=x&a[1e3]=y&a[0x1]=z",
    "é[ü]=ß&%C3%A9[%C3%BC]=%C3%9F",
    "a[b][c][d][e][f][g][h]=deep",
]


@pytest.mark.parametrize("body", _ADVERSARIAL)
def test_decode_adversarial_matches_parse_str(php: Php, body: str) -> None:
    [theirs] = php.parse_str([body.encode()])
    assert same_as_php(decode(body), theirs), (decode(body), theirs)


# Query strings built from the pieces PHP's name parser cares about.
_piece = st.sampled_from(
    [
        *("a", "b", "é", "0", "1", "-1", "01", "9223372036854775807", "_", "=", "x=y"),
        *("[", "]", "[]", "][", ".", " ", "\t", "+", "%5B", "%5D", "%20", "%2E", "%2B", "%00", "%", "%C3%A9"),
    ]
)
_name = st.lists(_piece, max_size=8).map("".join)
_value = st.lists(st.sampled_from(["v", "+", "%20", "%3D", "%26", "=", "é", "%C3%A9", "%"]), max_size=3).map(
    "".join
)
_field = st.tuples(_name, _value).map(lambda nv: f"{nv[0]}={nv[1]}") | _name
_query = st.lists(_field, max_size=8).map("&".join)


@_fast
@given(st.lists(_query, min_size=1, max_size=30))
def test_decode_generated_queries_match_parse_str(php: Php, queries: list[str]) -> None:
    bodies = [q.encode() for q in queries]
    for body, theirs in zip(bodies, php.parse_str(bodies), strict=True):
        try:
            ours = decode(body)
        except FormError:
            continue  # refusing is allowed (e.g. %C3 alone is not UTF-8); accepting wrongly is not
        assert theirs is not None
        assert same_as_php(ours, theirs), (body, ours, theirs)


@_fast
@given(st.lists(st.text(max_size=40) | st.binary(max_size=40), min_size=1, max_size=30))
def test_decode_arbitrary_input_matches_parse_str_or_is_refused(php: Php, inputs: list[str | bytes]) -> None:
    """Whatever comes in: a dict that equals PHP's, or FormError; never another exception."""
    accepted: list[tuple[bytes, dict[str, Any]]] = []
    for body in inputs:
        try:
            ours = decode(body)
        except FormError:
            continue
        assert isinstance(ours, dict)
        accepted.append((body.encode() if isinstance(body, str) else body, ours))
    if accepted:
        theirs = php.parse_str([b for b, _ in accepted])
        for (body, ours), php_result in zip(accepted, theirs, strict=True):
            assert same_as_php(ours, php_result), (body, ours, php_result)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000) | st.text(max_size=500))
@example(b"a" + b"[b]" * 100000)
@example(b"a[]=1&" * 5000)
@example("\ud800=1")
@example(b"a=1\x00&b=2")
def test_decode_is_total_and_fast(body: str | bytes) -> None:
    start = time.monotonic()
    try:
        result = decode(body)
    except FormError:
        pass
    else:
        assert isinstance(result, dict)
    assert time.monotonic() - start < 1.0


# --- limits ---------------------------------------------------------------------------------


def test_decode_refuses_large_bodies() -> None:
    assert decode("a=" + "x" * 98, max_length=100) == {"a": "x" * 98}
    with pytest.raises(FormError, match="larger"):
        decode("a=" + "x" * 99, max_length=100)


def test_decode_refuses_too_many_fields() -> None:
    assert len(decode("&".join(f"f{i}=1" for i in range(10)), max_fields=10)) == 10
    # Empty chunks are not fields, for PHP either.
    assert len(decode("&&".join(f"f{i}=1" for i in range(10)), max_fields=10)) == 10
    with pytest.raises(FormError, match="more than 10 fields"):
        decode("&".join(f"f{i}=1" for i in range(11)), max_fields=10)


def test_decode_refuses_deep_nesting() -> None:
    assert decode("a" + "[x]" * 5 + "=1", max_depth=5) == {"a": {"x": {"x": {"x": {"x": {"x": "1"}}}}}}
    with pytest.raises(FormError, match="deeper than 5"):
        decode("a" + "[x]" * 6 + "=1", max_depth=5)
    with pytest.raises(FormError):
        decode("a" + "[]" * 65 + "=1")  # PHP's own max_input_nesting_level is 64


def test_decode_default_depth_is_phps(php: Php) -> None:
    body = "a" + "[]" * 64 + "=1"
    [theirs] = php.parse_str([body.encode()])
    assert same_as_php(decode(body), theirs)


# "Привет" in windows-1251, the encoding of CRest's C_REST_CURRENT_ENCODING example (T18).
_CP1251 = "Привет".encode("cp1251")


@pytest.mark.parametrize(
    "body",
    [
        b"name=" + _CP1251,
        _CP1251 + b"=1",
        b"name=" + "".join(f"%{b:02X}" for b in _CP1251).encode(),
        b"a[" + "".join(f"%{b:02x}" for b in _CP1251).encode() + b"]=1",
        b"auth[domain]=%FF",
        b"x=%C3",  # a UTF-8 sequence cut short
        b"x=%ED%A0%80",  # an encoded surrogate is not UTF-8 either
        b"x=%C0%AF",  # overlong
    ],
)
def test_decode_refuses_non_utf8(body: bytes) -> None:
    with pytest.raises(FormError, match="UTF-8"):
        decode(body)


def test_decode_refuses_raw_nul_that_php_would_silently_cut() -> None:
    with pytest.raises(FormError, match="NUL"):
        decode(b"a=1\x00&b=2")
    # A percent-encoded NUL in a value is data, as in PHP.
    assert decode("a=%00") == {"a": "\x00"}


# --- hostile field names: huge indices, digits strings at and around every limit -------------------

# Python refuses int() of a string over 4300 digits (sys.get_int_max_str_digits) with ValueError;
# PHP's integer keys end at 19 digits (20 with the sign). The lengths cover both limits and ours.
_DIGITS_LENGTHS = [1, 18, 19, 20, 21, 1000, 1020, 1021, 1022, 4299, 4300, 4301, 10_000]


def _digits_names(n: int) -> list[str]:
    digits = ("9" * n) if n < 30 else ("1" * n)
    return [f"a[{digits}]", f"a[-{digits}]", digits, f"-{digits}", f"a[x][{digits}][]", f"a[{digits}"]


@pytest.mark.parametrize("n", _DIGITS_LENGTHS)
def test_digits_names_are_read_like_php_or_refused_with_form_error(php: Php, n: int) -> None:
    """At and around every limit: PHP's answer when the name fits, FormError when it is too long."""
    for name in _digits_names(n):
        body = f"{name}=x&{name}=y&a[]=z".encode()
        if len(name) > MAX_NAME_LENGTH:
            with pytest.raises(FormError, match="longer than 1024"):
                decode(body)
            with pytest.raises(FormError, match="longer than 1024"):
                repeated_field(body)
        else:
            [theirs] = php.parse_str([body])
            assert same_as_php(decode(body), theirs), (name, theirs)
        # With the name limit lifted, Python's own int-string limit must still not matter.
        [theirs] = php.parse_str([body])
        assert same_as_php(decode(body, max_name_length=len(body)), theirs), name


def test_the_issues_huge_index_is_a_form_error() -> None:
    with pytest.raises(FormError, match="longer than"):
        decode("a[" + "1" * 4301 + "]=x")
    assert isinstance(FormError("x"), CrestError)


@settings(max_examples=200, deadline=None)
@given(
    st.integers(min_value=0, max_value=6000),
    st.sampled_from(["{d}", "a[{d}]", "a[-{d}]", "a[{d}][b]", "a[b][{d}]", "{d}[]", "a[0{d}]"]),
    st.sampled_from(["0", "1", "9"]),
)
def test_any_digits_index_is_a_dict_or_form_error(n: int, shape: str, digit: str) -> None:
    body = shape.format(d=digit * n) + "=v"
    for limit in (MAX_NAME_LENGTH, 10**6):
        try:
            result = decode(body, max_name_length=limit)
        except FormError as exc:
            assert limit == MAX_NAME_LENGTH and "longer than" in exc.description
        else:
            assert isinstance(result, dict)


@pytest.mark.parametrize(
    "body",
    [
        "a[" + "1" * 4301 + "]=x",
        "a" + "[x]" * 100 + "=1",
        "&".join(f"f{i}=1" for i in range(2000)),
        b"a=%FF",
        b"a=1\x00",
        "\ud800=1",
        "a" * 5000 + "=1",
    ],
    ids=["huge-index", "deep", "many", "not-utf8", "nul", "surrogate", "long-name"],
)
def test_every_refusal_is_the_documented_form_error(body: str | bytes) -> None:
    """One exception for every malformed body; it is a CrestError and named in the tree."""
    with pytest.raises(FormError) as caught:
        decode(body)
    assert caught.value.code == "form_error" and caught.value.description
    import crest.errors

    assert "FormError" in (crest.errors.__doc__ or "")


# --- the round trip: decode(encode(x)) ----------------------------------------------------

# Names PHP keeps as written: a letter first (so no key is numeric and no map turns into a
# list), then letters, digits and "_" (PHP rewrites "." and " " in the base name).
_plain_key = st.from_regex(r"[A-Za-z][A-Za-z0-9_]{0,7}", fullmatch=True)
_leaf = st.text(max_size=12).filter(lambda t: "\0" not in t) | _int64 | st.booleans()
_tree = st.recursive(
    _leaf,
    lambda inner: (
        st.lists(inner, min_size=1, max_size=4) | st.dictionaries(_plain_key, inner, min_size=1, max_size=4)
    ),
    max_leaves=15,
)


def as_php_reads_it(value: Any) -> Any:
    """What PHP's $_POST holds for a value sent with http_build_query: every scalar a string."""
    if isinstance(value, dict):
        return {k: as_php_reads_it(v) for k, v in value.items()}
    if isinstance(value, list):
        return [as_php_reads_it(v) for v in value]
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


@_fast
@given(st.dictionaries(_plain_key, _tree, max_size=5))
def test_decode_of_encode_gives_back_what_was_sent(params: dict[str, Any]) -> None:
    assert decode(encode(params)) == as_php_reads_it(params)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_top, min_size=1, max_size=8))
def test_round_trip_is_phps_round_trip(php: Php, batch: list[Any]) -> None:
    """Anything at all (floats, null, odd keys): our decode(encode(x)) is PHP's parse_str(http_build_query(x))."""
    bodies = [q.encode("utf-8") for q in php.http_build_query(batch)]
    for value, theirs in zip(batch, php.parse_str(bodies), strict=True):
        assert theirs is not None
        assert same_as_php(decode(encode(value)), theirs), value
