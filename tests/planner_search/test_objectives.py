"""Objectives: energy and EDP only from a real power reading, never invented."""
import sys

import pytest

from planner.search import objectives as obj


def test_no_power_reading_here_is_reported_honestly(tmp_path):
    sensor, message = obj.find_power_sensor(hwmon_root=str(tmp_path / "no-hwmon"))
    assert sensor is None
    assert message.startswith("no power reading") and "--power-cmd" in message
    s = obj.score("edp", latency_ms=10.0, throughput=100.0, energy=None,
                  no_power_message=message)
    assert s.value is None and s.message == message
    assert obj.score("energy").value is None


def test_this_machine_as_it_is():
    sensor, message = obj.find_power_sensor()
    if obj.hwmon_power_inputs():
        assert sensor is not None, message  # a board with a sensor must read it
    else:
        assert sensor is None and "no power reading" in message


def test_hwmon_sensor_sums_rails_in_microwatts(tmp_path):
    for i, uw in enumerate((1_500_000, 250_000)):
        d = tmp_path / f"hwmon{i}"
        d.mkdir()
        (d / "power1_input").write_text(f"{uw}\n")
    sensor, message = obj.find_power_sensor(hwmon_root=str(tmp_path))
    assert sensor is not None and sensor.read_watts() == pytest.approx(1.75)
    assert "hwmon" in message


def test_power_command(tmp_path):
    sensor, _ = obj.find_power_sensor(power_cmd=f"{sys.executable} -c \"print('3.5 W')\"")
    assert sensor.read_watts() == pytest.approx(3.5)
    bad, message = obj.find_power_sensor(power_cmd=f"{sys.executable} -c \"print('n/a')\"")
    assert bad is None and "printed no number" in message
    failing, message = obj.find_power_sensor(power_cmd=f"{sys.executable} -c 'raise SystemExit(3)'")
    assert failing is None and "exited 3" in message


class ConstantSensor:
    name = "constant"

    def __init__(self, watts):
        self.watts = watts

    def read_watts(self):
        return self.watts


def test_energy_and_edp_from_a_sensor():
    import time
    e = obj.measure_energy(lambda: (time.sleep(0.05), 5)[1], ConstantSensor(2.0), interval_s=0.01)
    assert e.inferences == 5 and e.samples >= 2
    assert e.joules_per_inference == pytest.approx(2.0 * e.seconds / 5)
    s = obj.score("edp", throughput=50.0, energy=e)
    assert s.value == pytest.approx(e.joules_per_inference / 50.0) and s.minimize
    assert obj.score("energy", energy=e).value == e.joules_per_inference


def test_scores_compare_by_direction():
    fast = obj.score("throughput", throughput=10.0)
    slow = obj.score("throughput", throughput=5.0)
    assert fast.better_than(slow) and not slow.better_than(fast)
    assert obj.score("latency", latency_ms=1.0).better_than(obj.score("latency", latency_ms=2.0))
    with pytest.raises(ValueError):
        obj.score("speed")
