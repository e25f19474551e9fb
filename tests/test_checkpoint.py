"""Checkpoints (atomic, weights_only, keep-K, refusals) and exported inference weights."""

from __future__ import annotations

import json
import os
import pickle
import random

import numpy as np
import pytest
import torch
from helpers.models import Exploit

from framegen.core.errors import InputError
from framegen.core.models.export import ExportMetadata, export_model, load_exported
from framegen.core.models.registry import build_generator
from framegen.core.training.checkpoint import CheckpointSaver, load_checkpoint, restore_rng, rng_state, save_checkpoint

TINY = {"width": 0.125, "refiner_depth": 4}


def test_roundtrip_is_plain_tensors_and_values(tmp_path):
    model = torch.nn.Linear(3, 2)
    save_checkpoint(tmp_path / "c.pt", {"arch": "mipal", "step": 7, "model": model.state_dict(), "rng": rng_state()})
    raw = torch.load(tmp_path / "c.pt", weights_only=True)  # readable without trusting the file
    assert raw["step"] == 7
    state = load_checkpoint(tmp_path / "c.pt", arch="mipal")
    torch.testing.assert_close(state["model"]["weight"], model.weight.detach())
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]  # no temporary file left behind


def test_rng_state_restores_every_generator():
    state = rng_state()
    first = (torch.rand(3), np.random.rand(3), random.random())
    restore_rng(state)
    second = (torch.rand(3), np.random.rand(3), random.random())
    torch.testing.assert_close(first[0], second[0])
    assert np.array_equal(first[1], second[1]) and first[2] == second[2]


def test_refuses_other_arch_truncated_and_foreign_files(tmp_path):
    path = tmp_path / "c.pt"
    save_checkpoint(path, {"arch": "flowgan", "step": 1, "weights": torch.zeros(1000)})
    with pytest.raises(InputError, match="arch 'flowgan', not 'mipal'"):
        load_checkpoint(path, arch="mipal")
    data = path.read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="truncated or corrupt"):
        load_checkpoint(tmp_path / "cut.pt")
    torch.save({"step": 1}, tmp_path / "other.pt")
    with pytest.raises(InputError, match="not a framegen checkpoint"):
        load_checkpoint(tmp_path / "other.pt")
    with pytest.raises(InputError, match="no such checkpoint"):
        load_checkpoint(tmp_path / "missing.pt")


@pytest.mark.parametrize("writer", ["torch.save", "pickle.dump"])
def test_refuses_a_pickle_that_runs_code_without_running_it(tmp_path, writer):
    marker = tmp_path / "exploited"
    path = tmp_path / "evil.pt"
    payload = {"format": "framegen/checkpoint", "format_version": 1, "arch": "mipal", "x": Exploit(marker)}
    if writer == "torch.save":
        torch.save(payload, path)
    else:
        path.write_bytes(pickle.dumps(payload, protocol=2))
    with pytest.raises(InputError, match="refusing to unpickle"):
        load_checkpoint(path)
    assert not marker.exists()
    pickle.loads(pickle.dumps(Exploit(tmp_path / "proof")))  # the payload is real: plain unpickling runs it
    assert (tmp_path / "proof").exists()


def test_saver_keeps_k_and_links_last_and_best(tmp_path):
    saver = CheckpointSaver(tmp_path / "checkpoints", keep=2)
    for step in range(1, 5):
        saver.save({"arch": "mipal", "step": step}, step, is_best=step == 2)
    names = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    assert names == ["best.pt", "last.pt", "step-00000003.pt", "step-00000004.pt"]
    assert load_checkpoint(saver.last)["step"] == 4
    assert load_checkpoint(saver.best)["step"] == 2
    assert os.path.samefile(saver.last, tmp_path / "checkpoints" / "step-00000004.pt")  # a link, not a copy


@pytest.fixture
def exported(tmp_path):
    torch.manual_seed(0)
    model = build_generator("mipal", TINY)
    metadata = ExportMetadata(validation={"psnr": 30.0, "ssim": 0.9, "ms_ssim": 0.95}, recipe={"step": 3})
    export_model(tmp_path / "export", "mipal", TINY, model.state_dict(), metadata)
    return tmp_path / "export", model.eval()


def test_exported_weights_load_back_the_same_model(exported):
    folder, model = exported
    frame0, frame1, times = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32), torch.tensor([[0.3, 0.6]])
    with torch.no_grad():
        expected = model(frame0, frame1, times)
    for path in (folder, folder / "model.json", folder / "model.safetensors"):
        loaded, info = load_exported(path)
        assert not loaded.training and info.arch == "mipal" and info.metadata.validation["psnr"] == 30.0
        with torch.no_grad():
            torch.testing.assert_close(loaded(frame0, frame1, times), expected)
    data = json.loads((folder / "model.json").read_text())
    assert data["schema"] == "framegen/model" and data["metadata"]["beats_flow"] is None


def test_load_exported_refuses_bad_exports(exported):
    folder, _ = exported
    meta = json.loads((folder / "model.json").read_text())
    (folder / "model.json").write_text(json.dumps(meta | {"config": TINY | {"width": 0.25}}))
    with pytest.raises(InputError, match="do not match arch 'mipal'"):
        load_exported(folder)
    (folder / "model.json").write_text(json.dumps(meta | {"arch": "nope"}))
    with pytest.raises(InputError, match="unknown arch 'nope'"):
        load_exported(folder)
    (folder / "model.json").write_text(json.dumps(meta))
    data = (folder / "model.safetensors").read_bytes()
    (folder / "model.safetensors").write_bytes(data[: len(data) // 3])
    with pytest.raises(InputError, match="truncated or corrupt"):
        load_exported(folder)
    (folder / "model.safetensors").unlink()
    with pytest.raises(InputError, match="no such file"):
        load_exported(folder)
