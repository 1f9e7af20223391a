"""``$result[...]`` references resolved on the client (crest.batch.BatchResult.resolve), as rules.

The rules: a value that is exactly one reference becomes the referenced value, whatever its
type; inside a longer text each reference to a scalar is replaced by its PHP string form; a
reference to a command that has not run stays as written; text without references is left
alone; and containers are resolved element by element, keys included.
"""

from __future__ import annotations

from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from crest.batch import BatchResult

# Command keys and field names as callers write them; no brackets or "$", which would change
# where a reference ends.
_names = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_", min_size=1, max_size=6
)
_scalars = st.integers(min_value=-(10**12), max_value=10**12) | st.text(
    alphabet=st.characters(codec="utf-8", exclude_characters="$[]"), max_size=8
)
# Text between references: never "$" (it would start a reference) nor "[" (it would extend one).
_glue = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="$["), min_size=1, max_size=5)
_results = st.dictionaries(
    _names, st.dictionaries(_names, _scalars, min_size=1, max_size=4), min_size=1, max_size=4
)

_props = settings(max_examples=120, deadline=None)


def ran(results: dict[str, Any]) -> BatchResult:
    done = BatchResult()
    done.absorb({"result": results})
    return done


def php_text(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


def test_two_references_joined_by_a_comma_are_two_references() -> None:
    # PHP writes results keyed 0..n-1 as a list; a comma-joined pair is not one whole reference.
    done = ran({"0": {"ID": 5}, "1": {"ID": 6}})
    assert done.resolve("$result[0][ID],$result[1][ID]") == "5,6"
    assert done.resolve("$result[0][ID]") == 5
    assert done.resolve(["$result[0][ID]", "$result[1][ID] "]) == [5, "6 "]


@_props
@given(_results, st.data())
def test_a_whole_reference_becomes_the_value_itself(results: dict[str, Any], data: st.DataObject) -> None:
    key = data.draw(st.sampled_from(sorted(results)))
    field = data.draw(st.sampled_from(sorted(results[key])))
    done = ran(results)
    assert done.resolve(f"$result[{key}][{field}]") == results[key][field]
    assert done.resolve(f"$result[{key}]") == results[key]  # maps too, not only scalars


@_props
@example(results={"0": {"ID": 5}, "1": {"ID": 6}}, picks=[("0", "ID"), ("1", "ID")], glue=[","])
@given(
    _results,
    st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3)), min_size=2, max_size=4),
    st.lists(_glue, min_size=1, max_size=3),
)
def test_references_inside_a_text_are_each_interpolated(
    results: dict[str, Any], picks: list[tuple[Any, Any]], glue: list[str]
) -> None:
    keys = sorted(results)
    chosen = []
    for k, f in picks:
        key = k if isinstance(k, str) else keys[k % len(keys)]
        fields = sorted(results[key])
        chosen.append((key, f if isinstance(f, str) else fields[f % len(fields)]))
    template, expected = "", ""
    for i, (key, field) in enumerate(chosen):
        sep = glue[i % len(glue)] if i < len(chosen) - 1 else ""
        template += f"$result[{key}][{field}]{sep}"
        expected += php_text(results[key][field]) + sep
    assert ran(results).resolve(template) == expected


@_props
@given(_results, _names, _names, _glue)
def test_references_to_commands_that_did_not_run_stay_as_written(
    results: dict[str, Any], missing: str, field: str, glue: str
) -> None:
    if missing in results:
        missing += "_later"
    done = ran(results)
    whole = f"$result[{missing}][{field}]"
    assert done.resolve(whole) == whole
    assert done.resolve(whole + glue + whole) == whole + glue + whole


@_props
@given(_results, st.recursive(_glue | st.integers(), lambda inner: st.lists(inner, max_size=3), max_leaves=6))
def test_values_without_a_reference_are_untouched(results: dict[str, Any], value: Any) -> None:
    assert ran(results).resolve(value) == value


@_props
@given(_results, st.data())
def test_containers_are_resolved_in_keys_and_values(results: dict[str, Any], data: st.DataObject) -> None:
    key = data.draw(st.sampled_from(sorted(results)))
    field = data.draw(st.sampled_from(sorted(results[key])))
    ref = f"$result[{key}][{field}]"
    value = results[key][field]
    resolved = ran(results).resolve({"filter": {f"{ref}_k": [ref, f"id {ref}"]}})
    assert resolved == {"filter": {f"{php_text(value)}_k": [value, f"id {php_text(value)}"]}}
