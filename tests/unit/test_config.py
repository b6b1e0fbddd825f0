"""Specs load into models; every mistake is reported with file, line, key, found and expected."""

from __future__ import annotations

from pathlib import Path

import pytest

from safeship.config.loader import load_rollout_spec
from safeship.config.models import PauseStep
from safeship.core.errors import ConfigError

EXAMPLES = Path(__file__).parents[2] / "examples"

VALID = """\
service:
  name: web
  command: [serve, --port, "{port}"]
  stable: v1
analysis:
  metrics:
    - {name: ok, builtin: request-success-rate, min: 0.99}
strategy:
  canary:
    steps:
      - setWeight: 20
      - pause: {duration: 1m30s}
      - analysis: {count: 2}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rollout.yaml"
    path.write_text(text)
    return path


def errors_of(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_rollout_spec(write(tmp_path, text))
    return [str(issue) for issue in caught.value.issues]


def test_valid_spec_loads_steps_as_a_tagged_union(tmp_path: Path) -> None:
    spec = load_rollout_spec(write(tmp_path, VALID))
    kinds = [type(s).__name__ for s in spec.strategy.canary.steps]
    assert kinds == ["SetWeightStep", "PauseStep", "AnalysisStep"]
    pause = spec.strategy.canary.steps[1]
    assert isinstance(pause, PauseStep) and pause.pause.duration == 90.0


def test_the_documented_example_is_valid() -> None:
    spec = load_rollout_spec(EXAMPLES / "canary.yaml")
    assert spec.fleet.replicas == 4


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("      - setWeight: 20", "      - setWeight: lots", ":11: key 'strategy.canary.steps[0]"),
        ("{duration: 1m30s}", "{duration: soon}", "found 'soon', expected a duration like"),
        ("      - setWeight: 20", "      - jump: 20", "expected exactly one of setWeight"),
        ("  stable: v1", "  stable: v1\n  colour: red", ":5: key 'service.colour' found unknown"),
        ("      - setWeight: 20", "      - setWeight: 120", "less than or equal to 100"),
        ("min: 0.99}", "}", "expected a threshold: 'min' or 'max'"),
        ("{count: 2}", "{metrics: [nope]}", "found nope"),
        ("  name: web", "  name: Web_Site", ":2: key 'service.name' found 'Web_Site'"),
    ],
)
def test_mistakes_are_located(tmp_path: Path, old: str, new: str, expected: str) -> None:
    messages = errors_of(tmp_path, VALID.replace(old, new))
    assert any(expected in m for m in messages), messages
    assert all(m.startswith(str(tmp_path / "rollout.yaml")) for m in messages)


def test_weights_must_increase(tmp_path: Path) -> None:
    text = VALID.replace("      - analysis: {count: 2}", "      - setWeight: 10")
    (message,) = errors_of(tmp_path, text)
    assert "steps[2] setWeight 10 after 20" in message
    assert "expected setWeight values to increase" in message


def test_every_problem_is_reported_not_just_the_first(tmp_path: Path) -> None:
    text = VALID.replace("  stable: v1", "  stable: v1\n  colour: red").replace("20", "x")
    assert len(errors_of(tmp_path, text)) == 2


@pytest.mark.parametrize(
    ("text", "expected"),
    [("", "found an empty file"), ("service: [unclosed", "expected valid YAML"), ("- 1", "list")],
)
def test_unusable_files_are_refused(tmp_path: Path, text: str, expected: str) -> None:
    assert any(expected in m for m in errors_of(tmp_path, text))


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nothing\.yaml"):
        load_rollout_spec(tmp_path / "nothing.yaml")


STRATEGY_HEAD = """\
service:
  name: web
  command: [serve]
  stable: v1
fleet:
  replicas: 4
  labels:
    web-2: {ring: canary}
strategy:
"""


@pytest.mark.parametrize(
    ("strategy", "expected"),
    [
        ("  sideways: {}\n", ":10: key 'strategy.sideways' found unknown key 'sideways'"),
        (
            "  trafficSplit: {stages: [5, 50, 25]}\n",
            ":10: key 'strategy.trafficSplit.stages' found stages[2] 25 after 50",
        ),
        ("  waves: {waves: [5, 50, 150]}\n", ":10: key 'strategy.waves.waves[2]' found 150"),
        (
            "  waves:\n    canary: {selector: {ring: edge}}\n",
            ":11: key 'strategy.waves.canary.selector' found none, expected a selector matching",
        ),
        (
            "  waves:\n    canary: {names: [web-9]}\n",
            ":11: key 'strategy.waves.canary.names' found ['web-9']",
        ),
        ("  rolling: {batchSize: lots}\n", ":10: key 'strategy.rolling.batchSize"),
        ("  rolling: {}\n  waves: {}\n", "expected exactly one of canary, rolling, waves"),
    ],
)
def test_bad_strategies_are_located(tmp_path: Path, strategy: str, expected: str) -> None:
    messages = errors_of(tmp_path, STRATEGY_HEAD + strategy)
    assert any(expected in m for m in messages), messages


@pytest.mark.parametrize("name", ["canary", "rolling", "waves", "traffic-split", "blue-green"])
def test_every_documented_example_is_valid(name: str) -> None:
    spec = load_rollout_spec(EXAMPLES / f"{name}.yaml")
    assert spec.strategy.name == {"traffic-split": "trafficSplit", "blue-green": "blueGreen"}.get(
        name, name
    )


ROUTER_NONE = """\
service:
  name: web
  command: [serve]
  stable: v1
router:
  kind: none
analysis:
  metrics:
    - {name: errors, query: 'sum(rate(errors_total[1m]))', failIf: result > 1}
strategy:
  rolling: {batchSize: 1}
"""


def test_router_none_serves_target_strategies_with_query_metrics(tmp_path: Path) -> None:
    spec = load_rollout_spec(write(tmp_path, ROUTER_NONE))
    assert spec.router.kind == "none"


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "  rolling: {batchSize: 1}",
            "  canary: {steps: [{setWeight: 20}]}",
            ":6: key 'router.kind' found canary, expected strategy rolling or waves",
        ),
        (
            "query: 'sum(rate(errors_total[1m]))', failIf: result > 1",
            "builtin: request-success-rate, min: 0.99",
            ":9: key 'analysis.metrics[0].builtin' found builtin request-success-rate,"
            " expected a query metric with router kind none",
        ),
    ],
)
def test_router_none_refuses_what_needs_a_router(
    tmp_path: Path, old: str, new: str, expected: str
) -> None:
    messages = errors_of(tmp_path, ROUTER_NONE.replace(old, new))
    assert any(expected in m for m in messages), messages
