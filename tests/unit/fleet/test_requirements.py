"""[X-Fleet] options: multi-values, specifiers, metadata logic, validation (docs/fleet.md §3.4, §3.5)."""

import pytest

from labs.node.fleet.requirements import (
    Requirements, metadata_satisfied, options_error, parse_multivalue, unknown_key_warnings,
)
from labs.node.fleet.unit import UnitFile


def fleet_unit(*lines):
    return UnitFile.parse("[Service]\nExecStart=/bin/true\n\n[X-Fleet]\n" + "\n".join(lines) + "\n")


def test_quoted_values_split_at_unquoted_spaces():
    assert parse_multivalue('"a=b" "c=d"') == ["a=b", "c=d"]
    assert parse_multivalue('"a=b c"') == ["a=b c"]
    assert parse_multivalue("a=b c=d") == ["a=b c=d"]


def test_unquoted_space_separated_metadata_imposes_nothing():
    assert Requirements(fleet_unit("MachineMetadata=a=b c=d")).metadata == {"a": {"b c=d"}}
    assert Requirements(fleet_unit("MachineMetadata=novalue", "MachineMetadata==x")).metadata == {}


def test_metadata_is_and_across_keys_or_within_a_key():
    req = Requirements(fleet_unit('MachineMetadata="region=us-east-1" "diskType=SSD"',
                                  "MachineMetadata=region=us-west-1"))
    assert req.metadata == {"region": {"us-east-1", "us-west-1"}, "diskType": {"SSD"}}
    assert metadata_satisfied(req.metadata, {"diskType": "SSD", "region": "us-east-1"})
    assert not metadata_satisfied(req.metadata, {"region": "us-east-1"})
    assert metadata_satisfied(req.metadata, {"diskType": "SSD", "region": "us-west-1"})
    assert not metadata_satisfied(req.metadata, {"diskType": "HDD", "region": "us-west-1"})


def test_specifiers_expanded_only_with_a_unit_name():
    unit = fleet_unit("MachineOf=%p.socket", "MachineID=%i", "Conflicts=%N-x %n-y")
    expanded = Requirements(unit, "pin@abc.service")
    assert expanded.peers == ["pin.socket"]
    assert expanded.machine_id == "abc"
    assert expanded.conflicts == ["pin@abc-x", "pin@abc.service-y"]
    assert Requirements(unit).peers == ["%p.socket"]


def test_deprecated_aliases_and_global_last_value_wins():
    req = Requirements(fleet_unit("X-ConditionMachineOf=a.service", "X-Conflicts=b*",
                                  "X-ConditionMachineMetadata=r=1", "Global=true", "Global=off"))
    assert (req.peers, req.conflicts, req.metadata, req.is_global) == (["a.service"], ["b*"], {"r": {"1"}}, False)
    assert Requirements(fleet_unit("Global=T")).is_global


@pytest.mark.parametrize("lines, message", [
    (["MachineOf=a.service", "Conflicts=a*"], 'unresolvable requirements: peer "a.service" matches conflict "a*"'),
    (["MachineOf=a.service", "Replaces=a.*"], 'unresolvable requirements: peer "a.service" matches replace "a.*"'),
    (["MachineID=x", "MachineOf=y.service"], "MachineID cannot be used with Peers"),
    (["MachineID=x", "Conflicts=y*"], "MachineID cannot be used with Conflicts"),
    (["MachineID=x", "Global=true"], "MachineID cannot be used with Global"),
    (["MachineID=x", "Replaces=y"], "MachineID cannot be used with Replaces"),
    (["Global=true", "MachineOf=y.service"], "Global cannot be used with Peers"),
    (["Global=true", "Replaces=y"], "Global cannot be used with Replaces"),
    (["Conflicts=x", "Replaces=y"], "Conflicts cannot be used with Replaces"),
    (["Global=true", "MachineMetadata=a=b", "Conflicts=c*"], None),
    (["MachineOf=y.service", "MachineMetadata=a=b"], None),
])
def test_invalid_option_combinations(lines, message):
    assert options_error(fleet_unit(*lines)) == message


def test_unknown_xfleet_key_warning():
    assert unknown_key_warnings("a.service", fleet_unit("Bogus=1", "Global=true")) == [
        'Unit a.service: unrecognized requirement in [X-Fleet] section: "Bogus"']
