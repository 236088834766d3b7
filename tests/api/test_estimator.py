"""amips.Model: the estimator on arrays (fit → predict_keys / search / save / load), and fit_embeddings over it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import amips
from amips.data.io import InputError
from amips.data.sets import structured_embeddings
from amips.estimator import Model, resolve_specs
from amips.fit import fit_embeddings
from amips.index.ivf import IvfFlatIndex
from amips.training.presets import RECOMMENDED_MODEL, RECOMMENDED_TRAINING


@pytest.fixture(scope="module")
def data():
    ds = structured_embeddings(600, 500, 16, seed=0)
    return ds.keys, ds.queries[:400], ds.queries[400:]


def test_fit_predict_search_save_load(tmp_path, data):
    keys, queries, held_out = data
    model = amips.Model(steps=60, batch_size=128).fit(keys, queries)
    assert model.model_spec.depth == RECOMMENDED_MODEL["depth"] and model.model_spec.resnet  # the preset's KeyNet
    assert model.train_spec.steps == 60 and model.info_["num_parameters"] > 0
    predicted, scores = model.predict_keys(held_out)
    assert predicted.shape == held_out.shape and scores.shape == (len(held_out),)
    unit = held_out / np.linalg.norm(held_out, axis=1, keepdims=True)
    assert np.allclose(scores, np.einsum("nd,nd->n", predicted, unit), atol=1e-4)  # Euler: ŝ(x) = ⟨ĝ(x), x⟩
    exhaustive = model.search(held_out, k=3)
    best = np.argmax(predicted @ keys.T, axis=1)
    assert exhaustive.indices.shape == (len(held_out), 3) and (exhaustive.indices[:, 0] == best).mean() > 0.99
    index = model.index_  # the recipe's retrieval term trained on this index
    assert isinstance(index, IvfFlatIndex)
    probed = model.search(held_out, k=1, index=index, probe=index.nlist)  # every list, re-ranked by x: exact
    assert (probed.indices[:, 0] == np.argmax(unit @ keys.T, axis=1)).all()
    model.save(tmp_path / "m.pt")
    loaded = Model.load(tmp_path / "m.pt", keys)
    assert np.array_equal(loaded.predict_keys(held_out)[0], predicted)
    with pytest.raises(InputError, match="keys"):
        Model.load(tmp_path / "m.pt", keys[:-1])


def test_settings_are_checked_and_a_model_must_be_fitted(data):
    with pytest.raises(InputError, match="unknown Model setting"):
        Model(stesp=3)
    with pytest.raises(InputError, match="not trained"):
        Model().predict_keys(data[2])
    spec, train = resolve_specs("supportnet", None, {"depth": 3})
    assert spec.kind == "supportnet" and spec.depth == 3 and train.steps == 2000 and train.warmup_steps == 100
    spec, train = resolve_specs("keynet", "recommended", {})
    assert train.steps == RECOMMENDED_TRAINING["steps"] and train.retrieval is not None


def test_fit_embeddings_is_the_estimator_on_files(tmp_path, data):
    """The file adapter trains exactly the model the estimator trains on the same arrays."""
    keys, queries, _ = data
    np.save(tmp_path / "keys.npy", keys)
    np.save(tmp_path / "queries.npy", queries)
    model_spec, train_spec = resolve_specs("keynet", "recommended", {"steps": 40, "batch_size": 128})
    fit_embeddings(tmp_path / "keys.npy", tmp_path / "queries.npy", tmp_path / "f.pt", model_spec, train_spec,
                   noise_copies=2, with_baselines=False)
    direct = Model.from_specs(model_spec, train_spec, noise_copies=2).fit(keys, queries)
    saved = torch.load(tmp_path / "f.pt", weights_only=True)
    state = direct.model_.state_dict()
    assert all(torch.equal(saved["state_dict"][name], state[name]) for name in state)
    assert (tmp_path / "f.pt.ivf").exists() and saved["data"]["queries"] == str(tmp_path / "queries.npy")
