"""The threads and cores of a context given neither (kernels/src/core/topology.cpp): one
thread per physical core of the fastest cluster among the CPUs this process may use,
each pinned. A made-up sysfs tree (ARMBERT_SYSFS_CPU, read when a context is created)
stands for a big.LITTLE SoC, an SMT machine and a machine that reports nothing."""
import os
import re

from armbert import _native as nat

ALLOWED = sorted(os.sched_getaffinity(0))


def tree(tmp_path, cpus: dict[int, dict]) -> str:
    """sysfs-like files: capacity (cpu_capacity), freq (cpufreq/cpuinfo_max_freq),
    core and package (topology/core_id, physical_package_id), each optional."""
    for cpu, info in cpus.items():
        d = tmp_path / f"cpu{cpu}"
        files = {"cpu_capacity": info.get("capacity"),
                 "cpufreq/cpuinfo_max_freq": info.get("freq"),
                 "topology/core_id": info.get("core"),
                 "topology/physical_package_id": info.get("package")}
        for name, value in files.items():
            if value is not None:
                (d / name).parent.mkdir(parents=True, exist_ok=True)
                (d / name).write_text(f"{value}\n")
    return str(tmp_path)


def threads_and_cores(backend="host", **kw):
    text = nat.Context(backend, **kw).describe()
    threads = int(re.search(r"threads=(\d+)", text).group(1))
    m = re.search(r"cores=([\d,]+)", text)
    return threads, [int(c) for c in m.group(1).split(",")] if m else []


def test_big_little_picks_the_big_cluster(tmp_path, monkeypatch):
    big = ALLOWED[-1]
    cpus = {c: {"capacity": 1024 if c == big else 446, "core": c} for c in ALLOWED}
    monkeypatch.setenv("ARMBERT_SYSFS_CPU", tree(tmp_path, cpus))
    assert threads_and_cores() == (1, [big])


def test_smt_siblings_count_once(tmp_path, monkeypatch):
    cpus = {c: {"core": 0, "package": 0} for c in ALLOWED}  # one core, SMT threads
    monkeypatch.setenv("ARMBERT_SYSFS_CPU", tree(tmp_path, cpus))
    assert threads_and_cores() == (1, [ALLOWED[0]])


def test_max_frequency_when_there_is_no_capacity(tmp_path, monkeypatch):
    cpus = {c: {"freq": 2_400_000 if c == ALLOWED[0] else 1_800_000, "core": c}
            for c in ALLOWED}
    monkeypatch.setenv("ARMBERT_SYSFS_CPU", tree(tmp_path, cpus))
    assert threads_and_cores() == (1, [ALLOWED[0]])


def test_a_machine_that_reports_nothing_is_one_cluster(tmp_path, monkeypatch):
    monkeypatch.setenv("ARMBERT_SYSFS_CPU", str(tmp_path))
    assert threads_and_cores() == (len(ALLOWED), ALLOWED)


def test_asked_threads_are_not_pinned_and_asked_cores_are(tmp_path, monkeypatch):
    monkeypatch.setenv("ARMBERT_SYSFS_CPU", str(tmp_path))
    assert threads_and_cores(threads=3) == (3, [])
    assert threads_and_cores(cores=[ALLOWED[0]]) == (1, [ALLOWED[0]])


def test_the_real_default_stays_within_the_allowed_cpus():
    threads, cores = threads_and_cores()
    assert threads == len(cores) and set(cores) <= set(ALLOWED) and cores


def test_describe_is_never_cut(monkeypatch):
    """The ABI truncates to the caller's buffer; Context.describe asks again with more
    room, so the "cores=" list at its end survives a long description (a many-core
    machine, longer kernel names). Started here from a buffer far too small."""
    ctx = nat.Context("host", threads=1)
    full = ctx.describe()
    assert re.search(r"; threads=1(; cores=[\d,]+)?$", full), full
    monkeypatch.setattr(nat, "_DESCRIBE_BUFFER", 16)
    assert ctx.describe() == full
    buf = nat.ffi.new("char[]", 16)  # and the ABI's own truncation: NUL at size - 1
    nat.check(nat.lib().armbert_context_describe(ctx._handle(), buf, 16))
    assert nat.ffi.string(buf).decode() == full[:15]
