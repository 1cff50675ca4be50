"""The dependency graph: start levels, cycles, closure, dependants."""

from __future__ import annotations

from graphlib import CycleError

import pytest

from stapel.model.graph import closure, dependants, find_cycle, levels

EDGES = {
    "db": [],
    "cache": [],
    "mq": ["db"],
    "api": ["db", "cache", "mq"],
    "worker": ["api"],
    "other": [],
}


def test_levels_group_what_can_start_together():
    assert levels(EDGES) == [["cache", "db", "other"], ["mq"], ["api"], ["worker"]]


def test_levels_of_an_empty_graph():
    assert levels({}) == []


def test_levels_restricted_to_some_names_ignore_the_rest():
    assert levels(EDGES, only=["api", "worker", "other"]) == [["api", "other"], ["worker"]]


def test_levels_restricted_to_nothing():
    assert levels(EDGES, only=[]) == []


def test_levels_ignore_dependencies_that_are_not_nodes():
    assert levels({"api": ["db"]}) == [["api"]]


def test_levels_refuse_a_cycle():
    with pytest.raises(CycleError):
        levels({"a": ["b"], "b": ["a"]})


def test_find_cycle_none():
    assert find_cycle(EDGES) is None


def test_find_cycle_reads_from_dependant_to_dependency():
    assert find_cycle({"a": ["b"], "b": ["c"], "c": ["a"]}) == ["a", "b", "c", "a"]


def test_find_cycle_of_two():
    assert find_cycle({"a": ["b"], "b": ["a"], "z": []}) == ["a", "b", "a"]


def test_find_cycle_self_loop():
    assert find_cycle({"a": ["a"]}) == ["a", "a"]


def test_find_cycle_inside_a_bigger_graph():
    cycle = find_cycle({**EDGES, "db": ["worker"]})
    assert cycle is not None
    assert cycle[0] == cycle[-1]
    assert set(cycle) == {"db", "mq", "api", "worker"}
    # each name depends on the next one
    edges = {**EDGES, "db": ["worker"]}
    assert all(b in edges[a] for a, b in zip(cycle, cycle[1:]))


def test_closure_is_the_roots_and_all_they_depend_on():
    assert closure(EDGES, ["worker"]) == {"worker", "api", "db", "cache", "mq"}


def test_closure_of_a_leaf():
    assert closure(EDGES, ["db"]) == {"db"}


def test_closure_of_several_roots():
    assert closure(EDGES, ["mq", "other"]) == {"mq", "db", "other"}


def test_closure_of_nothing():
    assert closure(EDGES, []) == set()


def test_dependants_are_transitive_and_exclude_the_roots():
    assert dependants(EDGES, ["db"]) == {"mq", "api", "worker"}


def test_dependants_of_a_top_node():
    assert dependants(EDGES, ["worker"]) == set()


def test_dependants_of_several_roots():
    assert dependants(EDGES, ["cache", "api"]) == {"worker"}
