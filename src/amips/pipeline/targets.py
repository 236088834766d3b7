"""What the workflow makes for a config: the sweep's runs, the figures it skips and why, and every target list.

Plain functions of the (schema-validated) config dict, called by the rules of ``workflow/rules/`` at parse time or
as input functions; paths come from :mod:`amips.pipeline.paths`. ``rule all`` asks for :func:`final_outputs`,
``snakemake publish`` for :func:`published_files`; each experiment's files follow (controls, IVF experiments, data
scaling, index families, what wins).
"""

from __future__ import annotations

from typing import Any

from amips.pipeline.paths import (controls_file, figure_file, index_families_file, ivf_file, list_router_file, run_file,
                                  scaling_file, table_file)
from amips.pipeline.sweeps import TEXT_SOURCES, Skip, plan_runs, sweep_blocks

__all__ = [
    "FIGURES_WITH_TABLE_DATA", "IVF_EXPERIMENTS", "control_files", "control_ivf_files", "control_ivf_names",
    "control_names", "controls_on", "curve_histories", "curve_runs", "dataset_pattern", "datasets", "experiments",
    "figure_files", "final_outputs", "has_learning_curves", "index_family_datasets", "index_family_files",
    "index_family_outputs", "index_family_runs", "is_enabled", "ivf_experiment_enabled", "ivf_experiment_outputs",
    "ivf_experiment_tables", "ivf_hybrid_files", "list_router_files", "provenance_inputs", "published_files",
    "run_files", "run_name", "scaling_baselines", "scaling_config", "scaling_outputs", "scaling_points",
    "scaling_sizes", "skip_lines", "skipped_figures", "skipped_runs", "sweep_runs", "what_wins_curves",
    "what_wins_outputs",
]

FIGURES_WITH_TABLE_DATA = ("match_rate", "compression", "ivf", "router")  # plot rules that also write a CSV


def _plan(config: dict[str, Any], task: str) -> tuple[list[dict[str, Any]], list[Skip]]:
    """The runs and skips of one task's sweep blocks (amips.pipeline.sweeps); none for a task that is off."""
    return plan_runs(config, sweep_blocks(config).get(task, []), task)


def sweep_runs(config: dict[str, Any], task: str = "mips") -> list[dict[str, Any]]:
    """Every (dataset, model, homogenization, fraction, seed) of a task's sweep blocks, once each, as dicts, less
    the skipped ones: runs whose wrapper does not apply to the model, or is a no-op duplicating a ``none`` run."""
    return _plan(config, task)[0]


def skipped_runs(config: dict[str, Any], task: str = "mips") -> list[Skip]:
    """The runs of a task's sweep blocks that are left out, each with its reason."""
    return _plan(config, task)[1]


def skip_lines(config: dict[str, Any]) -> list[str]:
    """One line per skipped run of every task (printed when the workflow starts), each once."""
    return list(dict.fromkeys(skip.line() for task in sweep_blocks(config) for skip in skipped_runs(config, task)))


def datasets(config: dict[str, Any]) -> list[str]:
    """The datasets of the mips sweep blocks, sorted."""
    return sorted({d for block in sweep_blocks(config)["mips"] for d in block["datasets"]})


def dataset_pattern(config: dict[str, Any], text: bool) -> str:
    """Regex matching the names of text datasets (text=True) or of the other datasets; never-matching if none."""
    names = [n for n, d in config["datasets"].items() if (d["source"] in TEXT_SOURCES) == text]
    return "|".join(names) if names else "(?!x)x"


def has_learning_curves(config: dict[str, Any]) -> bool:
    """Whether runs are evaluated during training (a validation split exists), so learning curves can be drawn."""
    return config["labels"]["validation_fraction"] > 0


def run_files(config: dict[str, Any], filename: str, task: str = "mips") -> list[str]:
    """One file of every run of a task."""
    return [run_file(filename, **run) for run in sweep_runs(config, task)]


def curve_runs(config: dict[str, Any]) -> list[dict[str, Any]]:
    """The runs of every task, mips first: those drawn as learning curves."""
    return [run for task in sweep_blocks(config) for run in sweep_runs(config, task)]


def curve_histories(config: dict[str, Any]) -> list[str]:
    """The training history of each run of :func:`curve_runs`, in the same order."""
    return [run_file("history.json", **run) for run in curve_runs(config)]


def control_files(config: dict[str, Any]) -> list[str]:
    """The controls' metrics.json of every dataset (empty when controls are off)."""
    if not controls_on(config):
        return []
    return [controls_file(c, "metrics.json", dataset=d) for d in datasets(config) for c in control_names(config)]


def control_ivf_files(config: dict[str, Any]) -> list[str]:
    """The controls' IVF curves of every dataset (empty when controls or their IVF sweep are off)."""
    if not (controls_on(config) and control_ivf_names(config) and is_enabled(config, "ivf")):
        return []
    return [controls_file("ivf.csv", dataset=d) for d in datasets(config)]


def _fractions(config: dict[str, Any]) -> set[Any]:
    return {run["fraction"] for run in sweep_runs(config, "mips")}


def skipped_figures(config: dict[str, Any]) -> dict[str, str]:
    """Figures this config cannot make, with the reason (recorded in provenance.yaml and printed at start)."""
    skipped = {}
    fractions = _fractions(config)
    if len(fractions) < 2:
        skipped["compression"] = f"needs at least two parameters_fractions in the sweeps, has {len(fractions)}"
    for name in ("ivf", "router"):
        if not is_enabled(config, name):
            skipped[name] = f"experiments.{name}.enabled is false"
    for figure, block in (("ivf_hybrid", "ivf_hybrid"), ("ivf_routers", "list_router"), ("breakeven", "breakeven")):
        if is_enabled(config, block) and not is_enabled(config, "ivf"):
            skipped[figure] = f"experiments.{block} needs experiments.ivf, which is off"
    if not has_learning_curves(config):
        skipped["learning_curves"] = "labels.validation_fraction is 0: runs are not evaluated during training"
    return skipped


def figure_files(config: dict[str, Any]) -> list[str]:
    """The figures this config produces."""
    name = run_name(config)
    figures = ["match_rate"]
    if has_learning_curves(config):
        figures.append("learning_curves")
    if len(_fractions(config)) > 1:
        figures.append("compression")
    figures += [f for f in ("ivf", "router", "convex_diagnostics", "homogenization") if is_enabled(config, f)]
    return [figure_file(f"{f}.png", name) for f in figures] + [
        f for f in ivf_experiment_outputs(config) + scaling_outputs(config) if f.endswith(".png")]


def final_outputs(config: dict[str, Any]) -> list[str]:
    """Everything ``rule all`` makes: tables, figures, the CSVs behind them, provenance.yaml."""
    name = run_name(config)
    figures = figure_files(config)
    outputs = [table_file("summary.csv", name), table_file("summary.md", name), figure_file("provenance.yaml", name)]
    outputs += figures
    outputs += [figure_file(f"{f}.csv", name) for f in FIGURES_WITH_TABLE_DATA  # the numbers behind them
                if figure_file(f"{f}.png", name) in figures]
    if has_learning_curves(config):
        outputs.append(figure_file("learning_curves.csv", name))
    for table in ("ivf", "router"):
        if is_enabled(config, table):
            outputs += [table_file(f"{table}.csv", name), table_file(f"{table}.md", name)]
    if is_enabled(config, "convex_diagnostics"):
        outputs.append(table_file("convex_diagnostics.csv", name))
    outputs += [f for f in scaling_outputs(config) if not f.endswith(".png")]
    outputs += index_family_outputs(config)  # table, Markdown and figure (workflow/rules/index_families.smk)
    outputs += what_wins_outputs(config)  # what wins where (workflow/rules/what_wins.smk)
    return outputs + [f for f in ivf_experiment_outputs(config) if not f.endswith(".png")]


def provenance_inputs(config: dict[str, Any]) -> list[str]:
    """Every final output but provenance.yaml itself: it is recorded last, so its run time covers the whole run."""
    return [f for f in final_outputs(config) if f != figure_file("provenance.yaml", run_name(config))]


def published_files(config: dict[str, Any]) -> list[str]:
    """What `snakemake publish` copies: the run's files of its figures folder, then its tables (runs.csv and the
    final ones) whose names the figures folder does not use (its ivf.csv and router.csv are the curves drawn, kept
    over the tables of the same name)."""
    name = run_name(config)
    outputs = final_outputs(config)
    figures_dir, tables_dir = figure_file("", name), table_file("", name)
    figures = [f for f in outputs if f.startswith(figures_dir)]
    taken = {f.rsplit("/", 1)[1] for f in figures}
    tables = [f for f in outputs + [table_file("runs.csv", name)] if f.startswith(tables_dir)]
    return figures + [f for f in dict.fromkeys(tables) if f.rsplit("/", 1)[1] not in taken]


def experiments(config: dict[str, Any]) -> dict[str, Any]:
    """The config's experiments section."""
    return config["experiments"]


def is_enabled(config: dict[str, Any], experiment: str) -> bool:
    """Whether ``experiments.<experiment>.enabled`` is set."""
    return bool(experiments(config).get(experiment, {})["enabled"])


def run_name(config: dict[str, Any]) -> str:
    """The run's name: its tables and figures go to results/{tables,figures}/<name>/."""
    return config["name"]


# Controls (amips.evaluation.controls) are on unless a config turns them off: every table and figure shows them.
def controls_on(config: dict[str, Any]) -> bool:
    """Whether the controls are fitted and reported."""
    return bool(experiments(config)["controls"]["enabled"])


def control_names(config: dict[str, Any]) -> list[str]:
    """The controls fitted on every dataset."""
    return list(experiments(config)["controls"]["names"])


def control_ivf_names(config: dict[str, Any]) -> list[str]:
    """The controls whose predicted key is also searched in the IVF index."""
    return list(experiments(config)["controls"]["ivf_names"])


# IVF experiments beyond the paper (amips.experiments): hybrid probing, list routers, break-even.
IVF_EXPERIMENTS = ("hybrid", "routers")


def ivf_experiment_enabled(config: dict[str, Any], experiment: str) -> bool:
    """Whether an IVF experiment ('hybrid', 'routers', 'breakeven') runs; all need the IVF baselines."""
    block = {"hybrid": "ivf_hybrid", "routers": "list_router", "breakeven": "breakeven"}[experiment]
    return is_enabled(config, "ivf") and is_enabled(config, block)


def list_router_files(config: dict[str, Any]) -> list[str]:
    """Routing curves of every list router: the LTR baseline and each AMIPS model entry, per dataset and seed."""
    block = experiments(config)["list_router"]
    seeds = [f"seed{seed}" for seed in block["seeds"]]
    names = block.get("datasets", datasets(config))
    routers = ["ltr"] if block["ltr"]["enabled"] else []
    routers += [r for r in ("residual", "ellipsoid") if block.get(r, {})["enabled"]]  # extensions
    files = [list_router_file(router, seed, "routing.csv", dataset=d)
             for router in routers for d in names for seed in seeds]
    homogenization = block["homogenization"]
    return files + [list_router_file(model, homogenization, seed, "routing.csv", dataset=d)
                    for d in names for model in block["models"] for seed in seeds]


def ivf_hybrid_files(config: dict[str, Any]) -> list[str]:
    """ivf_hybrid.csv of every mips run, less those left out by experiments.ivf_hybrid.models / seeds."""
    block = experiments(config)["ivf_hybrid"]
    runs = [run for run in sweep_runs(config, "mips") if run["model"] in block.get("models", [run["model"]])
            and int(run["seed"]) in block.get("seeds", [int(run["seed"])])]
    return [run_file("ivf_hybrid.csv", **run) for run in runs]


def ivf_experiment_tables(config: dict[str, Any]) -> list[str]:
    """The aggregated curves read by the break-even step (those of the enabled IVF experiments)."""
    return [figure_file(f"ivf_{e}.csv", run_name(config)) for e in IVF_EXPERIMENTS if ivf_experiment_enabled(config, e)]


def ivf_experiment_outputs(config: dict[str, Any]) -> list[str]:
    """Figures, CSVs and tables of the enabled IVF experiments."""
    names = [f"ivf_{e}" for e in IVF_EXPERIMENTS if ivf_experiment_enabled(config, e)]
    if ivf_experiment_enabled(config, "breakeven") and names:
        names.append("breakeven")
    return [figure_file(f"{n}.{ext}", run_name(config)) for n in names for ext in ("png", "csv", "md")]


def scaling_config(config: dict[str, Any]) -> dict[str, Any]:
    """Data-scaling settings (amips.experiments.scaling), without ``enabled``; the schema fills in the defaults."""
    return {k: v for k, v in experiments(config)["data_scaling"].items() if k != "enabled"}


def scaling_sizes(cfg: dict[str, Any], dataset: str) -> list[int]:
    """The numbers of training queries n of one dataset (train_queries: a list, or a mapping dataset → list)."""
    sizes = cfg["train_queries"]
    return sizes[dataset] if isinstance(sizes, dict) else sizes


def scaling_points(config: dict[str, Any]) -> list[str]:
    """Every data-scaling point file: models × datasets × n × seeds, and the controls at each (dataset, n)."""
    if not is_enabled(config, "data_scaling"):
        return []
    cfg = scaling_config(config)
    files = []
    for dataset in cfg["datasets"]:
        for n in scaling_sizes(cfg, dataset):
            files += [scaling_file(model, f"n{n}", f"seed{seed}", "point.json", dataset=dataset)
                      for model in cfg["models"] for seed in cfg["seeds"]]
            if cfg["controls"]:
                files.append(scaling_file("controls", f"n{n}", "point.json", dataset=dataset))
    return files


def scaling_baselines(config: dict[str, Any]) -> list[str]:
    """Plain IVF of each data-scaling dataset (the natural query), in the order of the experiment's datasets."""
    return [ivf_file("baselines.csv", dataset=d) for d in scaling_config(config).get("datasets", [])]


def scaling_outputs(config: dict[str, Any]) -> list[str]:
    """The data-scaling table, its figure and the points behind them (none when the experiment is off)."""
    if not is_enabled(config, "data_scaling"):
        return []
    return [figure_file(f"data_scaling.{ext}", run_name(config)) for ext in ("png", "csv", "md")] + [
        figure_file("data_scaling_runs.csv", run_name(config))]


def index_family_datasets(config: dict[str, Any]) -> list[str]:
    """The datasets of the index-family experiment: experiments.index_families.datasets, default every mips-sweep
    dataset; none when it is off."""
    if not is_enabled(config, "index_families"):
        return []
    return list(experiments(config)["index_families"].get("datasets", datasets(config)))


def index_family_runs(config: dict[str, Any]) -> list[dict[str, Any]]:
    """The mips runs searched with their predicted key, less those left out by the models / seeds /
    parameters_fractions filters."""
    block = experiments(config)["index_families"]
    names = set(index_family_datasets(config))
    keep = lambda name, value: value in block[name] if name in block else True
    return [run for run in sweep_runs(config, "mips") if run["dataset"] in names and keep("models", run["model"])
            and keep("seeds", int(run["seed"])) and keep("parameters_fractions", float(run["fraction"]))]


def index_family_files(config: dict[str, Any]) -> list[str]:
    """Every dataset's index-family baselines and every selected run's predicted-key rows."""
    return [index_families_file("baselines.csv", dataset=d) for d in index_family_datasets(config)] + [
        run_file("index_families.csv", **run) for run in index_family_runs(config)]


def index_family_outputs(config: dict[str, Any]) -> list[str]:
    """The aggregated index-family table, its Markdown and its figure (none when the experiment is off)."""
    if not index_family_datasets(config):
        return []
    return [figure_file(f"index_families.{ext}", run_name(config)) for ext in ("csv", "md", "png")]


def what_wins_curves(config: dict[str, Any]) -> list[str]:
    """The aggregated curves the what-wins table compares: IVF (with faiss HNSW), hybrid, list routers, index
    families."""
    curves = [figure_file("ivf.csv", run_name(config))]
    curves += [f for f in ivf_experiment_outputs(config) if f.endswith(".csv") and "breakeven" not in f]
    return curves + [f for f in index_family_outputs(config) if f.endswith(".csv")]


def what_wins_outputs(config: dict[str, Any]) -> list[str]:
    """The what-wins table as CSV and Markdown (none unless experiments.what_wins and experiments.ivf are on)."""
    if not (experiments(config)["what_wins"]["enabled"] and is_enabled(config, "ivf")):
        return []
    return [figure_file(f"what_wins.{ext}", run_name(config)) for ext in ("csv", "md")]
