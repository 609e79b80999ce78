"""The SLURM backend without a cluster: rendering, resource flags, parsers, commands.

Parsers read outputs recorded on the mini cluster (``tests/data/slurm/README.txt``).
Commands run through stand-in ``sbatch``/``squeue``/``sacct``/``scancel``/``scontrol``
executables put first on ``PATH``; they replay recorded outputs and log their argv, so the
real subprocess path of the backend runs. ``cluster_tests/test_slurm_backend.py`` runs
the same backend against the live cluster.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from hpcflow.errors import InputError, SchedulerError
from hpcflow.schedulers.base import (
    ArrayRequest,
    JobDependency,
    TaskState,
    TaskStatus,
    get_scheduler,
    scheduler_names,
)
from hpcflow.schedulers.slurm import (
    SlurmScheduler,
    dependency_flag,
    format_memory,
    format_walltime,
    parse_job_id,
    parse_sacct,
    parse_sbatch_parsable,
    parse_scontrol_config,
    parse_squeue,
    resource_flags,
    slurm_task_state,
)
from hpcflow.spec.resources import Resources
from tests.schedulers.fakes import FakeCommands, request
from tests.schedulers.golden import check_golden

DATA = Path(__file__).parents[1] / "data" / "slurm"
# Job ids of the recorded scenarios (tests/data/slurm/jobs.txt).
JOBS = dict(
    item.split("=")
    for line in (DATA / "jobs.txt").read_text().splitlines()
    if not line.startswith("#")
    for item in line.split()
)

P, R, C, F = TaskState.PENDING, TaskState.RUNNING, TaskState.COMPLETED, TaskState.FAILED


def read(name: str) -> str:
    return (DATA / name).read_text()


def sbatch_lines(script: str) -> dict[str, str]:
    """``#SBATCH --name=value`` lines as {name: value as sbatch reads it}."""
    out = {}
    for line in script.splitlines():
        if line.startswith("#SBATCH --"):
            name, _, value = line.removeprefix("#SBATCH --").partition("=")
            assert name not in out, f"--{name} rendered twice"
            out[name] = shlex.split(value)[0] if value else ""
    return out


# ---------------------------------------------------------------------------------------
# Rendering


def golden_request() -> tuple[SlurmScheduler, ArrayRequest]:
    run = Path("/runs/sweep \"alpha\" 'beta' #1 50%")
    scheduler = SlurmScheduler(
        partition="debug",
        qos="normal",
        setup=("module load python/3.11", "source '/opt/py env/bin/activate'"),
        extra_sbatch={"constraint": "fast"},
    )
    req = ArrayRequest(
        name="run-3f2a-heavy",
        argv=("/opt/py env/bin/python", "-m", "hpcflow.worker", str(run)),
        n_tasks=250,
        resources=Resources(
            cpus=4,
            memory="1.5GB",
            walltime=93784.5,
            gpus=2,
            partition="gpu",
            account="proj",
            extra={"exclusive": True, "mail_type": "END", "constraint": None},
        ),
        log_dir=run / "logs",
        workdir=run,
        task_offset=500,
        dependencies=(
            JobDependency("101", "aligned"),
            JobDependency("102", "whole"),
            JobDependency("103", "aligned"),
        ),
        max_parallel=20,
    )
    return scheduler, req


def test_golden_script() -> None:
    scheduler, req = golden_request()
    check_golden(DATA / "golden_array.sbatch", scheduler.render(req))
    assert scheduler.render(req) == read("golden_array.sbatch")


def test_golden_script_reads_back_as_requested() -> None:
    # The golden file is not just stable: its quoted values mean the requested paths.
    scheduler, req = golden_request()
    flags = sbatch_lines(scheduler.render(req))
    assert flags["chdir"] == str(req.workdir)
    assert flags["output"] == str(req.log_dir).replace("%", "%%") + "/%A_%a.log"
    assert flags["partition"] == "gpu"  # the function's partition beats the scheduler's
    assert "constraint" not in flags  # Resources.extra None removes the scheduler's flag
    assert flags["qos"] == "normal"
    command = scheduler.render(req).rstrip("\n").splitlines()[-1]
    head, sep, _ = command.partition(" $((500 + SLURM_ARRAY_TASK_ID))")
    assert sep and command.endswith(sep)
    assert shlex.split(head) == ["exec", *req.argv]


def test_render_minimal(tmp_path: Path) -> None:
    script = SlurmScheduler().render(request(tmp_path))
    flags = sbatch_lines(script)
    assert flags == {
        "array": "0-2",
        "chdir": str(tmp_path),
        "job-name": "run-x",
        "kill-on-invalid-dep": "yes",
        "open-mode": "append",
        "output": f"{tmp_path}/logs/%A_%a.log",
        "requeue": "",
        "wckey": "hpcflow",
    }
    # submitit's defaults that hpcflow must not inherit
    assert "--time" not in script and "--signal" not in script and "SUBMITIT" not in script
    assert "srun" not in script
    assert script.startswith("#!/bin/bash\n")
    assert "exec python3 -c pass $((0 + SLURM_ARRAY_TASK_ID))" in script


def test_render_is_pure(tmp_path: Path) -> None:
    scheduler = SlurmScheduler()
    req = request(tmp_path / "nonexistent")
    assert scheduler.render(req) == scheduler.render(req)
    assert not (tmp_path / "nonexistent").exists()
    assert sum(scheduler.calls.values()) == 0


def test_render_runs_in_bash(tmp_path: Path) -> None:
    # The rendered script, run by bash with SLURM's variable set, passes the task number
    # and the quoted arguments through unchanged.
    out = tmp_path / "out.json"
    argv = (
        sys.executable,
        "-c",
        "import json,sys; open(sys.argv[1],'w').write(json.dumps(sys.argv[2:]))",
    )
    weird = "a 'b' \"c\" $HOME `x` ;"
    req = request(tmp_path, argv=(*argv, str(out), weird), task_offset=7)
    script = SlurmScheduler(setup=["export HPCFLOW_T=1"]).render(req)
    subprocess.run(
        ["bash", "-c", script],
        env={**os.environ, "SLURM_ARRAY_TASK_ID": "5"},
        check=True,
        timeout=30,
    )
    assert json.loads(out.read_text()) == [weird, "12"]


@pytest.mark.parametrize(
    ("max_parallel", "array"), [(None, "0-99"), (1, "0-99%1"), (250, "0-99%250")]
)
def test_array_flag(tmp_path: Path, max_parallel: int | None, array: str) -> None:
    req = request(tmp_path, n_tasks=100, max_parallel=max_parallel)
    assert sbatch_lines(SlurmScheduler().render(req))["array"] == array


def test_rejects_backslash_and_newline(tmp_path: Path) -> None:
    for bad in ("back\\slash", "new\nline"):
        with pytest.raises(InputError, match="backslash or a line break"):
            SlurmScheduler().render(request(tmp_path / bad))
    with pytest.raises(InputError, match="--job-name"):
        SlurmScheduler().render(request(tmp_path, name="a\nb"))


# ---------------------------------------------------------------------------------------
# Resources and options


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(1, "0-00:00:01"), (59, "0-00:00:59"), (60, "0-00:01:00"), (3601, "0-01:00:01"),
     (86399, "0-23:59:59"), (86400, "1-00:00:00"), (100 * 86400 + 61, "100-00:01:01")],
)  # fmt: skip
def test_format_walltime(seconds: int, text: str) -> None:
    assert format_walltime(seconds) == text


@pytest.mark.parametrize(
    ("n_bytes", "text"),
    [(1, "1M"), (2**20, "1M"), (2**20 + 1, "2M"), (500 * 2**20, "500M"), (3 * 2**40, "3145728M")],
)
def test_format_memory(n_bytes: int, text: str) -> None:
    assert format_memory(n_bytes) == text


def test_resource_flags_translate_every_field() -> None:
    r = Resources(
        cpus=8,
        cpus_per_node=16,
        nodes=2,
        memory="500MB",
        gpus=3,
        walltime="10:00",
        partition="p",
        account="a",
        qos="q",
        constraint="haswell|skylake",
        extra={"--exclusive": True, "mail_user": "me@x.org", "hint": None},
    )
    assert resource_flags(r) == {
        "cpus-per-task": 8,
        "nodes": 2,
        "ntasks-per-node": 16,
        "mem": "500M",
        "gres": "gpu:3",
        "time": "0-00:10:00",
        "partition": "p",
        "account": "a",
        "qos": "q",
        "constraint": "haswell|skylake",
        "exclusive": True,
        "mail-user": "me@x.org",
        "hint": None,
    }
    assert resource_flags(Resources(gpus=0)) == {}
    assert resource_flags(Resources()) == {}


def test_flag_precedence(tmp_path: Path) -> None:
    scheduler = SlurmScheduler(
        partition="sched-p",
        account="sched-a",
        qos="sched-q",
        extra_sbatch={"mem": "1G", "exclusive": True, "comment": "site"},
    )
    # no resources: the scheduler's defaults
    flags = scheduler.sbatch_flags(request(tmp_path))
    assert (flags["partition"], flags["account"], flags["qos"]) == ("sched-p", "sched-a", "sched-q")
    assert (flags["mem"], flags["exclusive"], flags["comment"]) == ("1G", True, "site")
    # the function's typed fields beat the scheduler; its extra beats both
    res = Resources(partition="p", memory="2GB", extra={"exclusive": False, "mem": "3G"})
    flags = scheduler.sbatch_flags(request(tmp_path, resources=res))
    assert (flags["partition"], flags["account"], flags["mem"]) == ("p", "sched-a", "3G")
    assert "exclusive" not in flags


@pytest.mark.parametrize("name", ["array", "output", "--chdir", "job_name", "dependency", "error"])
def test_reserved_flags(tmp_path: Path, name: str) -> None:
    with pytest.raises(InputError, match="set by hpcflow"):
        SlurmScheduler(extra_sbatch={name: "x"})
    with pytest.raises(InputError, match="set by hpcflow"):
        SlurmScheduler().render(request(tmp_path, resources=Resources(extra={name: "x"})))


def test_bad_options() -> None:
    with pytest.raises(InputError, match="mapping"):
        SlurmScheduler(extra_sbatch=["--constraint=fast"])  # type: ignore[arg-type]
    with pytest.raises(InputError, match="long option"):
        SlurmScheduler(extra_sbatch={"-p": "x"})
    with pytest.raises(InputError, match="max_array_size"):
        SlurmScheduler(max_array_size=0)
    with pytest.raises(InputError, match="list of shell lines"):
        SlurmScheduler(setup="module load x")


def test_dependency_flag() -> None:
    deps = [JobDependency("1", "whole"), JobDependency("2", "aligned"), JobDependency("3")]
    assert dependency_flag(deps) == "aftercorr:2,afterok:1:3"
    assert dependency_flag([JobDependency("9", "aligned")]) == "aftercorr:9"
    with pytest.raises(InputError, match="not a SLURM job id"):
        dependency_flag([JobDependency("1;cluster")])


def test_options_rebuild_the_scheduler(tmp_path: Path) -> None:
    scheduler = SlurmScheduler(
        partition="p",
        account="a",
        qos="q",
        setup=["module load x"],
        python="/usr/bin/python3",
        extra_sbatch={"exclusive": True},
        max_array_size=50,
    )
    options = json.loads(json.dumps(scheduler.options()))
    rebuilt = SlurmScheduler(**options)
    assert rebuilt.options() == scheduler.options()
    assert rebuilt.render(request(tmp_path)) == scheduler.render(request(tmp_path))
    assert rebuilt.max_array_size() == 50
    assert SlurmScheduler().options()["python"] == sys.executable


def test_registered() -> None:
    scheduler = get_scheduler("slurm", {"partition": "p", "extra_sbatch": {"exclusive": True}})
    assert isinstance(scheduler, SlurmScheduler)
    assert scheduler.partition == "p"
    assert "slurm" in scheduler_names()
    assert SlurmScheduler.name == "slurm"
    assert SlurmScheduler.supports_per_task_dependencies
    with pytest.raises(InputError, match="bad option for scheduler 'slurm'"):
        get_scheduler("slurm", {"partitoin": "p"})


# ---------------------------------------------------------------------------------------
# Parsers, on recorded outputs


def test_parse_sbatch_parsable() -> None:
    assert parse_sbatch_parsable(read("sbatch_parsable.txt")) == "168"
    assert parse_sbatch_parsable("55;other\n") == "55"
    for bad in ("", "Submitted batch job 5\n", "x;y"):
        with pytest.raises(SchedulerError, match="no job id"):
            parse_sbatch_parsable(bad)


def test_parse_scontrol_config() -> None:
    config = parse_scontrol_config(read("scontrol_show_config.txt"))
    assert config["MaxArraySize"] == "101"
    assert config["SLURM_VERSION"] == "22.05.8"
    assert config["MinJobAge"] == "600 sec"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("5", ("5", None)),
        ("5_0", ("5", (0,))),
        ("5_[0-99]", ("5", tuple(range(100)))),
        ("5_[2-9%2]", ("5", tuple(range(2, 10)))),
        ("5_[1,3,7-8]", ("5", (1, 3, 7, 8))),
        ("5_[0-6:3]", ("5", (0, 3, 6))),
    ],
)
def test_parse_job_id(text: str, expected: tuple[str, tuple[int, ...] | None]) -> None:
    assert parse_job_id(text) == expected


@pytest.mark.parametrize("bad", ["", "x", "5_", "5_[a-b]", "5.batch"])
def test_parse_job_id_rejects(bad: str) -> None:
    with pytest.raises(SchedulerError, match="cannot read"):
        parse_job_id(bad)


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        ("PENDING", P), ("CONFIGURING", P), ("REQUEUED", P), ("REQUEUE_HOLD", P),
        ("RUNNING", R), ("COMPLETING", R), ("SUSPENDED", R),
        ("COMPLETED", C), ("FAILED", F), ("BOOT_FAIL", F), ("DEADLINE", F),
        ("CANCELLED", TaskState.CANCELLED), ("CANCELLED by 0", TaskState.CANCELLED),
        ("TIMEOUT", TaskState.TIMEOUT), ("OUT_OF_MEMORY", TaskState.OUT_OF_MEMORY),
        ("PREEMPTED", TaskState.PREEMPTED), ("NODE_FAIL", TaskState.NODE_FAIL),
        ("", TaskState.UNKNOWN), ("WHATEVER", TaskState.UNKNOWN),
    ],
)  # fmt: skip
def test_slurm_task_state(state: str, expected: TaskState) -> None:
    assert slurm_task_state(state) is expected


def test_parse_squeue_live() -> None:
    out = parse_squeue(read("squeue_live.txt"))
    running, held, throttled = JOBS["running"], JOBS["held"], JOBS["throttled"]
    assert set(out) == {running, held, throttled}
    assert out[running] == {i: TaskStatus(R) for i in range(4)}
    assert out[held] == {i: TaskStatus(P, reason="Dependency") for i in range(100)}
    assert out[throttled] == {
        **{i: TaskStatus(R) for i in range(2)},
        **{i: TaskStatus(P, reason="JobArrayTaskLimit") for i in range(2, 10)},
    }


def test_parse_squeue_compact_ranges_expand() -> None:
    # Without --array, squeue prints the pending tasks as one range ("170_[0-99]",
    # "171_[2-9%2]"): reading it gives the same tasks as the expanded listing.
    assert parse_squeue(read("squeue_live_compact.txt")) == parse_squeue(read("squeue_live.txt"))


def test_parse_squeue_never_satisfied_keeps_reason() -> None:
    out = parse_squeue(read("squeue_never_satisfied.txt"))
    reason = "DependencyNeverSatisfied"
    assert out == {
        JOBS["never"]: {0: TaskStatus(P, reason=reason), 1: TaskStatus(P, reason=reason)}
    }


def test_parse_squeue_empty_and_malformed() -> None:
    assert parse_squeue(read("squeue_finished.txt")) == {}
    with pytest.raises(SchedulerError, match="cannot read squeue line"):
        parse_squeue("123_0 RUNNING None\n")


def test_parse_sacct_finished() -> None:
    out = parse_sacct(read("sacct_finished.txt"))
    cancelled = TaskStatus(TaskState.CANCELLED, "0:0")
    assert out == {
        JOBS["ok"]: {i: TaskStatus(C, "0:0") for i in range(3)},
        JOBS["fails"]: {0: TaskStatus(C, "0:0"), 1: TaskStatus(F, "1:0")},
        # aftercorr on the failed task: only that task is cancelled
        JOBS["aligned"]: {0: TaskStatus(C, "0:0"), 1: cancelled},
        # afterok on the array: every task, named "181_[0-1]"
        JOBS["whole"]: {0: cancelled, 1: cancelled},
        # cancelled by scancel while pending ("CANCELLED by 0")
        JOBS["never"]: {0: cancelled, 1: cancelled},
        # over --mem: killed by signal 9 (no cgroups, so not OUT_OF_MEMORY)
        JOBS["memory"]: {0: TaskStatus(F, "0:9")},
        JOBS["timeout"]: {0: TaskStatus(TaskState.TIMEOUT, "0:0")},
        # the running task and the throttled rest, "188_[1-3%1]"
        JOBS["cancelled"]: dict.fromkeys(range(4), cancelled),
    }


def test_parse_sacct_lagging_bare_array_record() -> None:
    # Seconds after submission sacct knew only the array's own record "169" (PENDING),
    # while squeue showed its four tasks running: the bare id names no task.
    assert read("sacct_live.txt").splitlines()[1] == f"{JOBS['running']}|PENDING|0:0"
    assert parse_sacct(read("sacct_live.txt")) == {}


def test_parse_sacct_task_record_beats_range() -> None:
    text = "JobID|State|ExitCode\n7_3|COMPLETED|0:0\n7_[0-5%2]|PENDING|0:0\n7_3.batch|FAILED|1:0\n"
    out = parse_sacct(text)
    assert out["7"][3] == TaskStatus(C, "0:0")
    assert out["7"][5] == TaskStatus(P, "0:0")
    assert sorted(out["7"]) == list(range(6))


def test_parse_sacct_malformed() -> None:
    assert parse_sacct("") == {}
    with pytest.raises(SchedulerError, match="no header"):
        parse_sacct("5_0|COMPLETED|0:0\n")
    with pytest.raises(SchedulerError, match="cannot read sacct line"):
        parse_sacct("JobID|State|ExitCode\n5_0|COMPLETED\n")


# ---------------------------------------------------------------------------------------
# Commands, through stand-in executables on PATH


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeCommands:
    return FakeCommands(tmp_path, monkeypatch)


def test_submit_writes_script_and_parses_id(fake: FakeCommands, weird_tmp_path: Path) -> None:
    fake.set("sbatch", stdout="4242;cluster\n")
    scheduler = SlurmScheduler()
    req = request(weird_tmp_path, log_dir=weird_tmp_path / "new" / "logs")
    assert scheduler.submit(req) == "4242"
    script = req.log_dir / "run-x.sbatch"
    assert script.read_text() == scheduler.render(req)
    assert fake.argvs() == [["sbatch", "--parsable", str(script)]]
    assert scheduler.calls == {"sbatch": 1}


def test_submit_makes_paths_absolute(
    fake: FakeCommands, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake.set("sbatch", stdout="1\n")
    monkeypatch.chdir(tmp_path)
    SlurmScheduler().submit(request(Path("rel"), log_dir=Path("rel/logs")))
    flags = sbatch_lines((tmp_path / "rel" / "logs" / "run-x.sbatch").read_text())
    assert flags["chdir"] == str(tmp_path / "rel")
    assert flags["output"] == f"{tmp_path}/rel/logs/%A_%a.log"


def test_submit_failure_names_command_script_and_stderr(fake: FakeCommands, tmp_path: Path) -> None:
    fake.set("sbatch", stderr=read("sbatch_bad_partition.stderr.txt"), rc=1)
    req = request(tmp_path)
    with pytest.raises(SchedulerError) as info:
        SlurmScheduler(partition="nosuchpartition").submit(req)
    message = str(info.value)
    assert "sbatch --parsable" in message
    assert str(req.log_dir / "run-x.sbatch") in message
    assert "Invalid partition name specified" in message
    assert "exited 1" in message


def test_submit_without_job_id(fake: FakeCommands, tmp_path: Path) -> None:
    fake.set("sbatch", stdout="Submitted batch job 12\n")
    with pytest.raises(SchedulerError, match="printed no job id"):
        SlurmScheduler().submit(request(tmp_path))


def test_missing_command(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(SchedulerError, match="cannot run sbatch.*on PATH"):
        SlurmScheduler().submit(request(tmp_path))


def test_command_timeout(fake: FakeCommands) -> None:
    fake.set("squeue", sleep=5)
    scheduler = SlurmScheduler()
    scheduler.command_timeout = 0.3
    with pytest.raises(SchedulerError, match=r"squeue .* did not finish within 0\.3 s"):
        scheduler.states(["5"])
    assert scheduler.calls == {"squeue": 1}


def test_states_merges_squeue_over_sacct(fake: FakeCommands) -> None:
    fake.set("squeue", stdout=read("squeue_live.txt"))
    fake.set("sacct", stdout=read("sacct_live.txt"))
    scheduler = SlurmScheduler()
    ids = [JOBS["running"], JOBS["held"], JOBS["throttled"], "999"]
    out = scheduler.states(ids)
    assert out == {**parse_squeue(read("squeue_live.txt")), "999": {}}
    assert scheduler.calls == {"squeue": 1, "sacct": 1}
    joined = ",".join(ids)
    assert fake.argvs() == [
        ["squeue", "--noheader", "--array", "--format=%i|%T|%r", f"--jobs={joined}"],
        [
            "sacct",
            "--allocations",
            "--parsable2",
            "--format=JobID,State,ExitCode",
            f"--jobs={joined}",
        ],
    ]


def test_states_live_task_wins_over_stale_accounting(fake: FakeCommands) -> None:
    fake.set("squeue", stdout="7_1|RUNNING|None\n")
    fake.set("sacct", stdout="JobID|State|ExitCode\n7_0|COMPLETED|0:0\n7_[1-2]|PENDING|0:0\n")
    assert SlurmScheduler().states(["7"]) == {
        "7": {0: TaskStatus(C, "0:0"), 1: TaskStatus(R), 2: TaskStatus(P, "0:0")}
    }


def test_states_finished(fake: FakeCommands) -> None:
    fake.set("squeue", stdout=read("squeue_finished.txt"))
    fake.set("sacct", stdout=read("sacct_finished.txt"))
    ids = [JOBS[k] for k in ("ok", "fails", "memory")]
    out = SlurmScheduler().states(ids)
    assert out == {k: v for k, v in parse_sacct(read("sacct_finished.txt")).items() if k in ids}
    assert out[JOBS["fails"]][1] == TaskStatus(F, "1:0")


def test_states_single_unknown_job(fake: FakeCommands) -> None:
    # squeue asked for one job the controller forgot fails; that means "not queued".
    fake.set("squeue", stderr=read("squeue_unknown_job.stderr.txt"), rc=1)
    fake.set("sacct", stdout="JobID|State|ExitCode\n5_0|COMPLETED|0:0\n")
    assert SlurmScheduler().states(["5"]) == {"5": {0: TaskStatus(C, "0:0")}}


def test_states_squeue_failure_raises(fake: FakeCommands) -> None:
    fake.set("squeue", stderr="squeue: error: Unable to contact slurm controller\n", rc=1)
    with pytest.raises(SchedulerError, match="squeue .* exited 1:\n  squeue: error: Unable"):
        SlurmScheduler().states(["5"])


def test_states_sacct_failure_raises(fake: FakeCommands) -> None:
    fake.set("squeue")
    fake.set("sacct", stderr="sacct: error: Problem talking to the database\n", rc=1)
    with pytest.raises(SchedulerError, match="Problem talking to the database"):
        SlurmScheduler().states(["5"])


def test_states_without_accounting(fake: FakeCommands) -> None:
    # Accounting disabled: squeue alone, no error, no warning, and sacct is not asked again.
    fake.set("squeue", stdout="5_0|RUNNING|None\n")
    fake.set("sacct", stderr=read("sacct_disabled.stderr.txt"), rc=1)
    scheduler = SlurmScheduler()
    assert scheduler.states(["5"]) == {"5": {0: TaskStatus(R)}}
    assert scheduler.states(["5", "6"]) == {"5": {0: TaskStatus(R)}, "6": {}}
    assert scheduler.calls == {"squeue": 2, "sacct": 1}


def test_states_input(fake: FakeCommands) -> None:
    scheduler = SlurmScheduler()
    assert scheduler.states([]) == {}
    with pytest.raises(InputError, match="not a SLURM job id"):
        scheduler.states(["--all"])
    assert fake.argvs() == []


def test_cancel(fake: FakeCommands) -> None:
    fake.set("scancel")
    scheduler = SlurmScheduler()
    scheduler.cancel([])
    assert fake.argvs() == [] and scheduler.calls == {}
    scheduler.cancel(["5", "6", "7"])
    assert fake.argvs() == [["scancel", "5", "6", "7"]]
    assert scheduler.calls == {"scancel": 1}
    with pytest.raises(InputError):
        scheduler.cancel(["5", "-u root"])


def test_cancel_ignores_unknown_jobs_only(fake: FakeCommands) -> None:
    fake.set(
        "scancel",
        stderr="scancel: error: Kill job error on job id 5: Invalid job id specified\n",
        rc=1,
    )
    SlurmScheduler().cancel(["5"])
    fake.set("scancel", stderr="scancel: error: Unable to contact slurm controller\n", rc=1)
    with pytest.raises(SchedulerError, match="scancel 5 exited 1"):
        SlurmScheduler().cancel(["5"])


def test_max_array_size_read_once(fake: FakeCommands) -> None:
    fake.set("scontrol", stdout=read("scontrol_show_config.txt"))
    scheduler = SlurmScheduler()
    assert scheduler.calls == {}  # lazily: nothing asked at construction
    assert scheduler.max_array_size() == 101
    assert scheduler.max_array_size() == 101
    assert fake.argvs() == [["scontrol", "show", "config"]]
    assert SlurmScheduler(max_array_size=7).max_array_size() == 7
    assert len(fake.argvs()) == 1


def test_max_array_size_errors(fake: FakeCommands) -> None:
    fake.set("scontrol", stdout="MinJobAge = 600 sec\n")
    with pytest.raises(SchedulerError, match="no MaxArraySize"):
        SlurmScheduler().max_array_size()
    fake.set("scontrol", stderr="scontrol: error: oops\n", rc=1)
    with pytest.raises(SchedulerError, match="scontrol show config exited 1"):
        SlurmScheduler().max_array_size()


def test_failed_tasks_say_their_exit_code_or_signal() -> None:
    out = parse_sacct(read("sacct_finished.txt"))
    assert out[JOBS["fails"]][1].exit_text == "exit 1"
    assert out[JOBS["memory"]][0].exit_text == "killed by signal 9"
    assert out[JOBS["ok"]][0].exit_text is None  # 0:0 says nothing
