"""Snakemake adapter for rule benchmarks → benchmarks/run.py (progress lines go to the job's log)."""
import sys
from pathlib import Path

from amips.core.logs import redirect_to_log

redirect_to_log(snakemake.log[0])
sys.stdout = sys.stderr  # the benchmark prints its progress; keep it in the log

sys.path.insert(0, str(Path.cwd()))  # the workflow's working directory is the repository root
from benchmarks.run import main  # noqa: E402

args = ["--out", str(Path(snakemake.output.csv).parent), "--threads", str(snakemake.threads),
        "--only", snakemake.params.only]
if snakemake.params.quick:
    args.append("--quick")
if main(args) != 0:
    raise SystemExit("benchmarks failed; see the log")
