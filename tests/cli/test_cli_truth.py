"""The command line tells the truth (issue 21): fit's defaults are the measured recipe, a no-op wrapper is named,
fit and evaluate print the baselines a model must beat, evaluate names what it scored and takes the official
conventions, a parameter count above the budget is explained."""

from __future__ import annotations

import json

import numpy as np
import pytest

from amips.cli import _model_spec, _train_spec, build_parser
from amips.cli.options import retrieval_term
from amips.training.presets import PRESETS
from clitools import make_data, run

SMALL_FIT = ("--steps", "40", "--eval-every", "20", "--threads", "1")


def _parse_fit(*argv: str):
    return build_parser().parse_args(["fit", "--keys", "k.npy", "--queries", "q.npy", "--out", "m.pt", *argv])


def test_fit_defaults_are_the_recommended_recipe():
    args = _parse_fit()
    spec, training = _model_spec(args), _train_spec(args)
    recipe = PRESETS["recommended"]
    assert (spec.kind, spec.resnet, spec.homogenization) == ("keynet", True, "none")
    assert {k: getattr(spec, k) for k in recipe["model"]} == recipe["model"]
    assert (training.steps, training.batch_size, training.lr_peak, training.warmup_steps) == (1200, 1024, 0.002, 100)
    assert (training.select, training.patience) == ("best_val", 3)
    assert retrieval_term(args) == {"name": "list_ce", "weight": 0.1, "temperature": 0.05}


def test_recommended_supportnet_is_radial_and_not_resnet():
    spec = _model_spec(_parse_fit("--model", "supportnet"))
    assert (spec.homogenization, spec.resnet, spec.depth) == ("radial", False, 4)


def test_preset_none_gives_the_plain_defaults_and_explicit_options_win():
    args = _parse_fit("--preset", "none")
    assert retrieval_term(args) is None and _model_spec(args).resnet is False
    assert _train_spec(args).steps == 2000
    args = _parse_fit("--retrieval", "none", "--steps", "50")
    assert retrieval_term(args) is None
    assert _train_spec(args).warmup_steps == 2  # the preset's 100 warm-up steps exceed the 50 typed: 5 %
    assert retrieval_term(_parse_fit("--retrieval-weight", "0.5"))["weight"] == 0.5


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("truth")
    make_data(root / "d", num_keys=400, num_queries=300, dim=16)
    make_data(root / "held", num_keys=400, num_queries=120, dim=16, seed=5)
    held = np.load(root / "held" / "queries.npy")
    np.save(root / "held_queries.npy", held)
    return root


@pytest.fixture(scope="module")
def fitted(data):
    """fit with the recommended recipe (shortened), its printed output and the model file."""
    import io
    from contextlib import redirect_stderr, redirect_stdout

    from amips.cli import main

    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(["fit", "--keys", str(data / "d/keys.npy"), "--queries", str(data / "d/queries.npy"),
                     "--out", str(data / "m.pt"), *SMALL_FIT])
    assert code == 0, err.getvalue()
    return out.getvalue(), err.getvalue()


def test_fit_prints_the_baselines_on_the_validation_split(fitted, data):
    out, _ = fitted
    assert "baselines on the same 90 queries (the validation split)" in out
    assert "x, the query itself            1.0000" in out
    assert (data / "m.pt.ivf").exists(), "the recommended recipe's retrieval term saves its index"
    assert "IVF, 20 lists (the retrieval term's, saved as" in out
    assert "verdict:" in out.splitlines()[-1]


def test_fit_explains_a_budget_it_exceeds(fitted):
    out, _ = fitted
    assert "note:" in out and "official budget rule" in out and "--budget-rule exact" in out


def test_fit_caps_a_preset_batch_to_the_training_rows(fitted):
    _, err = fitted
    assert "exceeds the" in err and "training on batches of all" in err


def test_fit_warns_about_a_no_op_wrapper(data, tmp_path, capsys):
    res = run(capsys, "fit", "--keys", data / "d/keys.npy", "--queries", data / "d/queries.npy", "--out",
              tmp_path / "r.pt", "--homogenization", "radial", "--retrieval", "none", "--no-baselines", *SMALL_FIT)
    assert res.code == 0, res.err
    warnings = [line for line in res.err.splitlines() if "does nothing" in line]
    assert len(warnings) == 1 and "--homogenization radial" in warnings[0] and "||x|| = 1" in warnings[0]
    assert "baselines" not in res.out


def test_evaluate_names_what_it_scored_and_warns_on_training_queries(fitted, data, capsys):
    train = run(capsys, "evaluate", "--model", data / "m.pt", "--keys", data / "d/keys.npy", "--queries",
                data / "d/queries.npy", "--no-baselines")
    assert train.code == 0, train.err
    assert train.out.startswith("scored: the TRAINING queries of")
    assert "was trained from" in train.err
    held = run(capsys, "evaluate", "--model", data / "m.pt", "--keys", data / "d/keys.npy", "--queries",
               data / "held_queries.npy", "--ivf-index", data / "m.pt.ivf")
    assert held.code == 0, held.err
    assert held.out.startswith("scored: the queries of") and "trained from" not in held.err
    assert f"IVF, 20 lists (--ivf-index {data / 'm.pt.ivf'})" in held.out


def test_evaluate_baselines_equal_a_brute_force_count(fitted, data, tmp_path, capsys):
    """Each printed IVF number recounted by hand: lists from the index's centroids, probes by inner product."""
    from amips.index.ivf import load_ivf
    from amips.search import load_mips_model
    from amips.evaluation.evaluate import predict

    out = tmp_path / "e.json"
    res = run(capsys, "evaluate", "--model", data / "m.pt", "--keys", data / "d/keys.npy", "--queries",
              data / "held_queries.npy", "--ivf-index", data / "m.pt.ivf", "--out", out, "--quiet")
    assert res.code == 0, res.err
    record = json.loads(out.read_text())
    keys = np.load(data / "d/keys.npy")
    queries = np.load(data / "held_queries.npy").astype(np.float64)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    top1 = (queries @ keys.T.astype(np.float64)).argmax(axis=1)
    ivf = load_ivf(data / "m.pt.ivf")
    centroids = ivf.index.quantizer.reconstruct_n(0, ivf.nlist).astype(np.float64)
    model, _ = load_mips_model(data / "m.pt", keys)
    pred = predict(model, queries.astype(np.float32))[1][:, 0].astype(np.float64)
    true_list = ivf.key_list[top1]

    def probed(vectors: np.ndarray, p: int) -> tuple[np.ndarray, float]:
        """The p lists of largest centroid score, and the share of queries whose p-th and (p+1)-th scores are within
        float32 rounding (faiss may order those either way on another CPU's kernels)."""
        scores = vectors @ centroids.T
        order = np.argsort(-scores, axis=1, kind="stable")
        ranked = np.take_along_axis(scores, order, axis=1)
        ambiguous = (ranked[:, p - 1] - ranked[:, p] < 1e-5) if p < ranked.shape[1] else np.zeros(len(scores), bool)
        return order[:, :p], float(ambiguous.mean())

    for row in record["baselines"]["ivf"]["rows"]:
        p = row["nprobe"]
        (by_x, ax), (by_g, ag) = probed(queries, p), probed(pred, p)
        assert row["recall@1_query"] == pytest.approx((by_x == true_list[:, None]).any(axis=1).mean(), abs=ax + 1e-9)
        assert row["recall@1_probe_g_rank_x"] == pytest.approx((by_g == true_list[:, None]).any(axis=1).mean(),
                                                                 abs=ag + 1e-9)
        scanned = ivf.list_sizes[by_x].sum(axis=1).mean()
        assert row["flops_query"] == pytest.approx(2 * keys.shape[1] * (ivf.nlist + scanned))
    assert record["baselines"]["query_itself"]["match_rate"] == 1.0
    assert record["baselines"]["model"]["match_rate"] == pytest.approx(record["match_rate"])


def test_evaluate_official_conventions(tmp_path, capsys):
    """Duplicate keys: strict rank ties count no equal key ahead, the labels' order counts the lower index."""
    from amips.cli import main

    rng = np.random.default_rng(0)
    base = rng.normal(size=(50, 8)).astype(np.float32)
    keys = np.concatenate([base, base])  # every key twice
    queries = rng.normal(size=(60, 8)).astype(np.float32)
    np.save(tmp_path / "k.npy", keys)
    np.save(tmp_path / "q.npy", queries)
    assert main(["fit", "--keys", str(tmp_path / "k.npy"), "--queries", str(tmp_path / "q.npy"), "--out",
                 str(tmp_path / "m.pt"), "--preset", "none", "--steps", "20", "--batch-size", "16", "--width", "8",
                 "--depth", "2", "--no-baselines", "--quiet"]) == 0
    capsys.readouterr()
    records = {}
    for name, extra in {"amips": (), "official": ("--preset", "official"),
                        "override": ("--preset", "official", "--rank-ties", "index", "--recall-at-1pct", "ceil")}.items():
        out = tmp_path / f"{name}.json"
        assert main(["evaluate", "--model", str(tmp_path / "m.pt"), "--keys", str(tmp_path / "k.npy"), "--queries",
                     str(tmp_path / "q.npy"), "--no-baselines", "--out", str(out), "--quiet", *extra]) == 0
        records[name] = json.loads(out.read_text())
    printed = capsys.readouterr().out
    assert "rank ties strict, recall@1% over floor(0.01·m)" in printed
    assert (records["official"]["rank_ties"], records["official"]["recall_at_1pct"]) == ("strict", "floor")
    assert (records["override"]["rank_ties"], records["override"]["recall_at_1pct"]) == ("index", "ceil")
    assert records["override"]["mrr"] == records["amips"]["mrr"]
    assert records["official"]["mrr"] >= records["amips"]["mrr"]  # a tied copy is never ahead under strict


def test_budget_note_names_the_rule():
    from amips.models.sizing import budget_note

    assert budget_note(1000, 990, "official") is None
    assert "rectangular_dims" in budget_note(337_312, 192_000, "official")
    assert "exact budget rule" in budget_note(50, 10, "exact")


def test_baselines_refuse_a_router():
    from amips.evaluation.baselines import model_baselines

    class Router:
        num_outputs = 3

    with pytest.raises(ValueError, match="MIPS model"):
        model_baselines(Router(), np.zeros((4, 2)), np.zeros((2, 2)), np.zeros((2, 3), int), None, "", "")


def test_predict_keys_in_python_has_the_shapes_of_amips_predict(fitted, data, tmp_path, capsys):
    import amips

    out = tmp_path / "p.npz"
    res = run(capsys, "predict", "--model", data / "m.pt", "--queries", data / "held_queries.npy", "--out", out)
    assert res.code == 0, res.err
    written = np.load(out)
    model = amips.load_model(data / "m.pt")
    keys, scores = amips.predict_keys(model, np.load(data / "held_queries.npy"))
    assert keys.shape == written["keys"].shape == (120, 16) and scores.shape == written["scores"].shape == (120,)
    np.testing.assert_array_equal(keys, written["keys"])
    from_file = amips.predict_keys(data / "m.pt", data / "held_queries.npy")[0]
    np.testing.assert_array_equal(from_file, keys)
    import torch

    assert model.predict(torch.from_numpy(np.load(data / "held_queries.npy")[:3]))[1].shape == (3, 1, 16)


def test_generate_writes_held_out_queries_from_the_same_generator(tmp_path, capsys):
    from amips.data.manifest import verify_manifest

    res = run(capsys, "generate", "--num-keys", 300, "--num-queries", 100, "--held-out", 40, "--dim", 8,
              "--out", tmp_path / "d")
    assert res.code == 0 and "100 queries + 40 held-out queries" in res.out
    run(capsys, "generate", "--num-keys", 300, "--num-queries", 140, "--dim", 8, "--out", tmp_path / "all")
    together = np.load(tmp_path / "all/queries.npy")
    np.testing.assert_array_equal(np.load(tmp_path / "d/queries.npy"), together[:100])
    np.testing.assert_array_equal(np.load(tmp_path / "d/held_out_queries.npy"), together[100:])
    assert "held_out_queries.npy" in verify_manifest(tmp_path / "d", "dataset").files


def test_fit_selects_on_the_list_coverage(data, tmp_path, capsys):
    res = run(capsys, "fit", "--keys", data / "d/keys.npy", "--queries", data / "d/queries.npy", "--out",
              tmp_path / "c.pt", "--select", "best_val_coverage", "--no-baselines", *SMALL_FIT)
    assert res.code == 0, res.err
    assert "list coverage on validation" in res.out
    refused = run(capsys, "fit", "--keys", data / "d/keys.npy", "--queries", data / "d/queries.npy", "--out",
                  tmp_path / "n.pt", "--select", "best_val_coverage", "--retrieval", "none", *SMALL_FIT)
    assert refused.code == 2 and "best_val_coverage needs a retrieval term" in refused.err


def test_verdict_compares_at_equal_flops():
    from amips.evaluation.baselines import verdict

    rows = [{"nprobe": 1, "recall@1_query": 0.90, "recall@1_probe_g_rank_x": 0.95, "flops_query": 100.0,
             "flops_g": 150.0},
            {"nprobe": 2, "recall@1_query": 0.97, "recall@1_probe_g_rank_x": 0.99, "flops_query": 150.0,
             "flops_g": 200.0}]
    line = verdict({"query_itself": {"match_rate": 1.0}, "ivf": {"rows": rows}}, 0.8)
    assert "-0.2000 match rate" in line and "ahead at the same nprobe 1, 2" in line
    # ĝ at nprobe 1 (150 FLOPs, 0.95) vs x at nprobe 2 (150 FLOPs, 0.97): behind; nprobe 2 (200) vs 0.97: ahead
    assert "at equal FLOPs (x's best within ĝ's FLOPs, network included) ahead at nprobe 2 (-0.0200 at nprobe 1)" in line


def test_evaluate_says_when_the_wrapper_does_nothing(fitted, data, tmp_path, capsys):
    model = tmp_path / "radial.pt"
    assert run(capsys, "fit", "--keys", data / "d/keys.npy", "--queries", data / "d/queries.npy", "--out", model,
               "--homogenization", "radial", "--retrieval", "none", "--no-baselines", *SMALL_FIT).code == 0
    capsys.readouterr()
    res = run(capsys, "evaluate", "--model", model, "--keys", data / "d/keys.npy", "--queries",
              data / "held_queries.npy", "--no-baselines", "--out", tmp_path / "e.json")
    assert res.code == 0, res.err
    assert "note: homogenization radial does nothing for this keynet on these unit-norm queries" in res.out
    assert json.loads((tmp_path / "e.json").read_text())["homogenization_noop"] is True
    plain = run(capsys, "evaluate", "--model", data / "m.pt", "--keys", data / "d/keys.npy", "--queries",
                data / "held_queries.npy", "--no-baselines")
    assert "does nothing" not in plain.out


def test_an_ivf_index_over_other_keys_is_refused_by_evaluate(fitted, data, tmp_path, capsys):
    """fit --ivf-index, evaluate --ivf-index and search --index share one check: the stored keys, bit for bit."""
    from amips.index.ivf import build_ivf

    keys = np.load(data / "d/keys.npy")
    build_ivf(keys[::-1].copy(), seed=0).save(tmp_path / "other.ivf")  # same shape, other rows
    res = run(capsys, "evaluate", "--model", data / "m.pt", "--keys", data / "d/keys.npy", "--queries",
              data / "held_queries.npy", "--ivf-index", tmp_path / "other.ivf")
    assert res.code == 2 and f"--ivf-index {tmp_path / 'other.ivf'}: built over other keys than --keys" in res.err
