"""The pure incident lifecycle, one look at the alerts at a time on a fake clock: opening,
grouping, cooldowns, resolution (explicit, by absence, on its own), escalation, and people's
commands."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from safeship.config.incidents import IncidentsSpec
from safeship.config.loader import load_control_plane
from safeship.core.errors import ConfigError, Conflict
from safeship.core.incidents import EntryKind, Incident, ObservedAlert, Status
from safeship.incidents import lifecycle
from safeship.incidents.lifecycle import CooldownKey, Decision, Observed
from safeship.testing import FakeClock

SPEC = IncidentsSpec.model_validate(
    {
        "definitions": [
            {
                "name": "errors",
                "matchers": ['alertname="HighErrors"', 'severity=~"page|critical"'],
                "severity": "critical",
                "owner": "team-shop",
                "actions": [{"type": "rollback", "cooldown": "10m"}, {"type": "pause"}],
                "escalate": {"after": "15m", "url": "http://pager.invalid/hook"},
                "quietPeriod": "5m",
            },
            {
                "name": "latency",
                "matchers": ["alertname=SlowRequests"],
                "groupBy": ["service"],
                "autoResolve": False,
            },
        ]
    }
)


def alert(
    name: str = "HighErrors", firing: bool = True, source: str = "rules", **labels: str
) -> ObservedAlert:
    found = {"alertname": name, "severity": "page", "service": "shop", **labels}
    return ObservedAlert.of(found, firing=firing, source=source)


@dataclass
class World:
    """The manager's memory, in the small: incidents and when each action last ran."""

    clock: FakeClock = field(default_factory=FakeClock)
    incidents: dict[str, Incident] = field(default_factory=dict)
    cooldowns: dict[CooldownKey, float] = field(default_factory=dict)

    def look(self, *alerts: ObservedAlert, complete: Iterable[str] = ("rules",)) -> Decision:
        decision = lifecycle.decide(
            SPEC,
            self.incidents.values(),
            Observed(alerts, frozenset(complete)),
            cooldowns=self.cooldowns,
            now=self.clock.now(),
        )
        self.keep(decision)
        return decision

    def keep(self, decision: Decision) -> None:
        self.incidents.update({i.id: i for i in decision.incidents})
        for action in decision.actions:
            self.cooldowns[action.cooldown_key] = self.clock.now()

    def later(self, seconds: float) -> World:
        self.clock.advance(seconds)
        return self

    @property
    def unresolved(self) -> list[Incident]:
        return [i for i in self.incidents.values() if i.status is not Status.RESOLVED]


def kinds(decision: Decision) -> list[str]:
    return [e.kind.value for e in decision.entries]


def keys(decision: Decision) -> list[tuple[str, str]]:
    return [(a.key, a.service) for a in decision.actions]


def test_first_matching_firing_alert_opens_an_incident_and_requests_its_actions() -> None:
    world = World()
    decision = world.look(alert())
    (incident,) = decision.incidents
    assert (incident.definition, incident.service, incident.status) == (
        "errors",
        "shop",
        Status.OPEN,
    )
    assert (incident.severity, incident.owner) == ("critical", "team-shop")
    assert incident.group == (("service", "shop"), ("alertname", "HighErrors"))
    assert keys(decision) == [("0:rollback", "shop"), ("1:pause", "shop")]
    assert kinds(decision) == ["opened", "action requested", "action requested", "alert fired"]
    assert {e.actor for e in decision.entries} == {f"incident:{incident.id}"}


@pytest.mark.parametrize(
    "observed",
    [
        alert(severity="info"),  # severity=~"page|critical" does not match
        alert(name="HighErrorsSoon"),  # = is exact
        alert(firing=False),  # a resolved alert opens nothing
    ],
)
def test_alerts_that_do_not_match_or_do_not_fire_open_nothing(observed: ObservedAlert) -> None:
    assert World().look(observed) == Decision()


def test_alerts_with_the_same_group_labels_share_one_incident_and_act_once() -> None:
    world = World()
    world.look(alert(instance="a"))
    decision = world.later(30).look(alert(instance="a"), alert(instance="b"))
    (incident,) = world.unresolved
    assert kinds(decision) == ["alert fired"] and decision.actions == ()
    assert incident.firing == 2


def test_other_group_label_values_open_another_incident() -> None:
    world = World()
    world.look(alert(), alert(service="cart"))
    assert sorted(i.service or "" for i in world.unresolved) == ["cart", "shop"]


@dataclass(frozen=True)
class CooldownCase:
    gap_s: float  # between the first incident's resolution and the next alert
    service: str
    requested: list[tuple[str, str]]
    skipped: int


COOLDOWNS = [
    # rollback has a 10m cooldown, pause the default 10m too: inside it both are skipped.
    CooldownCase(60, "shop", [], 2),
    CooldownCase(600, "shop", [("0:rollback", "shop"), ("1:pause", "shop")], 0),
    # the cooldown is per service: another service acts at once
    CooldownCase(60, "cart", [("0:rollback", "cart"), ("1:pause", "cart")], 0),
]


@pytest.mark.parametrize("case", COOLDOWNS)
def test_an_action_never_repeats_inside_its_cooldown(case: CooldownCase) -> None:
    world = World()
    (first,) = world.look(alert()).incidents
    world.incidents[first.id] = lifecycle.resolve(
        first, actor="alice", now=world.clock.now()
    ).incidents[0]
    decision = world.later(case.gap_s).look(alert(service=case.service))
    assert keys(decision) == case.requested
    assert kinds(decision).count("action skipped") == case.skipped
    assert len(world.unresolved) == 1  # a new incident all the same


def test_an_alert_missing_from_a_complete_source_resolves_but_not_from_a_webhook() -> None:
    world = World()
    world.look(alert(instance="a", source="alertmanager"), complete=())
    world.look(alert(instance="b"))
    decision = world.later(10).look()  # rules report nothing: b resolved; a stays
    assert kinds(decision) == ["alert resolved"]
    (incident,) = world.unresolved
    assert incident.firing == 1 and incident.quiet_since is None


def test_an_explicitly_resolved_alert_resolves_and_starts_the_quiet_period() -> None:
    world = World()
    world.look(alert(source="alertmanager"), complete=())
    decision = world.later(10).look(alert(firing=False, source="alertmanager"), complete=())
    assert kinds(decision) == ["alert resolved", "alerts resolved"]
    assert world.unresolved[0].quiet_since == world.clock.now()


def test_a_quiet_incident_resolves_after_its_quiet_period_unless_an_alert_fires_again() -> None:
    world = World()
    world.look(alert())
    world.later(10).look()
    assert kinds(world.later(299).look()) == []
    refired = world.look(alert())
    assert kinds(refired) == ["alert fired"] and refired.actions == ()
    assert world.unresolved[0].quiet_since is None
    world.later(10).look()
    resolved = world.later(300).look()
    assert kinds(resolved) == ["resolved"] and world.unresolved == []
    assert resolved.incidents[0].resolved_at == world.clock.now()


def test_without_auto_resolve_a_quiet_incident_waits_for_a_person() -> None:
    world = World()
    world.look(alert(name="SlowRequests"))
    assert kinds(world.later(10).look()) == ["alert resolved", "alerts resolved"]
    assert kinds(world.later(86400).look()) == []
    assert world.unresolved[0].status is Status.OPEN


@pytest.mark.parametrize(
    ("acknowledged", "after_s", "escalated"),
    [(False, 899, False), (False, 900, True), (True, 3600, False)],
)
def test_an_incident_not_acknowledged_in_time_escalates_once(
    acknowledged: bool, after_s: float, escalated: bool
) -> None:
    world = World()
    (incident,) = world.look(alert()).incidents
    if acknowledged:
        world.keep(lifecycle.acknowledge(incident, actor="alice", now=world.clock.now()))
    decision = world.later(after_s).look(alert())
    assert ("escalated" in kinds(decision)) is escalated
    assert keys(decision) == ([("escalate", "shop")] if escalated else [])
    if escalated:  # once only
        assert "escalated" not in kinds(world.later(3600).look(alert()))


def test_a_new_alert_during_an_incident_opens_no_new_one_after_acknowledgement() -> None:
    world = World()
    (incident,) = world.look(alert()).incidents
    world.keep(lifecycle.acknowledge(incident, actor="alice", now=world.clock.now()))
    world.later(5).look(alert(instance="x"))
    (still,) = world.unresolved
    assert still.status is Status.ACKNOWLEDGED and still.acknowledged_by == "alice"


def test_peoples_commands_are_refused_when_they_do_not_fit() -> None:
    world = World()
    (incident,) = world.look(alert()).incidents
    acked = lifecycle.acknowledge(incident, actor="alice", now=1.0).incidents[0]
    with pytest.raises(Conflict, match="already acknowledged by alice"):
        lifecycle.acknowledge(acked, actor="bob", now=2.0)
    done = lifecycle.resolve(acked, actor="bob", now=3.0, message="fixed").incidents[0]
    for command in (lifecycle.acknowledge, lifecycle.resolve):
        with pytest.raises(Conflict, match="is resolved"):
            command(done, actor="carol", now=4.0)
    with pytest.raises(Conflict, match="is resolved"):
        lifecycle.escalate(done, None, actor="carol", now=4.0)
    noted = lifecycle.note(done, actor="carol", now=5.0, message="postmortem on Monday")
    assert [(e.kind, e.actor) for e in noted.entries] == [(EntryKind.NOTE, "carol")]


def test_a_person_escalates_with_the_definitions_receiver() -> None:
    world = World()
    (incident,) = world.look(alert()).incidents
    decision = lifecycle.escalate(
        incident, SPEC.named("errors"), actor="alice", now=world.clock.now()
    )
    assert (decision.entries[0].kind, decision.entries[0].actor) == (EntryKind.ESCALATED, "alice")
    assert keys(decision) == [("escalate", "shop")]
    assert decision.actions[0].kind == "webhook"


def test_definitions_match_with_alertmanager_matchers_anchored_regexes_included() -> None:
    """The parser itself is held to Alertmanager's tables in test_am_matchers.py."""
    spec = IncidentsSpec.model_validate(
        {"definitions": [{"name": "d", "matchers": ['service=~"sh"', 'env=""', "team!=x"]}]}
    )
    (definition,) = spec.definitions
    assert not definition.matches({"service": "shop"})  # anchored at both ends
    assert definition.matches({"service": "sh"})  # a missing label is the empty string
    assert not definition.matches({"service": "sh", "team": "x"})


def test_a_bad_incident_definition_names_its_file_line_and_key(tmp_path: Path) -> None:
    config = tmp_path / "safeship.yaml"
    config.write_text(
        "incidents:\n"
        "  definitions:\n"
        "    - name: errors\n"
        "      matchers: ['alertname=\"HighErrors\"', 'service~shop']\n"
        "      actions: [{type: reboot, replicas: 3}]\n"
    )
    with pytest.raises(ConfigError) as raised:
        load_control_plane(config)
    shown = [str(issue) for issue in raised.value.issues]
    assert any(
        s.startswith(f"{config}:4: key 'incidents.definitions[0].matchers[1]'") for s in shown
    )
    assert any(f"{config}:5:" in s and "actions[0]" in s and "'rollback'" in s for s in shown)
