"""A pytest plugin that records what each test costs in CPU seconds, so suite speed can be measured on a loaded machine
(wall time there depends on the neighbours; CPU time much less).

Per test id (setup + call + teardown together, and each phase apart): wall seconds, this process's user + system CPU
seconds (`RUSAGE_SELF`) and the CPU seconds of child processes reaped meanwhile (`RUSAGE_CHILDREN` delta: ffmpeg,
subprocess CLIs, Ray's raylet and GCS once they exit; a child still running when the test ends is counted by the test
that reaps it). Module- and session-scoped fixtures are charged to the test whose setup or teardown builds or tears
them down, so compare totals per file, not per test, when fixtures are shared.

Processes that outlive their parent's wait (Ray's workers, started by its raylet) are invisible to rusage. For
those, run pytest inside a cgroup-v1 `cpuacct` group of its own and name it with SUITE_CPU_CGROUP=DIR (or
--suite-cpu-cgroup DIR): each record then also has `tree_cpu_s`, the group's CPU seconds (every process in it, reaped
or not). scripts/suite_run.sh sets that up.

Usage:  PYTHONPATH=scripts python -m pytest -p suite_cpu --suite-cpu-json out.json tests/...
        (or SUITE_CPU_JSON=out.json instead of the option). Compare two runs with scripts/suite_time.py.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import sys
import time

import pytest

PHASES = ("setup", "call", "teardown")


_CGROUP: list[str] = []  # the cpuacct group's usage file, when one is named


def _sample() -> tuple[float, ...]:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = (time.perf_counter(), own.ru_utime + own.ru_stime, kids.ru_utime + kids.ru_stime)
    if _CGROUP:
        with open(_CGROUP[0]) as f:
            out += (int(f.read()) / 1e9,)
    return out


def _delta(a, b) -> dict:
    out = {"wall_s": b[0] - a[0], "cpu_s": b[1] - a[1], "children_cpu_s": b[2] - a[2]}
    if len(a) > 3:
        out["tree_cpu_s"] = b[3] - a[3]
    return out


class SuiteCpu:
    def __init__(self, path: str):
        self.path = path
        self.tests: dict[str, dict] = {}
        self.start = _sample()

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_protocol(self, item, nextitem):
        a = _sample()
        rec = self.tests.setdefault(item.nodeid, {"phases": {}, "outcome": "passed"})
        yield
        rec.update(_delta(a, _sample()))

    def _phase(self, item, phase):
        a = _sample()
        yield
        self.tests.setdefault(item.nodeid, {"phases": {}, "outcome": "passed"})["phases"][phase] = _delta(a, _sample())

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_setup(self, item):
        yield from self._phase(item, "setup")

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_call(self, item):
        yield from self._phase(item, "call")

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_teardown(self, item, nextitem):
        yield from self._phase(item, "teardown")

    def pytest_runtest_logreport(self, report):
        rec = self.tests.setdefault(report.nodeid, {"phases": {}, "outcome": "passed"})
        if report.failed:
            rec["outcome"] = "failed" if report.when == "call" else "error"
        elif report.skipped and rec["outcome"] == "passed":
            rec["outcome"] = "skipped"

    def pytest_sessionfinish(self, session, exitstatus):
        total = _delta(self.start, _sample())
        out = {
            "argv": sys.argv,
            "cwd": os.getcwd(),
            "python": platform.python_version(),
            "cpu_count": os.cpu_count(),
            "load_avg_end": list(os.getloadavg()),
            "exitstatus": int(exitstatus),
            "session": total,  # includes collection and everything outside tests
            "tests": self.tests,
        }
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(out, f, indent=1, sort_keys=True)
        os.replace(tmp, self.path)


def pytest_addoption(parser):
    parser.addoption("--suite-cpu-json", default=None, help="write per-test CPU and wall seconds to this JSON file")
    parser.addoption(
        "--suite-cpu-cgroup",
        default=None,
        help="a cgroup-v1 cpuacct folder holding this pytest process:"
        " also record its CPU seconds (all processes in it)",
    )


def pytest_configure(config):
    path = config.getoption("--suite-cpu-json") or os.environ.get("SUITE_CPU_JSON")
    group = config.getoption("--suite-cpu-cgroup") or os.environ.get("SUITE_CPU_CGROUP")
    if path and group:
        with open(os.path.join(group, "cgroup.procs")) as f:
            if str(os.getpid()) not in f.read().split():
                raise pytest.UsageError(f"suite_cpu: this process is not in the cgroup {group}")
        _CGROUP[:] = [os.path.join(group, "cpuacct.usage")]
    if path:
        config.pluginmanager.register(SuiteCpu(os.path.abspath(path)), "suite_cpu_recorder")
