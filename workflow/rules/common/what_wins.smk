# Config, inputs and outputs of the what-wins table (workflow/rules/what_wins.smk; included by ../common.smk after
# index_families.smk): every aggregated curve of the IVF experiments and of the index families.
WHAT_WINS = EXPERIMENTS.get("what_wins", {})


def get_what_wins_curves(wildcards=None):
    """The aggregated curves the table compares: IVF (with faiss HNSW), hybrid, list routers, index families."""
    curves = [f"{FIGURES_DIR}/ivf.csv"]
    curves += [f for f in get_ivf_experiment_outputs() if f.endswith(".csv") and "breakeven" not in f]
    curves += [f for f in get_index_family_outputs() if f.endswith(".csv")]
    return curves


def get_what_wins_outputs():
    """The table as CSV and Markdown (none unless experiments.what_wins and experiments.ivf are on)."""
    if not (WHAT_WINS.get("enabled", False) and is_enabled("ivf")):
        return []
    return [f"{FIGURES_DIR}/what_wins.{ext}" for ext in ("csv", "md")]
