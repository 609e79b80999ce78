"""The PBS Pro and Torque backends without a PBS server: scripts, resources, parsers, commands.

No PBS server can be installed here. Parsers read outputs written by hand in the formats
the PBS Pro / OpenPBS and Torque manuals document (``tests/data/pbs/README.txt`` says
which file is recorded and which is written), so they pin hpcflow's reading of those
formats, not the servers' behaviour. Commands run through stand-in ``qsub``/``qstat``/
``qdel`` executables first on ``PATH`` that replay those outputs and log their argv and
working directory, so the backend's real subprocess path runs. ``cluster_tests/
test_pbs_backend.py`` runs the scripts through Slurm's PBS wrappers on the mini cluster.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

import hpcflow
from hpcflow import Pipeline, func
from hpcflow.errors import InputError, SchedulerError
from hpcflow.schedulers._pbs_parse import (
    exit_code_text,
    parse_job_id,
    parse_pbs_duration,
    parse_pbs_size,
    parse_qstat_full,
    parse_qstat_json,
    parse_qsub_output,
    task_status,
    tasks_by_job,
)
from hpcflow.schedulers.base import (
    ArrayRequest,
    JobDependency,
    TaskState,
    TaskStatus,
    get_scheduler,
    scheduler_names,
    scheduler_ref,
)
from hpcflow.schedulers.pbs import (
    DEFAULT_MAX_ARRAY_SIZE,
    TEMPLATES,
    PbsScheduler,
    TorqueScheduler,
    dependency_directive,
    format_memory,
    format_walltime,
    job_name,
    resource_directives,
)
from hpcflow.spec.resources import Resources
from hpcflow.submission.submit import SubmissionPlan
from tests.schedulers import golden
from tests.schedulers.fakes import FakeCommands, request

DATA = Path(__file__).parents[1] / "data" / "pbs"
P, R, C, F = TaskState.PENDING, TaskState.RUNNING, TaskState.COMPLETED, TaskState.FAILED
CANCELLED, TIMEOUT, OOM = TaskState.CANCELLED, TaskState.TIMEOUT, TaskState.OUT_OF_MEMORY


def read(name: str) -> str:
    return (DATA / name).read_text()


def pbs_lines(script: str) -> list[tuple[str, str]]:
    """``#PBS -X value`` lines as (X, value), in order."""
    out = []
    for line in script.splitlines():
        if line.startswith("#PBS "):
            option, _, value = line.removeprefix("#PBS ").partition(" ")
            out.append((option.removeprefix("-"), value))
    return out


def check_golden(name: str, text: str) -> None:
    """Compare with a golden file; on a mismatch show the diff and how to accept it."""
    golden.check_golden(DATA / name, text)


# ---------------------------------------------------------------------------------------
# Rendering


def golden_request() -> ArrayRequest:
    run = Path("/runs/sweep \"alpha\" 'beta' #1 50%")
    return ArrayRequest(
        name="hpcflow-3f2a1b2c-heavy",
        argv=("/opt/py env/bin/python", "-m", "hpcflow.worker", str(run), "heavy"),
        n_tasks=250,
        resources=Resources(
            cpus=4,
            memory="1.5GB",
            walltime=93784.5,
            gpus=2,
            partition="gpu",
            extra={"m": "ae", "M": "me@example.org"},
        ),
        log_dir=run / "logs" / "heavy",
        workdir=run,
        task_offset=500,
        dependencies=(
            JobDependency("101[].pbs01", "aligned"),
            JobDependency("102.pbs01", "whole"),
            JobDependency("103[].pbs01", "any"),
        ),
        max_parallel=20,
    )


SETUP = ("module load python/3.11", "source '/opt/py env/bin/activate'")


def test_golden_pbs() -> None:
    scheduler = PbsScheduler(account="proj", setup=SETUP, extra_directives={"l": "place=scatter"})
    check_golden("golden_array.pbs", scheduler.render(golden_request()))


def test_golden_pbs_without_select() -> None:
    scheduler = PbsScheduler(account="proj", setup=SETUP, select=False)
    check_golden("golden_array_noselect.pbs", scheduler.render(golden_request()))


def test_golden_torque() -> None:
    scheduler = TorqueScheduler(account="proj", setup=SETUP)
    check_golden("golden_array.torque", scheduler.render(golden_request()))


def test_golden_pbs_single_task() -> None:
    req = dataclasses.replace(golden_request(), n_tasks=1, dependencies=(), max_parallel=None)
    check_golden("golden_single.pbs", PbsScheduler().render(req))


def test_golden_scripts_read_back_as_requested() -> None:
    req = golden_request()
    pbs = pbs_lines(PbsScheduler(account="proj").render(req))
    assert ("J", "0-249%20") in pbs
    assert ("W", "depend=afterok:101[].pbs01:102.pbs01,afterany:103[].pbs01") in pbs
    assert ("l", "select=1:ncpus=4:ngpus=2:mem=1536mb") in pbs
    assert ("l", "walltime=26:03:05") in pbs
    assert ("q", "gpu") in pbs and ("A", "proj") in pbs
    torque = pbs_lines(TorqueScheduler().render(req))
    assert ("t", "0-249%20") in torque
    assert ("W", "depend=afterok:102.pbs01,afterokarray:101[].pbs01,afteranyarray:103[].pbs01") in (
        torque
    )
    assert ("l", "nodes=1:ppn=4:gpus=2") in torque and ("l", "mem=1536mb") in torque
    # The command is the request's argv, then the task number.
    command = PbsScheduler().render(req).rstrip("\n").splitlines()[-1]
    head, sep, tail = command.partition(" $((500 + ")
    assert sep and shlex.split(head) == ["exec", *req.argv]
    assert tail == "${PBS_ARRAY_INDEX:?not set: not a PBS array job}))"


def test_directives_come_before_any_command() -> None:
    # PBS stops reading #PBS lines at the first command of the script.
    for scheduler in (PbsScheduler(setup=SETUP), TorqueScheduler(setup=SETUP)):
        lines = scheduler.render(golden_request()).splitlines()
        assert lines[0] == "#!/bin/bash"
        last_directive = max(i for i, line in enumerate(lines) if line.startswith("#PBS"))
        assert all(not line or line.startswith("#") for line in lines[:last_directive])


def test_render_is_pure(tmp_path: Path) -> None:
    scheduler = PbsScheduler()
    req = request(tmp_path / "nonexistent")
    assert scheduler.render(req) == scheduler.render(req)
    assert not (tmp_path / "nonexistent").exists()
    assert sum(scheduler.calls.values()) == 0


def run_script(script: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PBS_")}
    return subprocess.run(
        ["bash", "-c", script],
        check=False,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=30,
    )


WRITE_ARGV = (
    sys.executable,
    "-c",
    "import json,os,sys; print('task', sys.argv[-1]); "
    "open(sys.argv[1],'w').write(json.dumps([os.getcwd(), *sys.argv[2:]]))",
)


@pytest.mark.parametrize(
    ("scheduler", "env"),
    [
        (PbsScheduler, {"PBS_ARRAY_INDEX": "5", "PBS_JOBID": "77[5].pbs01"}),
        (TorqueScheduler, {"PBS_ARRAYID": "5", "PBS_JOBID": "77[5].torque01.example.org"}),
    ],
)
def test_render_runs_in_bash(
    weird_tmp_path: Path, scheduler: type[PbsScheduler], env: dict[str, str]
) -> None:
    # The script, run by bash with PBS's variables set, passes the quoted arguments and
    # the task number (offset + index) through, runs in the working directory, and
    # appends everything, setup output included, to <array id>_<index>.log.
    out = weird_tmp_path / "out.json"
    weird = "a 'b' \"c\" $HOME `x` ;"
    workdir = weird_tmp_path / "work dir"
    workdir.mkdir()
    log_dir = weird_tmp_path / "log dir"
    log_dir.mkdir()
    req = request(
        weird_tmp_path,
        argv=(*WRITE_ARGV, str(out), weird),
        task_offset=7,
        log_dir=log_dir,
        workdir=workdir,
    )
    script = scheduler(setup=["echo setup ran"]).render(req)
    for attempt in (1, 2):  # a rerun appends to the same log
        proc = run_script(script, env)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout == proc.stderr == ""  # everything went to the task's log
        assert json.loads(out.read_text()) == [str(workdir), weird, "12"]
        array_id = env["PBS_JOBID"].replace("[5]", "[]")
        log = (log_dir / f"{array_id}_5.log").read_text()
        assert log == "setup ran\ntask 12\n" * attempt


def test_single_task_runs_as_a_plain_job(tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    req = request(tmp_path, argv=(*WRITE_ARGV, str(out)), n_tasks=1, task_offset=9)
    script = PbsScheduler().render(req)
    # no log folder (submit makes it): the task stops rather than run without a log
    proc = run_script(script, {"PBS_JOBID": "78.pbs01"})
    assert proc.returncode == 1 and "No such file or directory" in proc.stderr
    assert not out.exists()
    (tmp_path / "logs").mkdir()
    assert not any(option in {"J", "t"} for option, _ in pbs_lines(script))
    proc = run_script(script, {"PBS_JOBID": "78.pbs01"})
    assert proc.returncode == 0, proc.stderr
    assert json.loads(out.read_text()) == [str(tmp_path), "9"]
    assert (tmp_path / "logs" / "78.pbs01_0.log").read_text() == "task 9\n"


@pytest.mark.parametrize("scheduler", [PbsScheduler, TorqueScheduler])
def test_array_script_without_index_fails_loudly(
    tmp_path: Path, scheduler: type[PbsScheduler]
) -> None:
    # Without the index variable every subjob would run task 0: the script stops instead.
    out = tmp_path / "out.json"
    (tmp_path / "logs").mkdir()
    script = scheduler().render(request(tmp_path, argv=(*WRITE_ARGV, str(out))))
    proc = run_script(script, {"PBS_JOBID": "79[0].s"})
    assert proc.returncode != 0
    assert not out.exists()
    log = next((tmp_path / "logs").iterdir()).read_text()
    assert f"{scheduler.index_variable}: not set: not a PBS array job" in log


@pytest.mark.parametrize(
    ("scheduler", "max_parallel", "expected"),
    [
        (PbsScheduler, None, ("J", "0-99")),
        (PbsScheduler, 5, ("J", "0-99%5")),
        (TorqueScheduler, None, ("t", "0-99")),
        (TorqueScheduler, 1, ("t", "0-99%1")),
    ],
)
def test_array_directive(
    tmp_path: Path,
    scheduler: type[PbsScheduler],
    max_parallel: int | None,
    expected: tuple[str, ...],
) -> None:
    req = request(tmp_path, n_tasks=100, max_parallel=max_parallel)
    directives = scheduler().directives(req)
    assert expected in directives
    assert ("r", "y") in directives and ("j", "oe") in directives


def test_minimal_directives(tmp_path: Path) -> None:
    # Nothing asked for: no resource lines, so the site's queue defaults apply.
    assert PbsScheduler().directives(request(tmp_path)) == [
        ("N", "run-x"),
        ("J", "0-2"),
        ("r", "y"),
        ("j", "oe"),
    ]


@pytest.mark.parametrize("bad", ["new\nline"])
def test_rejects_line_breaks_in_paths(tmp_path: Path, bad: str) -> None:
    with pytest.raises(InputError, match="line break"):
        PbsScheduler().render(request(tmp_path / bad))


# ---------------------------------------------------------------------------------------
# Resources, names, dependencies, options


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(1, "00:00:01"), (60, "00:01:00"), (3601, "01:00:01"), (86400, "24:00:00"),
     (100 * 3600 + 61, "100:01:01")],
)  # fmt: skip
def test_format_walltime(seconds: int, text: str) -> None:
    assert format_walltime(seconds) == text
    assert parse_pbs_duration(text) == seconds


@pytest.mark.parametrize(
    ("n_bytes", "text"), [(1, "1mb"), (2**20, "1mb"), (2**20 + 1, "2mb"), (3 * 2**40, "3145728mb")]
)
def test_format_memory(n_bytes: int, text: str) -> None:
    assert format_memory(n_bytes) == text
    assert parse_pbs_size(text) == -(-n_bytes // 2**20) * 2**20


def test_resource_directives_multi_node() -> None:
    r = Resources(nodes=2, cpus_per_node=16, cpus=2, memory="4GB", constraint="model=skylake")
    assert resource_directives(r, "pbs") == [
        ("l", "select=2:ncpus=32:mpiprocs=16:model=skylake:mem=4096mb")
    ]
    assert resource_directives(r, "pbs", select=False) == [
        ("l", "ncpus=32"),
        ("l", "model=skylake"),
        ("l", "mem=4096mb"),
        ("l", "nodes=2:ppn=16"),
    ]
    torque = Resources(nodes=2, cpus_per_node=16, constraint="fast:ib", account="a")
    assert resource_directives(torque, "torque") == [
        ("A", "a"),
        ("l", "nodes=2:ppn=16:fast:ib"),
    ]
    assert resource_directives(Resources(gpus=0), "pbs") == []
    assert resource_directives(Resources(nodes=1), "pbs") == [("l", "select=1")]


def test_resource_directives_refuse_what_pbs_cannot_express() -> None:
    with pytest.raises(InputError, match="PBS has no QOS"):
        resource_directives(Resources(qos="high"), "pbs")
    with pytest.raises(InputError, match="key=value"):
        resource_directives(Resources(constraint="skylake"), "pbs")
    with pytest.raises(InputError, match="node properties"):
        resource_directives(Resources(constraint="model=skylake"), "torque")


def test_queue_and_account_precedence(tmp_path: Path) -> None:
    scheduler = PbsScheduler(queue="sched-q", account="sched-a")
    d = scheduler.directives(request(tmp_path))
    assert ("q", "sched-q") in d and ("A", "sched-a") in d
    d = scheduler.directives(request(tmp_path, resources=Resources(partition="p", account="a")))
    assert ("q", "p") in d and ("A", "a") in d
    assert ("q", "sched-q") not in d and ("A", "sched-a") not in d


def test_extra_directives(tmp_path: Path) -> None:
    scheduler = PbsScheduler(
        extra_directives={"m": "ae", "-M": "site@example.org", "V": True, "l": ["place=excl"]}
    )
    res = Resources(extra={"M": "me@example.org", "r": "n", "V": None, "l": ("a=1", "b=2")})
    d = scheduler.directives(request(tmp_path, resources=res))
    # the function's extra beats the scheduler's option by option (V: None removes it);
    # r=n replaces hpcflow's r=y
    assert d[-5:] == [
        ("m", "ae"),
        ("M", "me@example.org"),
        ("l", "a=1"),
        ("l", "b=2"),
        ("r", "n"),
    ]
    assert ("r", "y") not in d
    assert not any(option == "V" for option, _ in d)
    bare = PbsScheduler(extra_directives={"V": True}).directive_lines(request(tmp_path))
    assert bare[-1] == "#PBS -V"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"J": "0-9"}, "set by hpcflow"),
        ({"-o": "/tmp/x"}, "set by hpcflow"),
        ({"N": "name"}, "set by hpcflow"),
        ({"W": "depend=afterok:1"}, "from the stage dependencies"),
        ({"q": "other"}, "queue= or Resources"),
        ({"A": "acct"}, "account= or Resources"),
        ({"mail": "x"}, "not a qsub option"),
        ({"M": "a b"}, "whitespace"),
        ({"l": "mem='1gb'"}, "quotes"),
    ],
)
def test_bad_extra(tmp_path: Path, extra: dict[str, str], message: str) -> None:
    with pytest.raises(InputError, match=message):
        PbsScheduler(extra_directives=extra)
    with pytest.raises(InputError, match=message):
        PbsScheduler().render(request(tmp_path, resources=Resources(extra=extra)))


def test_bad_options() -> None:
    with pytest.raises(InputError, match="mapping"):
        PbsScheduler(extra_directives=["-m ae"])
    with pytest.raises(InputError, match="max_array_size"):
        PbsScheduler(max_array_size=0)
    with pytest.raises(InputError, match="max_name_length"):
        TorqueScheduler(max_name_length=True)
    with pytest.raises(InputError, match="select"):
        PbsScheduler(select="no")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="queue 'a queue'"):
        PbsScheduler(queue="a queue")
    with pytest.raises(InputError, match="list of shell lines"):
        PbsScheduler(setup="module load x")
    with pytest.raises(InputError, match="bad option for scheduler 'torque'"):
        get_scheduler("torque", {"select": False})  # Torque has no select


@pytest.mark.parametrize(
    "name",
    ["hpcflow-3f2a1b2c-heavy-0", "hpcflow-3f2a1b2c-a-very-long-function-name-12", "9lives",
     "it's \"weird\" ; name", "x", "hpcflow-abc"],
)  # fmt: skip
@pytest.mark.parametrize("limit", [3, 15, 236])
def test_job_name(name: str, limit: int) -> None:
    out = job_name(name, limit)
    assert 1 <= len(out) <= limit
    assert out[0].isalpha()
    assert all(c.isalnum() or c in "_.+-~" for c in out)
    if len(name) <= limit and name[0].isalpha() and name.replace("-", "").isalnum():
        assert out == name  # short clean names are kept


def test_job_name_keeps_what_tells_jobs_apart() -> None:
    a = job_name("hpcflow-3f2a1b2c-stage-0", 15)
    b = job_name("hpcflow-3f2a1b2c-stage-1", 15)
    c = job_name("hpcflow-9d8e7f6a-stage-0", 15)
    assert len({a, b, c}) == 3
    assert a == "h3f2a1b~stage-0"


def test_dependency_directive() -> None:
    deps = [JobDependency("5.s"), JobDependency("6[].s", "aligned"), JobDependency("5.s")]
    assert dependency_directive(deps, "pbs") == "depend=afterok:5.s:6[].s"
    assert dependency_directive(deps, "torque") == "depend=afterok:5.s,afterokarray:6[].s"
    any_ = [JobDependency("7[].s", "any"), JobDependency("8.s", "any")]
    assert dependency_directive(any_, "torque") == "depend=afterany:8.s,afteranyarray:7[].s"
    for bad in ("5;x", "-u root", "5[3].s", "5 6"):
        with pytest.raises(InputError, match="PBS job id|subjob"):
            dependency_directive([JobDependency(bad)], "pbs")


def test_options_rebuild_the_scheduler(tmp_path: Path) -> None:
    template = tmp_path / "site.sh"
    template.write_text((TEMPLATES / "pbs.sh").read_text().replace("${setup}", "# site\n${setup}"))
    scheduler = PbsScheduler(
        queue="q",
        account="a",
        setup=["module load x"],
        python="/usr/bin/python3",
        extra_directives={"m": "ae"},
        max_array_size=50,
        max_name_length=20,
        template=template,
        select=False,
    )
    options = json.loads(json.dumps(scheduler.options()))
    rebuilt = get_scheduler("pbs", options)
    assert isinstance(rebuilt, PbsScheduler)
    assert rebuilt.options() == scheduler.options()
    assert rebuilt.render(request(tmp_path)) == scheduler.render(request(tmp_path))
    assert "# site\n" in rebuilt.render(request(tmp_path))
    assert rebuilt.max_array_size() == 50
    torque = TorqueScheduler(max_array_size=7)
    assert get_scheduler("torque", torque.options()).options() == torque.options()
    assert "select" not in torque.options()


def test_registered() -> None:
    assert {"pbs", "torque"} <= set(scheduler_names())
    pbs, torque = get_scheduler("pbs", {"queue": "workq"}), get_scheduler("torque")
    assert isinstance(pbs, PbsScheduler) and pbs.queue == "workq"
    assert isinstance(torque, TorqueScheduler)
    assert (scheduler_ref(pbs), scheduler_ref(torque)) == ("pbs", "torque")
    assert not PbsScheduler.supports_per_task_dependencies
    assert not TorqueScheduler.supports_per_task_dependencies
    assert pbs.max_array_size() == DEFAULT_MAX_ARRAY_SIZE == 10000
    assert sum(pbs.calls.values()) == 0  # the limit is an option, not a query


def test_bad_templates(tmp_path: Path) -> None:
    bad = tmp_path / "bad.sh"
    for text, message in [
        ("#!/bin/bash\n${directives}\necho $HOME\n${command}\n", "unknown placeholders"),
        ("#!/bin/bash\n${directives}\necho $ 5\n${command}\n", "not a placeholder"),
        ("#!/bin/bash\n${directives}\n", "missing placeholders \\['command'\\]"),
    ]:
        bad.write_text(text)
        with pytest.raises(InputError, match=message):
            PbsScheduler(template=bad)
    with pytest.raises(InputError, match="cannot be read"):
        PbsScheduler(template=tmp_path / "missing.sh")


def test_shipped_templates_are_valid() -> None:
    for name in ("pbs", "torque"):
        text = (TEMPLATES / f"{name}.sh").read_text()
        assert text.startswith("#!/bin/bash\n")
        assert text.rstrip().endswith("${command}")


@func("y", mapspec="x[i] -> y[i]")
def double(x: int) -> int:
    return 2 * x


@func("z", mapspec="y[i] -> z[i]")
def inc(y: int) -> int:
    return y + 1


@pytest.mark.parametrize("scheduler", ["pbs", "torque"])
def test_dry_run_makes_whole_array_dependencies(tmp_path: Path, scheduler: str) -> None:
    # The submit layer turns the aligned y[i] -> z[i] dependency into a whole-array one
    # for a backend without per-task dependencies, and splits at max_array_size.
    dry = Pipeline([double, inc]).plan(
        {"x": list(range(5))},
        tmp_path / "run",
        scheduler=scheduler,
        chunksizes=1,
        max_array_size=3,
        fuse=False,  # each func its own arrays: the dependencies are what is tested
    )
    assert isinstance(dry, SubmissionPlan)
    assert [(a.stage, a.n_tasks, a.first_task) for a in dry.arrays] == [
        ("y", 3, 0),
        ("y", 2, 3),
        ("z", 3, 0),
        ("z", 2, 3),
    ]
    kind = "afterokarray" if scheduler == "torque" else "afterok"
    for a in dry.arrays[2:]:
        # each z array waits for its own y array, whole
        assert a.dependencies == [f"<y[{dry.arrays.index(a) - 2}]>"]
        assert f"#PBS -W depend={kind}:<y[" in a.script
    assert not (tmp_path / "run").exists()
    assert hpcflow.__name__ == "hpcflow"


# ---------------------------------------------------------------------------------------
# Parsers, on the outputs in tests/data/pbs


def test_parse_qsub_output() -> None:
    assert parse_qsub_output(read("qsub_pbs_array.txt")) == "4711[].pbs01"
    assert parse_qsub_output(read("qsub_pbs_plain.txt")) == "4713.pbs01"
    assert parse_qsub_output(read("qsub_torque_array.txt")) == "5100[].torque01.example.org"
    assert parse_qsub_output("6214\n") == "6214"  # Slurm's qsub wrapper
    for bad in ("", "qsub: Unknown queue\n", "4711[3].pbs01\n", "Job 5 submitted\n"):
        with pytest.raises(SchedulerError, match="job id"):
            parse_qsub_output(bad)


def test_parse_job_id() -> None:
    assert parse_job_id("4711[].pbs01").is_array
    assert parse_job_id("4711[12].pbs01.example.org").index == 12
    assert parse_job_id("4713.pbs01").index is None
    for bad in ("", "x", "4711[", "47 11", "4711[]x"):
        with pytest.raises(SchedulerError, match="cannot read"):
            parse_job_id(bad)


def test_qstat_json_live() -> None:
    out = tasks_by_job(parse_qstat_json(read("qstat_pbs_live.json")), "pbs")
    throttled = "Not Running: Job would exceed max_run_subjobs limit of 2"
    assert out == {
        "4711": {
            0: TaskStatus(R),
            1: TaskStatus(R),
            2: TaskStatus(P, reason=throttled),
            3: TaskStatus(P, reason=throttled),
        },
        "4712": {0: TaskStatus(P, reason="held"), 1: TaskStatus(P, reason="held")},
        "4713": {
            0: TaskStatus(
                P, reason="Not Running: Insufficient amount of resource: ncpus (R: 1 A: 0 T: 64)"
            )
        },
    }


def test_qstat_json_finished() -> None:
    out = tasks_by_job(parse_qstat_json(read("qstat_pbs_finished.json")), "pbs")
    dependency = "Dependency failed: Job deleted as result of dependency on job 4720[].pbs01"
    assert out == {
        "4720": {
            0: TaskStatus(C, "0:0"),
            1: TaskStatus(F, "3:0"),
            2: TaskStatus(TIMEOUT, None, "JOB_EXEC_KILL_WALLTIME (-29)"),
            3: TaskStatus(OOM, None, "JOB_EXEC_KILL_MEM (-27)"),
            # bash reports its child killed by SIGKILL (137) at 97% of the memory limit
            4: TaskStatus(OOM, "137:0", "killed by SIGKILL using 202768384 of 209715200 bytes"),
            # the top shell killed by SIGTERM well before its walltime: deleted while running
            5: TaskStatus(CANCELLED, "0:15", "killed by SIGTERM (qdel?)"),
            # deleted while queued: no exit status
            6: TaskStatus(CANCELLED, None, "Job deleted by alice@login01"),
        },
        "4721": {0: TaskStatus(C, "0:0")},
        # deleted by PBS because 4720 failed; its subjobs take the array's comment
        "4722": {
            0: TaskStatus(CANCELLED, None, dependency),
            1: TaskStatus(CANCELLED, None, dependency),
        },
    }


def test_qstat_json_without_jobs_and_malformed() -> None:
    assert parse_qstat_json(read("qstat_pbs_no_jobs.json")) == {}
    assert parse_qstat_json("") == {}
    with pytest.raises(SchedulerError, match="cannot read qstat -F json output"):
        parse_qstat_json('{"Jobs": {"5.s": {"job_state": "R",}}}')
    with pytest.raises(SchedulerError, match="no 'Jobs' object"):
        parse_qstat_json('{"Jobs": ["5.s"]}')
    # raw control characters inside strings, as some PBS versions print them
    raw = '{"Jobs": {"5.s": {"job_state": "R", "Variable_List": {"X": "a\tb"}}}}'
    assert parse_qstat_json(raw)["5.s"]["Variable_List.X"] == "a\tb"


def test_qstat_torque_live() -> None:
    out = tasks_by_job(parse_qstat_full(read("qstat_torque_live.txt")), "torque")
    assert out == {
        "5100": {0: TaskStatus(R), 1: TaskStatus(R), 2: TaskStatus(P, reason="queued"),
                 3: TaskStatus(P, reason="queued")},
        "5101": {0: TaskStatus(P, reason="held"), 1: TaskStatus(P, reason="held")},
    }  # fmt: skip


def test_qstat_torque_finished() -> None:
    out = tasks_by_job(parse_qstat_full(read("qstat_torque_finished.txt")), "torque")
    assert out == {
        "5110": {
            0: TaskStatus(C, "0:0"),
            1: TaskStatus(F, "2:0"),
            2: TaskStatus(TIMEOUT, None, "JOB_EXEC_OVERLIMIT_WT (-11)"),
            3: TaskStatus(OOM, None, "JOB_EXEC_OVERLIMIT_MEM (-10)"),
            # 271 = 256 + SIGTERM: at the walltime limit it is a timeout ...
            4: TaskStatus(TIMEOUT, "0:15", "killed by signal 15 at its walltime"),
            # ... well before it, a qdel
            5: TaskStatus(CANCELLED, "0:15", "killed by SIGTERM (qdel?)"),
            6: TaskStatus(OOM, "0:9", "killed by SIGKILL using 205824000 of 209715200 bytes"),
        },
        "5111": {0: TaskStatus(C, "0:0")},
    }


def test_qstat_full_of_slurm_wrapper() -> None:
    # Recorded from Debian's slurm-wlm-torque qstat on the mini cluster: tab-indented,
    # one record per Slurm job id (a task of an array has its own id), no exit status.
    records = parse_qstat_full(read("wrapper_qstat_f1.txt"))
    assert set(records) == {"6214", "6215"}
    assert records["6215"]["Resource_List.walltime"] == "00:02:00"
    # "C" with no exit status reads as "ended without running": the wrapper cannot say
    # how a job ended, which is why the cluster test asks squeue/sacct instead.
    assert tasks_by_job(records, "torque")["6215"][0].state is CANCELLED


def test_qstat_full_wrapped_values_and_errors() -> None:
    text = "Job Id: 5.s\n    Variable_List = PBS_O_HOME=/home/bob,\n\tPBS_O_SHELL=/bin/bash\n"
    assert parse_qstat_full(text)["5.s"]["Variable_List"] == (
        "PBS_O_HOME=/home/bob,PBS_O_SHELL=/bin/bash"
    )
    with pytest.raises(SchedulerError, match="no 'Job Id:' before it"):
        parse_qstat_full("    job_state = R\n")
    with pytest.raises(SchedulerError, match="cannot read qstat -f line"):
        parse_qstat_full("Job Id: 5.s\nwhatever this is\n")


@pytest.mark.parametrize(
    ("attributes", "expected"),
    [
        ({"job_state": "Q"}, P), ({"job_state": "H"}, P), ({"job_state": "W"}, P),
        ({"job_state": "T"}, P), ({"job_state": "R"}, R), ({"job_state": "E"}, R),
        ({"job_state": "S"}, R), ({"job_state": "U"}, R), ({"job_state": "B"}, TaskState.UNKNOWN),
        ({"job_state": "M"}, TaskState.UNKNOWN), ({}, TaskState.UNKNOWN),
        ({"job_state": "F", "Exit_status": "0"}, C), ({"job_state": "X", "Exit_status": "1"}, F),
        ({"job_state": "C", "Exit_status": "0"}, TaskState.UNKNOWN),  # C is Torque's
        ({"job_state": "X", "Exit_status": "-26"}, OOM),
        ({"job_state": "X", "Exit_status": "-11"}, F),  # PBS Pro: JOB_EXEC_RERUN
        ({"job_state": "X", "Exit_status": "-20"}, TaskState.NODE_FAIL),
        ({"job_state": "X", "Exit_status": "-99"}, F),
        ({"job_state": "F", "Exit_status": "271",
          "comment": "=>> PBS: job killed: walltime 152 exceeded limit 120"}, TIMEOUT),
        ({"job_state": "F", "Exit_status": "265",
          "comment": "job killed: vmem 9000000kb exceeded limit 8388608kb"}, OOM),
        ({"job_state": "F", "Exit_status": "265"}, F),  # SIGKILL, no memory evidence
        ({"job_state": "F", "Exit_status": "265", "Resource_List.mem": "1gb",
          "resources_used.mem": "500mb"}, F),  # SIGKILL far below the limit
    ],
)  # fmt: skip
def test_task_status_pbs(attributes: dict[str, str], expected: TaskState) -> None:
    assert task_status(attributes, "pbs").state is expected


def test_task_status_torque_codes_differ_from_pbs() -> None:
    assert task_status({"job_state": "C", "exit_status": "-11"}, "torque").state is TIMEOUT
    assert task_status({"job_state": "C", "exit_status": "-10"}, "torque").state is OOM
    assert task_status({"job_state": "C", "exit_status": "-10"}, "torque").exit_code is None
    assert task_status({"job_state": "X", "Exit_status": "-10"}, "pbs").state is F
    with pytest.raises(SchedulerError, match="exit status 'x'"):
        task_status({"job_state": "C", "exit_status": "x"}, "torque")


def test_exit_code_text() -> None:
    assert [exit_code_text(s) for s in (0, 1, 137, 255, 256, 265, 271, -3)] == [
        "0:0", "1:0", "137:0", "255:0", "256:0", "0:9", "0:15", None,
    ]  # fmt: skip


# ---------------------------------------------------------------------------------------
# Commands, through stand-in executables on PATH


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeCommands:
    return FakeCommands(tmp_path, monkeypatch)


def test_submit_writes_script_and_runs_qsub_in_the_log_folder(
    fake: FakeCommands, weird_tmp_path: Path
) -> None:
    fake.set("qsub", stdout=read("qsub_pbs_array.txt"))
    scheduler = PbsScheduler()
    req = request(weird_tmp_path, log_dir=weird_tmp_path / "new" / "logs")
    assert scheduler.submit(req) == "4711[].pbs01"
    script = req.log_dir / "run-x.pbs"
    assert script.read_text() == scheduler.render(req)
    # in the log folder, so PBS's own output file (-j oe, no -o) lands there
    assert fake.calls() == [[str(req.log_dir), "qsub", str(script)]]
    assert scheduler.calls == {"qsub": 1}


def test_submit_makes_paths_absolute(
    fake: FakeCommands, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake.set("qsub", stdout=read("qsub_torque_array.txt"))
    monkeypatch.chdir(tmp_path)
    job = TorqueScheduler().submit(request(Path("rel"), log_dir=Path("rel/logs")))
    assert job == "5100[].torque01.example.org"
    script = (tmp_path / "rel" / "logs" / "run-x.torque").read_text()
    assert f"cd {tmp_path}/rel || exit 1" in script
    assert f"exec >>{tmp_path}/rel/logs/" in script


@pytest.mark.parametrize(
    ("scheduler", "stderr"),
    [(PbsScheduler, "qsub_pbs_bad_queue.stderr.txt"),
     (TorqueScheduler, "qsub_torque_bad_queue.stderr.txt")],
)  # fmt: skip
def test_submit_failure_names_command_script_and_stderr(
    fake: FakeCommands, tmp_path: Path, scheduler: type[PbsScheduler], stderr: str
) -> None:
    fake.set("qsub", stderr=read(stderr), rc=170)
    req = request(tmp_path)
    with pytest.raises(SchedulerError) as info:
        scheduler(queue="nosuchqueue").submit(req)
    message = str(info.value)
    assert f"qsub {req.log_dir}/run-x.{scheduler.name}" in message
    assert "Unknown queue" in message and "exited 170" in message


def test_submit_without_job_id(fake: FakeCommands, tmp_path: Path) -> None:
    fake.set("qsub", stdout="Job submitted\n")
    with pytest.raises(SchedulerError, match="qsub printed no job id"):
        PbsScheduler().submit(request(tmp_path))


def test_missing_command(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(SchedulerError, match="cannot run qsub: not found on PATH"):
        PbsScheduler().submit(request(tmp_path))
    with pytest.raises(SchedulerError, match="cannot run qstat: not found on PATH"):
        TorqueScheduler().states(["5[].s"])


def test_command_timeout(fake: FakeCommands) -> None:
    fake.set("qstat", sleep=5)
    scheduler = PbsScheduler()
    scheduler.command_timeout = 0.3
    with pytest.raises(SchedulerError, match=r"qstat .* did not finish within 0\.3 s"):
        scheduler.states(["5[].s"])
    assert scheduler.calls == {"qstat": 1}


def test_states_pbs_one_call(fake: FakeCommands) -> None:
    fake.set("qstat", stdout=read("qstat_pbs_live.json"))
    scheduler = PbsScheduler()
    ids = ["4711[].pbs01", "4712[].pbs01", "4713.pbs01", "4799[].pbs01"]
    out = scheduler.states(ids)
    expected = tasks_by_job(parse_qstat_json(read("qstat_pbs_live.json")), "pbs")
    assert out == {
        "4711[].pbs01": expected["4711"],
        "4712[].pbs01": expected["4712"],
        "4713.pbs01": expected["4713"],
        "4799[].pbs01": {},
    }
    assert scheduler.calls == {"qstat": 1}
    assert [call[1:] for call in fake.calls()] == [["qstat", "-f", "-F", "json", "-x", "-t", *ids]]


def test_states_pbs_with_unknown_ids(fake: FakeCommands) -> None:
    # qstat exits non-zero when one id is unknown, and still prints the others.
    fake.set(
        "qstat",
        stdout=read("qstat_pbs_finished.json"),
        stderr=read("qstat_pbs_unknown.stderr.txt"),
        rc=153,
    )
    out = PbsScheduler().states(["4700[].pbs01", "4721.pbs01"])
    assert out == {"4700[].pbs01": {}, "4721.pbs01": {0: TaskStatus(C, "0:0")}}


def test_states_torque(fake: FakeCommands) -> None:
    fake.set(
        "qstat",
        stdout=read("qstat_torque_finished.txt"),
        stderr=read("qstat_torque_unknown.stderr.txt"),
        rc=153,
    )
    ids = ["5110[].torque01.example.org", "5000[].torque01.example.org"]
    out = TorqueScheduler().states(ids)
    assert out[ids[1]] == {}
    assert out[ids[0]][2] == TaskStatus(TIMEOUT, None, "JOB_EXEC_OVERLIMIT_WT (-11)")
    assert [call[1:] for call in fake.calls()] == [["qstat", "-f", "-1", "-t", *ids]]


def test_states_failures(fake: FakeCommands) -> None:
    fake.set("qstat", stderr="qstat: cannot connect to server pbs01 (errno=15010)\n", rc=2)
    with pytest.raises(SchedulerError, match="qstat .* exited 2:\n  qstat: cannot connect"):
        PbsScheduler().states(["5[].pbs01"])
    fake.set("qstat", stdout="{not json")
    with pytest.raises(SchedulerError, match="qstat -f -F json -x -t 5.pbs01: cannot read"):
        PbsScheduler().states(["5.pbs01"])


def test_states_input(fake: FakeCommands) -> None:
    scheduler = PbsScheduler()
    assert scheduler.states([]) == {}
    with pytest.raises(InputError, match="not a PBS job id"):
        scheduler.states(["-u root"])
    assert fake.calls() == []


def test_cancel(fake: FakeCommands) -> None:
    fake.set("qdel")
    scheduler = TorqueScheduler()
    scheduler.cancel([])
    assert fake.calls() == [] and scheduler.calls == {}
    scheduler.cancel(["5[].s", "6.s"])
    assert [call[1:] for call in fake.calls()] == [["qdel", "5[].s", "6.s"]]
    with pytest.raises(InputError):
        scheduler.cancel(["5[].s", "-W force"])


def test_cancel_ignores_finished_and_unknown_jobs_only(fake: FakeCommands) -> None:
    fake.set("qdel", stderr="qdel: Job has finished 5[].s\nqdel: Unknown Job Id 6.s\n", rc=35)
    PbsScheduler().cancel(["5[].s", "6.s"])
    fake.set("qdel", stderr="qdel: cannot connect to server pbs01 (errno=111)\n", rc=2)
    with pytest.raises(SchedulerError, match="qdel 5.s exited 2"):
        PbsScheduler().cancel(["5.s"])


def test_failed_tasks_say_their_exit_code_or_signal() -> None:
    pbs = tasks_by_job(parse_qstat_json(read("qstat_pbs_finished.json")), "pbs")["4720"]
    assert [pbs[i].exit_text for i in (0, 1, 4, 5)] == [
        None, "exit 3", "exit 137 (signal 9)", "killed by signal 15",
    ]  # fmt: skip
    torque = tasks_by_job(parse_qstat_full(read("qstat_torque_finished.txt")), "torque")["5110"]
    assert torque[1].exit_text == "exit 2" and torque[6].exit_text == "killed by signal 9"
