"""The route tree: Alertmanager's dispatch/route_test.go TestRouteMatch, same tree, same answers."""

from __future__ import annotations

import pytest
import yaml

from safeship.alerting.am_config import AlertmanagerConfig
from safeship.alerting.routing import Route, RouteOptions, build_tree
from safeship.core.labels import make_labels

TREE = """
receiver: 'notify-def'
routes:
- match: {owner: 'team-A'}
  receiver: 'notify-A'
  routes:
  - match: {env: 'testing'}
    receiver: 'notify-testing'
    group_by: [...]
  - match: {env: "production"}
    receiver: 'notify-productionA'
    group_wait: 1m
    continue: true
  - match_re: {env: "produ.*", job: ".*"}
    receiver: 'notify-productionB'
    group_wait: 30s
    group_interval: 5m
    repeat_interval: 1h
    group_by: ['job']
- match_re: {owner: 'team-(B|C)'}
  group_by: ['foo', 'bar']
  group_wait: 2m
  receiver: 'notify-BC'
- match: {group_by: 'role'}
  group_by: ['role']
  routes:
  - match: {env: 'testing'}
    receiver: 'notify-testing'
    routes:
    - match: {wait: 'long'}
      group_wait: 2m
"""


def _tree() -> Route:
    document = {"route": yaml.safe_load(TREE), "receivers": []}
    names = ["notify-def", "notify-A", "notify-testing", "notify-productionA"]
    names += ["notify-productionB", "notify-BC"]
    document["receivers"] = [{"name": n} for n in names]
    config = AlertmanagerConfig.model_validate(document)
    assert config.route is not None
    return build_tree(config.route)


NONE: frozenset[str] = frozenset()
CASES = [
    ({"owner": "team-A"}, [("notify-A", NONE, 30, 300, 14400)], ['{}/{owner="team-A"}']),
    (
        {"owner": "team-A", "env": "unset"},
        [("notify-A", NONE, 30, 300, 14400)],
        ['{}/{owner="team-A"}'],
    ),
    (
        {"owner": "team-C"},
        [("notify-BC", frozenset({"foo", "bar"}), 120, 300, 14400)],
        ['{}/{owner=~"^(?:team-(B|C))$"}'],
    ),
    (
        {"owner": "team-A", "env": "testing"},
        [("notify-testing", None, 30, 300, 14400)],
        ['{}/{owner="team-A"}/{env="testing"}'],
    ),
    (
        {"owner": "team-A", "env": "production"},
        [
            ("notify-productionA", NONE, 60, 300, 14400),
            ("notify-productionB", frozenset({"job"}), 30, 300, 3600),
        ],
        [
            '{}/{owner="team-A"}/{env="production"}',
            '{}/{owner="team-A"}/{env=~"^(?:produ.*)$",job=~"^(?:.*)$"}',
        ],
    ),
    (
        {"group_by": "role"},
        [("notify-def", frozenset({"role"}), 30, 300, 14400)],
        ['{}/{group_by="role"}'],
    ),
    (
        {"env": "testing", "group_by": "role"},
        [("notify-testing", frozenset({"role"}), 30, 300, 14400)],
        ['{}/{group_by="role"}/{env="testing"}'],
    ),
    (
        {"env": "testing", "group_by": "role", "wait": "long"},
        [("notify-testing", frozenset({"role"}), 120, 300, 14400)],
        ['{}/{group_by="role"}/{env="testing"}/{wait="long"}'],
    ),
    ({"nothing": "matches"}, [("notify-def", NONE, 30, 300, 14400)], ["{}"]),
]


@pytest.mark.parametrize(("labels", "options", "keys"), CASES)
def test_route_match_as_alertmanager(
    labels: dict[str, str], options: list[tuple[object, ...]], keys: list[str]
) -> None:
    found = _tree().match(labels)
    assert [r.key for r in found] == keys
    assert [_opts(r.options) for r in found] == options


def _opts(o: RouteOptions) -> tuple[object, ...]:
    return (o.receiver, o.group_by, o.group_wait_s, o.group_interval_s, o.repeat_interval_s)


def test_group_key_is_route_key_and_group_labels() -> None:
    route = _tree().match({"owner": "team-A", "env": "production"})[1]
    labels = make_labels({"job": "api", "env": "production", "owner": "team-A"})
    group = route.group_labels(labels)
    assert group == (("job", "api"),)
    assert route.group_key(group) == (
        '{}/{owner="team-A"}/{env=~"^(?:produ.*)$",job=~"^(?:.*)$"}:{job="api"}'
    )


def test_group_by_all_keeps_every_label() -> None:
    route = _tree().match({"owner": "team-A", "env": "testing"})[0]
    labels = make_labels({"owner": "team-A", "env": "testing", "x": 'q"uote'})
    assert route.group_key(route.group_labels(labels)).endswith(
        ':{env="testing", owner="team-A", x="q\\"uote"}'
    )


def test_indices_number_children_before_parents() -> None:
    tree = _tree()
    assert tree.index == 8 and tree.children[0].children[0].index == 0
