"""What a plan is scored by: latency, throughput, energy per inference, EDP.

Energy needs a power reading: a hwmon sensor (/sys/class/hwmon/*/power*_input,
microwatts; several rails are summed) or a user command that prints watts
(``--power-cmd``). Where neither exists the energy objectives say so, with
``value=None`` and a message: armbert never estimates power.

EDP is energy per inference (J) x time per inference (s), the time being
1 / throughput for a pipeline in steady state and the latency otherwise.
"""
from __future__ import annotations

import re
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional, Sequence

OBJECTIVES = ("latency", "throughput", "energy", "edp")
HWMON_ROOT = "/sys/class/hwmon"


class PowerReadingError(RuntimeError):
    """A power sensor that exists but could not be read."""


class HwmonPowerSensor:
    def __init__(self, paths: Sequence[Path]):
        self.paths = [Path(p) for p in paths]
        self.name = "hwmon: " + ", ".join(str(p) for p in self.paths)

    def read_watts(self) -> float:
        total = 0.0
        for p in self.paths:
            try:
                total += int(p.read_text().strip()) / 1e6  # hwmon power is in microwatts
            except (OSError, ValueError) as e:
                raise PowerReadingError(f"cannot read {p}: {e}") from e
        return total


class CommandPowerSensor:
    """Runs a shell command that prints the current power draw in watts."""

    def __init__(self, command: str, timeout_s: float = 5.0):
        self.command, self.timeout_s = command, timeout_s
        self.name = f"command: {command}"

    def read_watts(self) -> float:
        try:
            # the user's own command line, run as typed (pipes allowed)
            out = subprocess.run(self.command, shell=True, capture_output=True, text=True,
                                 timeout=self.timeout_s)
        except (OSError, subprocess.TimeoutExpired) as e:
            raise PowerReadingError(f"power command {self.command!r} failed: {e}") from e
        if out.returncode != 0:
            raise PowerReadingError(f"power command {self.command!r} exited {out.returncode}: "
                                    f"{out.stderr.strip()[:200]}")
        m = re.search(r"[-+]?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?", out.stdout)
        if not m:
            raise PowerReadingError(f"power command {self.command!r} printed no number: "
                                    f"{out.stdout.strip()[:200]!r}")
        watts = float(m.group())
        if not watts >= 0:
            raise PowerReadingError(f"power command {self.command!r} printed {watts} W")
        return watts


def hwmon_power_inputs(root: str = HWMON_ROOT) -> list[Path]:
    return sorted(Path(root).glob("*/power*_input")) if Path(root).is_dir() else []


def find_power_sensor(power_cmd: Optional[str] = None, hwmon_root: str = HWMON_ROOT):
    """(sensor, message). The sensor is None when there is no power reading, and
    the message says why; a sensor found is read once to check it works."""
    if power_cmd:
        sensor = CommandPowerSensor(power_cmd)
    else:
        paths = hwmon_power_inputs(hwmon_root)
        if not paths:
            return None, (f"no power reading: no {hwmon_root}/*/power*_input on this machine "
                          "and no --power-cmd given, so energy and EDP cannot be measured here "
                          "(armbert does not estimate them)")
        sensor = HwmonPowerSensor(paths)
    try:
        watts = sensor.read_watts()
    except PowerReadingError as e:
        return None, f"no power reading: {e}"
    return sensor, f"power from {sensor.name} (now {watts:.3f} W)"


@dataclass
class EnergyReading:
    joules_per_inference: float
    mean_watts: float
    seconds: float
    inferences: int
    samples: int
    sensor: str

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def measure_energy(run: Callable[[], int], sensor, interval_s: float = 0.05) -> EnergyReading:
    """Samples power while ``run()`` executes (it returns how many inferences it
    ran); energy = mean sampled power x wall time. The reading is whatever the
    sensor covers (a rail, the SoC, the board), idle draw included."""
    samples: list[float] = []
    errors: list[BaseException] = []
    stop = threading.Event()

    def sample():
        while True:
            try:
                samples.append(sensor.read_watts())
            except BaseException as e:  # surfaced after the run
                errors.append(e)
                return
            if stop.wait(interval_s):
                return

    t = threading.Thread(target=sample, name="armbert-power", daemon=True)
    t0 = time.perf_counter()
    t.start()
    try:
        n = int(run())
    finally:
        seconds = time.perf_counter() - t0
        stop.set()
        t.join()
    if errors:
        raise PowerReadingError(f"power reading failed during the run: {errors[0]}")
    if not samples or n < 1:
        raise PowerReadingError("no power samples or no inferences in the run")
    watts = sum(samples) / len(samples)
    return EnergyReading(watts * seconds / n, watts, seconds, n, len(samples), sensor.name)


@dataclass
class Score:
    objective: str
    value: Optional[float]  # None: cannot be scored here (see message)
    unit: str
    minimize: bool
    message: str = ""
    parts: dict = field(default_factory=dict)

    def better_than(self, other: "Score") -> bool:
        if self.value is None:
            return False
        if other.value is None:
            return True
        return self.value < other.value if self.minimize else self.value > other.value

    def to_dict(self) -> dict:
        return {"objective": self.objective, "value": self.value, "unit": self.unit,
                "minimize": self.minimize, "message": self.message, **self.parts}


def score(objective: str, latency_ms: Optional[float] = None,
          throughput: Optional[float] = None, energy: Optional[EnergyReading] = None,
          no_power_message: str = "no power reading") -> Score:
    """Scores measured figures. Throughput is inferences per second."""
    if objective not in OBJECTIVES:
        raise ValueError(f"unknown objective {objective!r}: choose one of {list(OBJECTIVES)}")
    if objective == "latency":
        return Score("latency", latency_ms, "ms", True,
                     "" if latency_ms is not None else "no latency measured")
    if objective == "throughput":
        return Score("throughput", throughput, "inf/s", False,
                     "" if throughput is not None else "no throughput measured")
    if energy is None:
        return Score(objective, None, "J" if objective == "energy" else "J*s",
                     True, no_power_message)
    if objective == "energy":
        return Score("energy", energy.joules_per_inference, "J", True,
                     parts={"energy": energy.to_dict()})
    seconds = 1.0 / throughput if throughput else (latency_ms / 1e3 if latency_ms else None)
    if seconds is None:
        return Score("edp", None, "J*s", True, "EDP needs a latency or a throughput")
    return Score("edp", energy.joules_per_inference * seconds, "J*s", True,
                 parts={"energy": energy.to_dict(), "seconds_per_inference": seconds})
