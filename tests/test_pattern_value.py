"""detectors.result.pattern_value: the one way consumers (agent context, health rules) read a stored pattern."""

from detectors.result import pattern_value


def test_pattern_value_follows_keys_and_gives_none_where_the_json_lacks_them() -> None:
    stored = {"size_analysis": {"sweet_spot": {"min": 6, "max": 15}}, "winning": [1, 2]}
    assert pattern_value(stored, "size_analysis", "sweet_spot", "max") == 15
    assert pattern_value(stored, "size_analysis", "missing") is None
    assert pattern_value(stored, "winning", "first") is None          # a list is not an object
    assert pattern_value(None, "anything") is None                    # no pattern at all
    assert pattern_value(stored) is stored                            # no keys: the pattern itself
