"""Issue 19 item 7: why do retrieval-trained models peak in validation match rate at the first evaluation?

Trains KeyNet-resnet (the medium config's keynet_resnet_retrieval: depth 4, skip every 2nd layer, budget 0.01·m·d,
1200 steps of 1024, warm-up 100, EMA 0.96849) on WordNet-50k labels with variants of the learning rate, the retrieval
term's weight and the number of distinct training queries, evaluating on the validation split every 150 steps, and
writes every evaluation row to a CSV. Usage (after `snakemake --configfile config/medium.yaml
results/wordnet50k/labels/mips/train_queries.npy`):

    python benchmarks/early_peak/run.py --data results/wordnet50k --out benchmarks/results/early_peak
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd

SELECTIONS = {  # name → (select, patience, lr_peak): the recipe (w 0.1), selected on validation, scored on test
    "best_val (match rate)": ("best_val", 0, 0.002),
    "best_val_coverage, patience 3": ("best_val_coverage", 3, 0.002),
    "best_val, patience 3": ("best_val", 3, 0.002),
    "best_val, patience 3, lr 0.0005": ("best_val", 3, 0.0005),
    "best_val_coverage, patience 3, lr 0.0005": ("best_val_coverage", 3, 0.0005),
}
VARIANTS = {  # name → (lr_peak, retrieval weight (0: none), fraction of the distinct training queries)
    "medium (lr 0.002, w 0.1)": (0.002, 0.1, 1.0),
    "lr 0.0005, w 0.1": (0.0005, 0.1, 1.0),
    "lr 0.002, w 0.01": (0.002, 0.01, 1.0),
    "lr 0.002, w 0.1, 25% queries": (0.002, 0.1, 0.25),
    "lr 0.002, no term": (0.002, 0.0, 1.0),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="results/<dataset> with data/ and labels/mips/")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--variants", nargs="*", default=list(VARIANTS))
    parser.add_argument("--steps", type=int, default=1200)
    parser.add_argument("--selections", nargs="*", default=[],
                        help="instead of the variants: train the recipe with these selections (SELECTIONS) and score "
                             "the kept weights on the test split (match rate, IVF coverage at 1–16 probes)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")

    from amips.core.runinfo import configure_torch
    from amips.data.folders import open_labels
    from amips.data.io import load_embeddings
    from amips.index.ivf import build_ivf
    from amips.models import ModelSpec
    from amips.training.retrieval import Partition
    from amips.training.runs import train_arrays
    from amips.training.train import TrainSpec
    from amips.training.validation import selection_eval_fn

    configure_torch(1, "cpu")
    args.out.mkdir(parents=True, exist_ok=True)
    keys = load_embeddings(args.data / "data/keys.npy", "keys")
    labels = open_labels(args.data / "labels/mips", keys, args.data / "data/keys.npy")
    train_q, train_t = labels.split("train")
    val_q, val_t = labels.split("val")
    source = labels.source("train", train_q.shape[0])
    ivf = build_ivf(keys, seed=0)
    ivf.save(args.out / "index.faiss")
    partition = Partition.from_ivf(ivf)
    spec = ModelSpec(kind="keynet", depth=4, wx_inject=2, resnet=True, homogenization="none",
                     parameters_fraction=0.01)
    if args.selections:
        compare_selections(args, keys, labels, train_q, train_t, val_q, val_t, ivf, partition, spec)
        return
    rows = []
    for name in args.variants:
        lr, weight, share = VARIANTS[name]
        sources = np.unique(source)
        keep = np.isin(source, np.random.default_rng(0).permutation(sources)[: int(share * sources.size)])
        q, t = train_q[keep], train_t[keep]
        training = TrainSpec(steps=args.steps, batch_size=1024, lr_peak=lr, warmup_steps=100, eval_every=150,
                             log_every=300, select="last",
                             retrieval={"name": "list_ce", "weight": weight, "temperature": 0.05} if weight else None)
        eval_fn = selection_eval_fn(keys, val_q, val_t, q, t, device="cpu", seed=0, partition=partition)
        t0 = time.perf_counter()
        _, history = train_arrays(keys, q, t, args.out / "model.pt", args.out / "ckpt.pt", spec, training, 0,
                                  eval_fn=eval_fn, partition=partition if weight else None)
        (args.out / "ckpt.pt").unlink(missing_ok=True)
        for record in history:
            if "val_match_rate" in record:
                rows.append({"variant": name, "lr": lr, "weight": weight, "query_share": share,
                             "distinct_queries": int(np.unique(source[keep]).size), **record})
        logging.info("%s: %.0f s", name, time.perf_counter() - t0)
        pd.DataFrame(rows).to_csv(args.out / "early_peak.csv", index=False)
    (args.out / "protocol.json").write_text(json.dumps({"model": spec.to_dict(), "steps": args.steps,
                                                        "batch_size": 1024, "eval_every": 150}, indent=1))


def compare_selections(args, keys, labels, train_q, train_t, val_q, val_t, ivf, partition, spec) -> None:
    """Train the recipe once per selection rule and score the kept weights on the test split (same IVF index)."""
    from amips.evaluation.baselines import model_baselines
    from amips.search import load_mips_model
    from amips.training.runs import train_arrays
    from amips.training.train import TrainSpec
    from amips.training.validation import selection_eval_fn

    test_q, test_t = labels.split("test")
    rows = []
    for name in args.selections:
        select, patience, lr = SELECTIONS[name]
        training = TrainSpec(steps=args.steps, batch_size=1024, lr_peak=lr, warmup_steps=100, eval_every=150,
                             log_every=300, select=select, patience=patience,
                             retrieval={"name": "list_ce", "weight": 0.1, "temperature": 0.05})
        eval_fn = selection_eval_fn(keys, val_q, val_t, train_q, train_t, device="cpu", seed=0, partition=partition)
        t0 = time.perf_counter()
        info, history = train_arrays(keys, train_q, train_t, args.out / "model.pt", args.out / "ckpt.pt", spec,
                                     training, 0, eval_fn=eval_fn, partition=partition)
        seconds = time.perf_counter() - t0
        (args.out / "ckpt.pt").unlink(missing_ok=True)
        model, _ = load_mips_model(args.out / "model.pt", keys)
        record = model_baselines(model, keys, test_q, test_t, ivf, "the recipe's index", "test split")
        row = {"selection": name, "lr": lr, "selected_step": info["selected_step"], "stopped_at_step": info.get("stopped_at_step"),
               "steps_trained": max(h["step"] for h in history), "train_seconds": seconds,
               "test_match_rate": record["model"]["match_rate"]}
        for r in record["ivf"]["rows"]:
            row[f"test_coverage@{r['nprobe']}"] = r["recall@1_probe_g_rank_x"]
            row[f"test_coverage_x@{r['nprobe']}"] = r["recall@1_query"]
        rows.append(row)
        logging.info("%s: %s", name, row)
        out = args.out / "selection.csv"  # rows of earlier invocations kept, the same selection replaced
        earlier = pd.read_csv(out) if out.exists() else pd.DataFrame(columns=["selection"])
        earlier = earlier[~earlier["selection"].isin([r["selection"] for r in rows])]
        pd.concat([earlier, pd.DataFrame(rows)], ignore_index=True).to_csv(out, index=False)


if __name__ == "__main__":
    main()
