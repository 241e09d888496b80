"""The demo end to end on tiny synthetic settings, and the protocols called from Python."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from hclm_ref import demo
from hclm_ref.data import make_synthetic
from hclm_ref.protocols import (
    ablation,
    design_proxies,
    estimate_epochs,
    network_scores,
    repeat,
    saturation,
    superclass_similarity,
    supervised,
    train_network,
    transfer,
)
from hclm_ref.proxies import PROXY_KINDS, make_proxies
from hclm_ref.train import TrainConfig

# an easy image folder (tests/conftest.py) and a network that learns it in 2 epochs
TINY = ["--epochs", "3", "--widths", "4,M,8", "--batch-size", "16", "--quiet"]
TINY_CONFIG = TrainConfig(epochs=1, widths=(4,), batch_size=50)


@pytest.fixture(scope="module")
def tiny():
    return make_synthetic(400, 100, seed=0)


def test_supervised_demo_writes_report_and_figures(tmp_path, colour_folder):
    out = str(tmp_path / "run")
    demo.main(["folder", colour_folder, "--bits", "8,16", "--out", out, *TINY])
    files = set(os.listdir(out))
    assert {"report.md", "results.json", "margins.png", "binarization.png", "pk_pr.png",
            "retrievals.png"} <= files
    rows = json.load(open(os.path.join(out, "results.json")))["Supervised retrieval"]
    assert [(r["method"], r["bits"]) for r in rows] == [
        ("hclm", 8), ("LSH on q(x)", 8), ("ITQ on q(x)", 8), ("hclm", 16), ("LSH on q(x)", 16)]
    assert all(0 <= r["map_stable"] <= 1 and abs(r["map_stable"] - r["map_expected"]) < 0.1 for r in rows)
    assert rows[0]["map_stable"] > 0.5 and "warnings" not in rows[0]      # chance: about 0.1
    report = open(os.path.join(out, "report.md")).read()
    assert "mAP@all (stable)" in report and "![retrievals](retrievals.png)" in report
    # the same --out again is refused, the finished run kept
    before = open(os.path.join(out, "report.md")).read()
    with pytest.raises(SystemExit) as exit_:
        demo.main(["folder", colour_folder, "--bits", "8,16", "--out", out, *TINY])
    assert exit_.value.code == demo.EXIT_BAD_INPUT
    assert open(os.path.join(out, "report.md")).read() == before
    # resume: the checkpoints are reused and the numbers reproduced bit for bit
    demo.main(["folder", colour_folder, "--bits", "8,16", "--out", out, "--resume", *TINY])
    again = json.load(open(os.path.join(out, "results.json")))["Supervised retrieval"]
    assert [r["map_stable"] for r in again] == [r["map_stable"] for r in rows]


def test_ablation_and_transfer_protocols_from_the_cli(tmp_path, colour_folder):
    out = str(tmp_path / "abl")
    demo.main(["folder", colour_folder, "--bits", "16", "--out", out, "--ablation", "--transfer", *TINY,
               "--epochs", "3"])
    results = json.load(open(os.path.join(out, "results.json")))
    rows = results["Ablation: proxy sets (paper Fig. 3)"]
    assert [r["method"] for r in rows] == list(PROXY_KINDS)
    margins = {r["method"]: r["avg_margin"] for r in rows}
    assert margins["tammes"] == pytest.approx(margins["aligned"])      # rotation keeps margins
    assert margins["hclm"] >= margins["hclm-paper"]
    report = open(os.path.join(out, "report.md")).read()
    assert "![ablation-nu](ablation-nu.png)" in report
    assert "the database is the unseen quarter's training images" in report
    rows = results["Transfer to unseen classes (paper Sec. 5.3)"]
    # per split the network and LSH on its 4 features (ITQ needs bits <= features), then means
    assert len(rows) == 4 * 2 + 2 and rows[-2]["method"] == "mean of 4 splits: hclm"
    assert rows[-1]["method"] == "mean of 4 splits: LSH on q(x)"
    assert rows[-2]["map_stable"] == pytest.approx(np.mean([r["map_stable"] for r in rows[0:8:2]]))
    # every split has a checkpoint of its own (two splits hold out the same number of classes)
    assert len([f for f in os.listdir(out) if f.startswith("checkpoint-hclm-split")]) == 4


def test_protocols_run_from_python_without_the_cli(tiny):
    rows, figures = ablation(tiny, bits=8, kinds=("random", "hclm", "hadamard"), config=TINY_CONFIG,
                             progress=False)
    assert [r["method"] for r in rows] == ["random", "hclm", "hadamard"] == list(figures["nu"])
    assert rows[1]["min_dH"] >= rows[0]["min_dH"]
    assert {"val_code_accuracy", "test_accuracy", "sign_accuracy", "map_expected"} <= set(rows[0])
    rows, figures = supervised(tiny, bits=8, config=TINY_CONFIG, progress=False)
    assert rows[0]["method"] == "hclm" and figures["nu"].shape == (100, 8)
    assert set(figures["curves"]) == {"hclm 8 bits", "LSH 8 bits"}
    rows = transfer(tiny, bits=8, config=TINY_CONFIG, progress=False)
    assert 0 <= rows[-1]["probe_accuracy"] <= 1
    assert 1 <= estimate_epochs(tiny, 0.5, TINY_CONFIG) <= 10_000


def test_ablation_refuses_shclm_without_a_second_epoch_before_training_anything(tiny, tmp_path):
    # without super-classes sHCLM is assigned by the network's features after epoch 1: with one
    # epoch no network would train towards those proxies, so nothing is trained at all
    unassigned = tiny._replace(coarse_train=None, coarse_test=None)
    with pytest.raises(ValueError, match="at least 2 epochs"):
        ablation(unassigned, bits=8, kinds=("hclm", "shclm"), config=TINY_CONFIG, out=str(tmp_path),
                 progress=False)
    assert os.listdir(tmp_path) == []
    with pytest.raises(ValueError, match="kinds must be distinct"):
        ablation(tiny, bits=8, kinds=("hclm", "hclm"), config=TINY_CONFIG, progress=False)
    args = demo.parse_args(["--ablation", "--kinds", "hclm, random"])
    assert args.kinds == ("hclm", "random") and demo.parse_args([]).kinds == tuple(PROXY_KINDS)


def test_sign_accuracy_is_the_nearest_proxy_in_hamming_distance(tiny):
    model, _ = train_network(tiny.x_train, tiny.y_train, "hclm", make_proxies("hclm", 10, 8), TINY_CONFIG,
                             progress=False)
    row, _, (nu_q, _) = network_scores(model, tiny)
    codes = np.where(nu_q >= 0, 1, -1)
    distances = (codes[:, None, :] != np.where(model.proxies >= 0, 1, -1)[None]).sum(axis=2)
    assert row["sign_accuracy"] == np.mean(np.argmin(distances, axis=1) == tiny.y_test)
    assert row["test_accuracy"] == np.mean(np.argmax(nu_q @ model.proxies.T, axis=1) == tiny.y_test)
    assert row["binarization_error"] == pytest.approx(np.mean(1 - np.abs(nu_q)))


@pytest.mark.parametrize("protocol,kwargs", [
    (supervised, dict(bits=8)), (ablation, dict(bits=8, kinds=("learned", "hclm"))),
    (saturation, dict(bits=8, scales=(1.0, 8.0))), (transfer, dict(bits=8))])
def test_every_protocol_over_two_seeds(tiny, protocol, kwargs):
    result = repeat(protocol, tiny, (0, 1), config=TINY_CONFIG, progress=False, **kwargs)
    rows = result[0] if isinstance(result, tuple) else result
    assert all(r["seeds"] == 2 and "map_stable_std" in r for r in rows)
    assert any(r["map_stable_std"] > 0 for r in rows)                  # the seeds differ


def test_saturation_trains_one_network_per_constant_scale(tiny, tmp_path):
    rows, figures = saturation(tiny, bits=8, scales=(1.0, 8.0), config=TINY_CONFIG, progress=False,
                               out=str(tmp_path))
    assert [r["scale"] for r in rows] == [1.0, 8.0] and list(figures["nu"]) == ["s = 1", "s = 8"]
    assert sorted(os.listdir(tmp_path)) == ["checkpoint-hclm-s1-8-10.npz", "checkpoint-hclm-s8-8-10.npz"]
    assert rows[0]["binarization_error"] != rows[1]["binarization_error"]
    with pytest.raises(ValueError, match="scales"):
        saturation(tiny, scales=(0.0,), config=TINY_CONFIG)


def test_saturation_from_the_cli(tmp_path, colour_folder):
    out = str(tmp_path / "sat")
    demo.main(["folder", colour_folder, "--bits", "16", "--out", out, *TINY, "--saturation",
               "--scales", "8,d"])
    rows = json.load(open(os.path.join(out, "results.json")))["Saturation against the logit scale "
                                                               "(paper Fig. 4, Eq. 8)"]
    assert [r["scale"] for r in rows] == [8.0, 16.0]
    assert {"saturation.png", "saturation-nu.png"} <= set(os.listdir(out))
    with pytest.raises(SystemExit):
        demo.main(["folder", colour_folder, "--saturation", "--scales", "2,-1"])


def test_shclm_is_assigned_by_the_super_classes(tiny):
    y, coarse = np.array([0, 1, 2, 3, 0, 2]), np.array([0, 0, 1, 1, 0, 1])
    S = superclass_similarity(y, coarse)
    kappa = np.sqrt(2) * 4 / 6                       # mean distance of the one-hot class means
    np.testing.assert_allclose(S, np.where(coarse[:4, None] == coarse[None, :4], 1.0,
                                           np.exp(-2 / (2 * kappa ** 2))))
    W, assigned = design_proxies("shclm", tiny.y_train, 16, coarse=tiny.coarse_train)
    assert assigned
    # classes of one super-class (one shape) got the closest pairs of proxies among the choices
    hclm, _ = design_proxies("hclm", tiny.y_train, 16, coarse=tiny.coarse_train)
    assert sorted(map(bytes, W)) == sorted(map(bytes, hclm))
    from hclm_ref.proxies import assignment_objective
    S = superclass_similarity(tiny.y_train, tiny.coarse_train)
    assert assignment_objective(W, S, np.arange(10)) <= assignment_objective(hclm, S, np.arange(10))
    rows, _ = supervised(tiny, bits=8, proxies="shclm", config=TINY_CONFIG, progress=False)
    assert rows[0]["method"] == "shclm"


def test_a_network_that_does_not_learn_is_reported_and_exits_non_zero(tmp_path, colour_folder):
    out = str(tmp_path / "bad")
    with pytest.raises(SystemExit) as exit_:
        demo.main(["folder", colour_folder, "--bits", "8", "--out", out, *TINY, "--lr", "1000"])
    assert exit_.value.code == demo.EXIT_NOT_LEARNED
    report = open(os.path.join(out, "report.md")).read()
    assert "## Warning: a network did not learn" in report and "chance level" in report


def test_cifar100_preset_on_a_tiny_fake_dataset(tmp_path):
    from test_data import fake_cifar100
    fake_cifar100(str(tmp_path / "data" / "cifar-100-python"), n_train=300, n_test=100)
    args = demo.parse_args(["cifar100"])
    assert list(args.bits) == [16, 32, 64]
    assert args.widths == demo.parse_widths(demo.PRESETS["cifar"]["widths"])
    out = str(tmp_path / "run")
    with pytest.raises(SystemExit) as exit_:          # random pixels: nothing to learn, said so
        demo.main(["cifar100", "--data-dir", str(tmp_path / "data"), "--out", out, "--proxies", "random",
                   "--bits", "8", "--epochs", "2", "--widths", "4,M,8", "--batch-size", "32", "--quiet"])
    assert exit_.value.code == demo.EXIT_NOT_LEARNED
    rows = json.load(open(os.path.join(out, "results.json")))["Supervised retrieval"]
    assert rows[0]["method"] == "random" and rows[0]["bits"] == 8


def test_synthetic_with_a_hundred_classes():
    args = demo.parse_args(["synthetic", "--classes", "100", "--n-train", "300", "--n-test", "50"])
    ds = demo.load_dataset(args)
    assert len(ds.class_names) == 100 and ds.coarse_train.max() <= 19
    # the 100-class preset is the synthetic100 ladder's best rungs; an explicit option still wins
    assert (args.proxies, args.widths, args.epochs) == ("shclm", (32, "M", 64, "M", 128), 24)
    assert demo.parse_args(["synthetic"]).proxies == "hclm"
    assert demo.parse_args(["synthetic", "--classes", "100", "--proxies", "best"]).proxies == "best"
    with pytest.raises(SystemExit):
        demo.parse_args(["synthetic", "--classes", "20"])


def test_multilabel_demo_end_to_end(tmp_path):
    # the plumbing: 3 epochs on 600 images learn little (exit 3 says so); that multi-label
    # training learns is checked on the tagged colour folder below and in test_train
    out = str(tmp_path / "ml")
    try:
        demo.main(["synthetic-multilabel", "--n-train", "600", "--n-test", "100", "--epochs", "3", "--bits",
                   "16", "--widths", "8,M,16", "--batch-size", "32", "--topk", "200", "--out", out,
                   "--quiet"])
    except SystemExit as exit_:
        assert exit_.code == demo.EXIT_NOT_LEARNED
    rows = json.load(open(os.path.join(out, "results.json")))["Supervised retrieval"]
    # the preset's sHCLM: proxies assigned by the tags' co-occurrence (Eq. 21)
    assert [r["method"] for r in rows] == ["shclm", "LSH on q(x)", "ITQ on q(x)"]
    assert all(0 <= r["map_top_stable"] <= 1 and "map_top_expected" in r for r in rows)
    assert 0 <= rows[0]["test_accuracy"] <= 1                        # balanced tag accuracy
    report = open(os.path.join(out, "report.md")).read()
    assert "relevant = sharing a tag" in report and "N = 200" in report and "mAP@top N (stable)" in report


def test_tagged_folder_from_the_cli(tmp_path, colour_folder):
    # the colour folder's images, tagged with their class and "warm" for the first half of the hues
    lines = [f"{c}/{f},{c}" + (";warm" if int(c[-2:]) < 5 else "") for c in sorted(os.listdir(colour_folder))
             for f in sorted(os.listdir(os.path.join(colour_folder, c)))]
    (tmp_path / "tags.csv").write_text("\n".join(lines) + "\n")
    out = str(tmp_path / "tagged")
    demo.main(["folder", colour_folder, "--tags", str(tmp_path / "tags.csv"), "--bits", "16", "--out", out,
               *TINY, "--proxies", "shclm"])
    rows = json.load(open(os.path.join(out, "results.json")))["Supervised retrieval"]
    assert rows[0]["method"] == "shclm" and rows[0]["map_stable"] > 0.3
    with pytest.raises(SystemExit) as exit_:
        demo.main(["synthetic", "--tags", str(tmp_path / "tags.csv"), "--out", str(tmp_path / "x")])
    assert exit_.value.code == demo.EXIT_BAD_INPUT


def test_piped_output_has_one_line_per_epoch_and_no_bar_frames(tmp_path, colour_folder):
    out = str(tmp_path / "log")
    args = [sys.executable, "-m", "hclm_ref.demo", "folder", colour_folder, "--bits", "8", "--out", out,
            *[a for a in TINY if a != "--quiet"]]
    log = subprocess.run(args, capture_output=True, text=True, check=True,
                         cwd=os.path.dirname(os.path.dirname(__file__)))
    text = log.stdout + log.stderr
    assert "\r" not in text
    epochs = int(TINY[TINY.index("--epochs") + 1])
    assert sum(line.startswith("epoch=") for line in text.splitlines()) == epochs
    assert len(text) < 4000


def test_cli_help_and_choices(capsys):
    with pytest.raises(SystemExit):
        demo.main(["--help"])
    assert "--data-dir" in capsys.readouterr().out
    for argv in (["imagenet"], ["folder", "--quiet"]):
        with pytest.raises(SystemExit) as exit_:
            demo.main(argv)
        assert exit_.value.code == demo.EXIT_BAD_INPUT
    assert "PATH" in capsys.readouterr().err


def test_same_seed_same_codes(tiny):
    a, _ = supervised(tiny, bits=8, config=TINY_CONFIG, progress=False)
    b, _ = supervised(tiny, bits=8, config=TINY_CONFIG, progress=False)
    assert [r["map_stable"] for r in a] == [r["map_stable"] for r in b]
    assert np.isfinite(a[0]["test_accuracy"])


def test_fast_training_options_from_the_cli(tmp_path, colour_folder):
    out = str(tmp_path / "fast")
    demo.main(["folder", colour_folder, "--bits", "8", "--out", out, *TINY, "--widths", "W2,4,M,8",
               "--identity-init", "--ema", "0.9", "--translate", "2", "--reflect", "--alternate-flip",
               "--shift", "1"])
    rows = json.load(open(os.path.join(out, "results.json")))["Supervised retrieval"]
    assert rows[0]["map_stable"] > 0.3 and "warnings" not in rows[0]


def test_repeat_over_seeds_gives_mean_and_spread(tiny):
    rows, _ = repeat(ablation, tiny, (0, 1), bits=8, kinds=("random", "hclm"), config=TINY_CONFIG,
                     progress=False)
    single = [ablation(tiny, bits=8, kinds=("random", "hclm"), progress=False,
                       config=TrainConfig(epochs=1, widths=(4,), batch_size=50, seed=s))[0] for s in (0, 1)]
    for i, row in enumerate(rows):
        values = [single[s][i]["map_stable"] for s in (0, 1)]
        assert row["seeds"] == 2 and row["method"] == single[0][i]["method"]
        assert row["map_stable"] == pytest.approx(np.mean(values))
        assert row["map_stable_std"] == pytest.approx(np.std(values, ddof=1))
        assert row["min_dH"] == single[0][i]["min_dH"]            # the proxies' design is shared
    table = demo.format_table(rows)
    assert " ± " in table
    with pytest.raises(ValueError, match="distinct"):
        repeat(ablation, tiny, (1, 1))


def test_cli_seeds(tmp_path, colour_folder):
    out = str(tmp_path / "seeds")
    demo.main(["folder", colour_folder, "--bits", "8", "--out", out, *TINY, "--seeds", "0,1"])
    rows = json.load(open(os.path.join(out, "results.json")))["Supervised retrieval"]
    assert rows[0]["seeds"] == 2 and "map_stable_std" in rows[0]
    assert sorted(os.listdir(out))[-2:] == ["seed-0", "seed-1"]
    assert " ± " in open(os.path.join(out, "report.md")).read()
    os.remove(os.path.join(out, "report.md"))              # an interrupted run: only seed folders
    with pytest.raises(SystemExit):
        demo.main(["folder", colour_folder, "--bits", "8", "--out", out, *TINY, "--seeds", "0,1"])
