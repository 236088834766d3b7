"""The SLURM workflow profile (profiles/slurm) and Snakemake's SLURM executor, end to end.

* The two ``test_profile_*`` dry runs need no cluster: with the profile, a toy Snakefile's jobs must
  show the resources the profile sets (GPU, CPUs per GPU, memory, runtime, partition and account from
  environment variables, or empty values when those are unset).
* The other tests run Snakemake with ``--executor slurm`` against a real one-node SLURM cluster on
  127.0.0.1 (munged + slurmctld + slurmd, no accounting), started once for this module by
  tests/cluster/slurm_up.sh and always stopped by tests/cluster/slurm_down.sh. They need root (to
  apt-get install slurm-wlm/munge if missing and to start the daemons) and are skipped otherwise.
  The node has no GPU, so runs override ``gpu`` to 0; the GPU request itself is checked on the sbatch
  line with a stand-in ``sbatch``. The toy workflow and the failing workflow run side by side;
  ``test_pipeline_tiny_config_on_slurm`` runs the real Snakefile with tests/config/config.yaml
  (skipped while that file does not exist) and takes ~25 s per dependency level of SLURM jobs.

Because the cluster has no accounting database, every run passes ``--slurm-status-command squeue``
(with the default ``sacct`` the plugin would wait forever), and
``--slurm-init-seconds-before-status-checks 3`` (the default 40 s would make each stage >= 40 s).
Every Snakemake run has a hard timeout, so a hang fails the test instead of blocking CI.

Set AMIPS_SKIP_SLURM=1 to skip the cluster tests; AMIPS_SLURM_DIR / AMIPS_SLURM_PORT move the
cluster's state dir (default /tmp/amips-slurm) and ports (default 16817/16818).
"""

from __future__ import annotations

import fcntl
import os
import re
import shlex
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PROFILE = REPO / "profiles" / "slurm"
CLUSTER_DIR = REPO / "tests" / "cluster"
SLURM_DIR = Path(os.environ.get("AMIPS_SLURM_DIR", "/tmp/amips-slurm"))
PIPELINE_SNAKEFILE = REPO / "Snakefile"
# the real pipeline's tiny CI config (AMIPS_PIPELINE_TEST_CONFIG points the test at another one)
PIPELINE_TEST_CONFIG = Path(
    os.environ.get("AMIPS_PIPELINE_TEST_CONFIG", REPO / "tests" / "config" / "config.yaml")
)

pytestmark = pytest.mark.slurm

# Options every run against the local cluster needs (see module docstring).
# Status polls happen INIT s after a submission, then every INIT + 10, + 20, ... s while no job ends
# (plugin 2.8.0), i.e. at INIT, 2*INIT + 10, 3*INIT + 30, ... s. Jobs here take 6-15 s (each starts
# Snakemake twice, script jobs also import torch); INIT = 3 sees all of them at the 16 s poll, while
# INIT = 1 sees >12 s jobs only at 33 s (measured: the pipeline test 74-95 s with 1, vs less with 3).
STATUS_INIT_SECONDS = "3"
LOCAL_CLUSTER_ARGS = [
    "--slurm-status-command",
    "squeue",
    "--slurm-init-seconds-before-status-checks",
    STATUS_INIT_SECONDS,
]

# The toy workflow: the two rules the profile configures (both declare a GPU, like the real ones),
# two SLURM stages, and a local aggregation rule. Shell jobs record $SLURM_JOB_ID and the gpu they got.
TOY_SNAKEFILE = textwrap.dedent(
    """\
    SEEDS = [0, 1]

    rule all:
        input:
            "results/tables/summary.csv",
        localrule: True

    rule exact_labels:
        output:
            "results/labels.txt",
        threads: 1
        resources:
            gpu=1,
            mem_mb=500,
            runtime=5,
        shell:
            "echo rule=exact_labels job=${{SLURM_JOB_ID:-none}} gpu={resources.gpu} > {output}"

    rule train:
        input:
            "results/labels.txt",
        output:
            "results/train/seed{seed}.txt",
        threads: 1
        resources:
            gpu=1,
            mem_mb=500,
            runtime=5,
        shell:
            "echo rule=train seed={wildcards.seed} job=${{SLURM_JOB_ID:-none}} gpu={resources.gpu} > {output}"

    rule summarize:
        input:
            expand("results/train/seed{seed}.txt", seed=SEEDS),
        output:
            "results/tables/summary.csv",
        localrule: True
        shell:
            "cat {input} > {output}"
    """
)

FAILING_SNAKEFILE = textwrap.dedent(
    """\
    rule all:
        input:
            "results/never.txt",
        localrule: True

    rule boom:
        output:
            "results/never.txt",
        threads: 1
        resources:
            mem_mb=200,
            runtime=2,
        shell:
            "echo 'boom: failing on purpose' >&2; exit 3"
    """
)

# The node has 2 CPUs and no GPU: ask for no GPU and 1 CPU. On the command line --set-resources and
# --set-threads replace the profile's whole entries (profile values are only defaults for options).
NO_GPU_ARGS = [
    "--set-resources",
    "exact_labels:gpu=0",
    "exact_labels:mem_mb=500",
    "exact_labels:runtime=5",
    "train:gpu=0",
    "train:mem_mb=500",
    "train:runtime=5",
    "--set-threads",
    "exact_labels=1",
    "train=1",
]


def clean_env(**extra: str) -> dict[str, str]:
    """os.environ without a developer's real-cluster settings (AMIPS_SLURM_*, SNAKEMAKE_PROFILE)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("AMIPS_SLURM_") and k != "SNAKEMAKE_PROFILE"
    }
    env.update(extra)
    return env


def _have_snakemake_slurm() -> bool:
    try:
        import snakemake  # noqa: F401
        import snakemake_executor_plugin_slurm  # noqa: F401
    except ImportError:
        return False
    return True


requires_snakemake = pytest.mark.skipif(
    not _have_snakemake_slurm(),
    reason="snakemake and snakemake-executor-plugin-slurm are not installed (pip install -e '.[workflow]')",
)


class SnakemakeRun:
    """``python -m snakemake ARGS`` started in the background, in its own process group.

    ``wait(timeout)`` (seconds since the start) returns (rc, output, seconds). On timeout the whole
    group gets SIGINT, then SIGKILL, and the test fails with the output so far: Snakemake whose status
    queries fail can wait forever instead of exiting.
    """

    def __init__(self, args: list[str], cwd: Path, env: dict[str, str] | None = None) -> None:
        self.cmd = [sys.executable, "-m", "snakemake", *args]
        self.cwd = cwd
        self.log = cwd / f"snakemake-{time.monotonic_ns()}.log"
        self.start = time.monotonic()
        with open(self.log, "w") as fh:
            self.proc = subprocess.Popen(
                self.cmd,
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=fh,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        """SIGINT, then SIGKILL, to the run's process group (only ours: it has its own session)."""
        for sig, grace in ((signal.SIGINT, 15), (signal.SIGKILL, 10)):
            if self.proc.poll() is not None:
                return
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                return
            try:
                self.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                pass

    def wait(self, timeout: float) -> tuple[int, str, float]:
        try:
            rc = self.proc.wait(timeout=max(0.0, self.start + timeout - time.monotonic()))
        except subprocess.TimeoutExpired:
            self.stop()
            pytest.fail(
                f"snakemake did not finish within {timeout} s (hung?)\n"
                f"$ {shlex.join(self.cmd)}\n{self.output()[-8000:]}"
            )
        return rc, self.output(), time.monotonic() - self.start


def run_snakemake(
    args: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 120
) -> tuple[int, str, float]:
    """Run Snakemake to the end (see SnakemakeRun); return (rc, output, seconds)."""
    return SnakemakeRun(args, cwd, env).wait(timeout)


def sbatch_calls(output: str) -> list[str]:
    """The ``sbatch call: ...`` lines that the SLURM plugin logs with --verbose."""
    return [m.group(1) for m in re.finditer(r"sbatch call: (sbatch .*)", output)]


# ------------------------------------------------------------------------------------------------
# No cluster needed
# ------------------------------------------------------------------------------------------------


@requires_snakemake
def test_profile_dry_run_resolves_resources(tmp_path: Path) -> None:
    (tmp_path / "Snakefile").write_text(TOY_SNAKEFILE)
    env = clean_env(
        AMIPS_SLURM_PARTITION="cpuq",
        AMIPS_SLURM_GPU_PARTITION="gpuq",
        AMIPS_SLURM_ACCOUNT="proj123",
        AMIPS_SLURM_GPU_MODEL="a100",
    )
    rc, out, _ = run_snakemake(
        ["--workflow-profile", str(PROFILE), "-n"], cwd=tmp_path, env=env, timeout=120
    )
    assert rc == 0, out
    assert f"Using workflow specific profile {PROFILE}" in out

    # "resources: tmpdir=/tmp, ..., gpu=1, ..." per job, keyed by rule name
    jobs: dict[str, dict[str, str]] = {}
    for m in re.finditer(r"^rule (\w+):\n(.*?)(?=^\S|\Z)", out, flags=re.M | re.S):
        res = re.search(r"^\s+resources: (.*)$", m.group(2), flags=re.M)
        if res:
            jobs[m.group(1)] = dict(kv.split("=", 1) for kv in res.group(1).split(", "))
    assert set(jobs) >= {"exact_labels", "train", "summarize"}, out

    for rule, runtime in (("exact_labels", "60"), ("train", "240")):
        r = jobs[rule]
        assert r["gpu"] == "1", (rule, r)  # -> sbatch --gpus=a100:1
        assert r["gpu_model"] == "a100", (rule, r)
        assert r["cpus_per_gpu"] == "4", (rule, r)  # -> --cpus-per-gpu=4
        assert r["mem_mb"] == "16000", (rule, r)  # profile overrides the rule's 500
        assert r["runtime"] == runtime, (rule, r)
        assert r["slurm_partition"] == "gpuq", (rule, r)
        assert r["slurm_account"] == "proj123", (rule, r)
    plain = jobs["summarize"]
    assert plain["slurm_partition"] == "cpuq", plain
    assert plain["slurm_account"] == "proj123", plain
    assert plain["mem_mb"] == "4000" and plain["runtime"] == "60", plain
    assert "gpu" not in plain, plain


@requires_snakemake
def test_profile_without_env_vars_leaves_partition_and_account_empty(tmp_path: Path) -> None:
    """Unset variables give empty values (cluster default partition, guessed account), not '$VAR'."""
    (tmp_path / "Snakefile").write_text(TOY_SNAKEFILE)
    env = clean_env()
    rc, out, _ = run_snakemake(
        ["--workflow-profile", str(PROFILE), "-n"], cwd=tmp_path, env=env, timeout=120
    )
    assert rc == 0, out
    assert "$AMIPS" not in out and "AMIPS_SLURM" not in out, out
    assert re.search(r"slurm_partition=(,|$)", out, flags=re.M), out
    assert re.search(r"gpu=1, gpu_model=(,|$)", out, flags=re.M), out


# ------------------------------------------------------------------------------------------------
# A real one-node SLURM cluster
# ------------------------------------------------------------------------------------------------


def _cluster_log_tail() -> str:
    parts = []
    for f in ("log/slurmctld.log", "log/slurmd.log", "munge/munged.log"):
        p = SLURM_DIR / f
        if p.exists():
            lines = p.read_text(errors="replace").splitlines()[-20:]
            parts.append(f"--- {p}\n" + "\n".join(lines))
    return "\n".join(parts)


@pytest.fixture(scope="module")
def slurm_cluster():
    """Start the local cluster for this module; always stop it again. Yields the env for clients."""
    if os.environ.get("AMIPS_SKIP_SLURM"):
        pytest.skip("AMIPS_SKIP_SLURM is set")
    if not sys.platform.startswith("linux"):
        pytest.skip("the local SLURM cluster needs Linux")
    if os.geteuid() != 0:
        pytest.skip("the local SLURM cluster needs root (apt-get install slurm-wlm munge, daemons)")
    if not _have_snakemake_slurm():
        pytest.skip("snakemake-executor-plugin-slurm is not installed")

    # One test session at a time per state dir: slurm_up.sh first stops whatever runs there.
    # The kernel drops the lock if this process dies, so a crash leaves no stale lock.
    lock = open(f"{SLURM_DIR}.lock", "w")
    deadline = time.monotonic() + 600
    while True:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() > deadline:
                lock.close()
                pytest.fail(f"another test session holds {SLURM_DIR}.lock for more than 600 s")
            time.sleep(2)

    env = dict(os.environ, AMIPS_SLURM_DIR=str(SLURM_DIR))
    up = ["bash", str(CLUSTER_DIR / "slurm_up.sh")]
    down = ["bash", str(CLUSTER_DIR / "slurm_down.sh")]
    try:
        try:
            res = subprocess.run(
                up, env=env, capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL
            )
        except subprocess.TimeoutExpired as e:
            pytest.fail(f"slurm_up.sh took more than 600 s\n{e.stderr or ''}")
        if res.returncode in (2, 3):
            pytest.skip(f"local SLURM cluster unavailable: {res.stderr.strip()}")
        if res.returncode != 0:
            pytest.fail(f"slurm_up.sh failed (rc {res.returncode}):\n{res.stdout}\n{res.stderr}")
        yield clean_env(
            SLURM_CONF=str(SLURM_DIR / "slurm.conf"),
            PATH=f"{SLURM_DIR / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
        )
    finally:
        try:
            subprocess.run(down, env=env, timeout=120, stdin=subprocess.DEVNULL, check=False)
        finally:
            lock.close()


@pytest.fixture(scope="module")
def toy_and_failing_runs(slurm_cluster: dict[str, str], tmp_path_factory: pytest.TempPathFactory):
    """Start the toy workflow and the failing workflow side by side on the cluster.

    They are independent, and each spends most of its time waiting for the plugin's status polls,
    so running them together saves ~35 s. Each test below waits for its own run.
    """
    toy_dir = tmp_path_factory.mktemp("toy")
    (toy_dir / "Snakefile").write_text(TOY_SNAKEFILE)
    fail_dir = tmp_path_factory.mktemp("failing")
    (fail_dir / "Snakefile").write_text(FAILING_SNAKEFILE)
    runs = {
        "toy": SnakemakeRun(
            ["--workflow-profile", str(PROFILE), *LOCAL_CLUSTER_ARGS, *NO_GPU_ARGS, "--verbose"],
            cwd=toy_dir,
            env=dict(slurm_cluster, AMIPS_SLURM_PARTITION="debug", AMIPS_SLURM_ACCOUNT="root"),
        ),
        "failing": SnakemakeRun(
            ["--workflow-profile", str(PROFILE), *LOCAL_CLUSTER_ARGS, "--retries", "0"],
            cwd=fail_dir,
            env=slurm_cluster,
        ),
    }
    yield runs
    for run in runs.values():
        run.stop()


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_toy_workflow_runs_on_slurm(toy_and_failing_runs: dict[str, SnakemakeRun]) -> None:
    run = toy_and_failing_runs["toy"]
    rc, out, secs = run.wait(timeout=180)
    assert rc == 0, out[-8000:] + "\n" + _cluster_log_tail()

    wd = run.cwd
    labels = (wd / "results/labels.txt").read_text()
    assert re.fullmatch(r"rule=exact_labels job=\d+ gpu=0\n", labels), labels
    for seed in (0, 1):
        line = (wd / f"results/train/seed{seed}.txt").read_text()
        assert re.fullmatch(rf"rule=train seed={seed} job=\d+ gpu=0\n", line), line
    summary = (wd / "results/tables/summary.csv").read_text().splitlines()
    assert len(summary) == 2 and all(s.startswith("rule=train") for s in summary), summary
    # three different SLURM jobs ran the three non-local jobs
    job_ids = set(re.findall(r"job=(\d+)", labels + "\n".join(summary)))
    assert len(job_ids) == 3, job_ids

    calls = sbatch_calls(out)
    assert len(calls) == 3, calls
    for call in calls:
        # partition/account from the env vars through the profile's default-resources
        assert " -p debug" in call and " -A root" in call, call
        assert " --mem 500" in call and " -t 5" in call and "--cpus-per-task=1" in call, call
        assert "--gpus" not in call, call
        assert "--executor slurm-jobstep" in call, call
    print(f"toy workflow on SLURM: {secs:.1f} s\nfirst sbatch call: {calls[0]}")


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_failing_job_makes_snakemake_fail(toy_and_failing_runs: dict[str, SnakemakeRun]) -> None:
    run = toy_and_failing_runs["failing"]
    rc, out, secs = run.wait(timeout=150)
    assert rc != 0, out[-8000:]
    assert re.search(r"SLURM-job '\d+' failed", out), out[-8000:]
    assert not (run.cwd / "results/never.txt").exists()
    # the SLURM log of the failed job is kept and has the rule's stderr
    logs = list((run.cwd / ".snakemake/slurm_logs/rule_boom").glob("*.log"))
    assert logs and "boom: failing on purpose" in logs[0].read_text(errors="replace"), logs
    print(f"failing job reported after {secs:.1f} s")


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_gpu_rules_request_gpus_in_sbatch(slurm_cluster: dict[str, str], tmp_path: Path) -> None:
    """The profile as is (gpu=1) must put --gpus on the sbatch line. The node has no GPU, so a
    stand-in ``sbatch`` first on PATH records its arguments and refuses the job."""
    (tmp_path / "Snakefile").write_text(TOY_SNAKEFILE)
    fake_bin = tmp_path / "fakebin"
    fake_bin.mkdir()
    record = tmp_path / "sbatch_args.txt"
    fake = fake_bin / "sbatch"
    fake.write_text(
        "#!/bin/sh\n"
        f"printf '%s\\n' \"$*\" >> '{record}'\n"
        "echo 'sbatch: error: stand-in sbatch of tests/workflow/test_slurm.py, job not submitted' >&2\n"
        "exit 1\n"
    )
    fake.chmod(0o755)
    env = dict(
        slurm_cluster,
        PATH=f"{fake_bin}{os.pathsep}{slurm_cluster['PATH']}",
        AMIPS_SLURM_PARTITION="debug",
        AMIPS_SLURM_GPU_PARTITION="gpuq",
        AMIPS_SLURM_ACCOUNT="root",
        AMIPS_SLURM_GPU_MODEL="a100",
    )
    rc, out, _ = run_snakemake(
        ["--workflow-profile", str(PROFILE), *LOCAL_CLUSTER_ARGS, "--retries", "0", "--verbose"],
        cwd=tmp_path,
        env=env,
        timeout=120,
    )
    assert rc != 0, out[-8000:]  # the stand-in refused the job
    assert record.exists(), out[-8000:]
    args = record.read_text().splitlines()
    assert args, out[-8000:]
    call = args[0]  # exact_labels, the only job without dependencies
    assert "rule_exact_labels" in call, call
    assert "--gpus=a100:1" in call, call
    assert "--cpus-per-gpu=4" in call, call
    assert "--cpus-per-task" not in call and "--ntasks=" not in call, call
    assert " --mem 16000" in call and " -t 60" in call, call
    assert " -p gpuq" in call and " -A root" in call, call
    print(f"GPU job sbatch arguments: {call.split(' --wrap=')[0]}")


# The tiny config sweeps 2 models x 2 homogenizations x 2 seeds = 8 trainings; on the 2-CPU test node
# that is ~4 rounds of SLURM jobs per stage (3-4 min). Two trainings (one per model) cover the same code.
PIPELINE_SWEEP_OVERRIDE = textwrap.dedent(
    """\
    sweep:
      models: [supportnet, keynet]
      homogenizations: [none]
      seeds: [0]
    extra_sweeps: []
    experiments:
      ivf: {enabled: false}
      router: {enabled: false}
      data_scaling: {enabled: false}
    """
)


def pipeline_on_slurm_command(workdir: Path, extra_configfiles: list[Path] = ()) -> list[str]:
    """Snakemake arguments that run the real pipeline's tiny test config on the local cluster.

    The GPU rules are forced to gpu=0 and 1 CPU (the test node has 2 CPUs and no GPU); everything
    else comes from profiles/slurm. Later config files override keys of earlier ones.
    """
    return [
        "--directory",
        str(workdir),
        "--snakefile",
        str(PIPELINE_SNAKEFILE),
        "--configfile",
        str(PIPELINE_TEST_CONFIG),
        *map(str, extra_configfiles),
        "--workflow-profile",
        str(PROFILE),
        *LOCAL_CLUSTER_ARGS,
        "--set-resources",
        "exact_labels:gpu=0",
        "exact_labels:mem_mb=4000",
        "exact_labels:runtime=30",
        "train:gpu=0",
        "train:mem_mb=4000",
        "train:runtime=30",
        "--set-threads",
        "exact_labels=1",
        "train=1",
        "--retries",
        "0",
    ]


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_pipeline_tiny_config_on_slurm(slurm_cluster: dict[str, str], tmp_path: Path) -> None:
    if not (PIPELINE_SNAKEFILE.exists() and PIPELINE_TEST_CONFIG.exists()):
        pytest.skip(f"needs {PIPELINE_SNAKEFILE} and {PIPELINE_TEST_CONFIG}")
    workdir = tmp_path / "run"
    workdir.mkdir()
    override = tmp_path / "sweep_override.yaml"
    override.write_text(PIPELINE_SWEEP_OVERRIDE)
    rc, out, secs = run_snakemake(
        pipeline_on_slurm_command(workdir, [override]),
        cwd=tmp_path,
        env=slurm_cluster,
        timeout=840,
    )
    assert rc == 0, out[-8000:] + "\n" + _cluster_log_tail()
    summary = workdir / "results/tables/tiny/summary.csv"
    assert summary.exists(), out[-8000:]
    header, *rows = summary.read_text().splitlines()
    assert header.startswith("dataset,task,model,"), header
    models = sorted(r.split(",")[2] for r in rows)
    controls = [f"control: {c}" for c in ("identity", "scalar", "ridge", "blend")]
    assert models == sorted(["keynet", "supportnet", *controls]), rows
    # every non-local job went through sbatch (local rules: aggregate, plot_match_rate, record_provenance, all)
    submitted = re.findall(r"submitted with SLURM jobid \d+ \(log: \S*/slurm_logs/rule_(\w+)/", out)
    assert sorted(submitted) == sorted(
        ["make_dataset", "exact_labels", "train", "train", "evaluate", "evaluate", "controls"]
    ), submitted
    print(f"pipeline tiny config on SLURM: {secs:.1f} s")


def test_every_gpu_rule_of_the_workflow_is_a_gpu_job_of_the_profile() -> None:
    """A rule that asks for ``gpu=1`` must be listed under the profile's set-resources with a GPU and the GPU
    partition; otherwise SLURM would queue it with --gpus on the CPU partition."""
    import yaml

    gpu_rules = set()
    for smk in (REPO / "workflow" / "rules").glob("*.smk"):
        for m in re.finditer(r"^rule (\w+):[^\n]*\n(.*?)(?=^rule |\Z)", smk.read_text(), flags=re.M | re.S):
            if re.search(r"^\s+gpu=1", m.group(2), flags=re.M):
                gpu_rules.add(m.group(1))
    assert {"exact_labels", "train", "list_targets", "scaling_point"} <= gpu_rules
    profile = yaml.safe_load((PROFILE / "config.yaml").read_text())
    for rule in sorted(gpu_rules):
        entry = profile["set-resources"].get(rule)
        assert entry is not None, f"{rule} asks for a GPU but profiles/slurm does not list it"
        assert entry["gpu"] == 1 and "AMIPS_SLURM_GPU_PARTITION" in entry["slurm_partition"], rule
        assert profile["set-threads"][rule] == entry["cpus_per_gpu"], rule
