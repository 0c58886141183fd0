"""Report library: Markdown tables, PNG figures, the benchmark report, cross-experiment
comparison."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from advent.data.labels import get_protocol
from advent.report import plots
from advent.calibration import CalibrationAccumulator
from advent.metrics import summarize
from advent.report.compare import (
    aggregate_metric, experiments_frame, plot_metric_vs_param, read_json_at, run_exp_show,
)
from advent.report.results import FIGURES, load_results, method_label, write_report
from advent.report.tables import aggregate_seeds, method_table

CS = get_protocol("cityscapes19")
SY = get_protocol("synthia16")


def _metrics(miou, road, train=None, sub=None):
    per_class = {c: 50.0 for c in CS.class_names}
    per_class["road"] = road
    per_class["train"] = train
    out = {"mIoU": miou, "pixel_accuracy": 90.0, "per_class_iou": per_class}
    if sub is not None:
        out["mIoU13"] = sub
    return out


def _assert_png(path: Path) -> None:
    assert path.is_file() and path.stat().st_size > 1000
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(path) as im:
        im.verify()
    # atomic_path leaves no temporary behind
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]


# --- tables --------------------------------------------------------------------------------


def test_method_table_values_deltas_and_dropped_classes():
    metrics = {"source_only": _metrics(36.6, 80.0), "AdvEnt": _metrics(43.8, 89.9)}
    md = method_table(metrics, CS, selection="last checkpoint")
    lines = md.splitlines()
    assert "cityscapes19" in lines[0] and "last checkpoint" in lines[0]
    assert "WARNING" not in md
    header = next(l for l in lines if l.startswith("| Method"))
    assert "train" not in header  # None for every method -> dropped
    assert "road" in header and "Δ mIoU" in header
    adv = next(l for l in lines if l.startswith("| AdvEnt"))
    cells = [c.strip() for c in adv.strip("|").split("|")]
    assert cells[1] == "89.9"          # road
    assert "43.8" in cells and "+7.2" in cells
    src = next(l for l in lines if l.startswith("| source_only"))
    assert "+0.0" in src
    assert len(cells) == len(header.strip("|").split("|"))


def test_method_table_subset_none_cells_extra_columns_and_loud_best():
    sy = {c: 40.0 for c in SY.class_names}
    a = {"mIoU": 40.0, "mIoU13": 45.0, "per_class_iou": {**sy, "wall": None}, "calibration": {"ece": 0.1234}}
    b = {"mIoU": 42.5, "mIoU13": 48.0, "per_class_iou": {**sy, "wall": 3.0}, "calibration": {"ece": 0.05}}
    md = method_table({"source_only": a, "MinEnt": b}, SY, selection="best of 60 snapshots",
                      extra_columns=[("calibration.ece", 3)])
    assert "WARNING" in md and "optimistic" in md
    assert "mIoU13" in md and "Δ mIoU13" in md
    minent = next(l for l in md.splitlines() if l.startswith("| MinEnt"))
    assert "+2.5" in minent and "+3.0" in minent and "0.050" in minent
    src = next(l for l in md.splitlines() if l.startswith("| source_only"))
    assert "–" in src and "0.123" in src  # wall is None for source_only only: kept, shown as a dash
    held_out = method_table({"source_only": a}, SY, selection="best on held-out source val")
    assert "WARNING" not in held_out


def test_method_table_errors():
    with pytest.raises(ValueError, match="baseline 'source_only'"):
        method_table({"AdvEnt": _metrics(43.8, 89.9)}, CS)
    assert "Δ" not in method_table({"AdvEnt": _metrics(43.8, 89.9)}, CS, baseline=None)
    with pytest.raises(ValueError, match="outside protocol"):
        method_table({"x": _metrics(40.0, 80.0)}, SY, baseline=None)  # 19-class dict, 16-class protocol


def test_aggregate_seeds_and_table_mean_std():
    runs = [_metrics(41.0, 80.0, sub=1.0), _metrics(42.0, 82.0), _metrics(43.0, 84.0, train=5.0)]
    runs[0]["reliability"] = {"count": [1, 2]}  # lists are dropped
    agg = aggregate_seeds(runs)
    assert agg["mIoU"] == {"mean": 42.0, "std": pytest.approx(1.0), "n": 3}
    assert agg["per_class_iou"]["road"]["mean"] == pytest.approx(82.0)
    assert agg["per_class_iou"]["train"] == {"mean": 5.0, "std": None, "n": 1}
    assert agg["mIoU13"]["n"] == 1
    assert "count" not in agg.get("reliability", {})
    json.dumps(agg, allow_nan=False)
    md = method_table({"source_only": _metrics(36.0, 70.0), "AdvEnt": agg}, CS)
    adv = next(l for l in md.splitlines() if l.startswith("| AdvEnt"))
    assert "42.0 ± 1.0" in adv and "+6.0" in adv
    assert "train" in md.splitlines()[2]  # present in one seed -> column kept
    with pytest.raises(ValueError):
        aggregate_seeds([])


# --- plots ---------------------------------------------------------------------------------


def _calib(ece, shift):
    edges = np.linspace(0, 1, 11).tolist()
    acc = [None] * 5 + [0.5, 0.6, 0.7, 0.8, 0.9]
    conf = [None] * 5 + [0.55, 0.65, 0.75, 0.85, 0.97]
    counts = [0] * 5 + [10, 20, 30, 40, 100]
    ent = (np.arange(20) + shift).tolist()
    return {"ece": ece, "reliability": {"bin_edges": edges, "accuracy": acc, "confidence": conf, "count": counts},
            "entropy_histogram": {"bin_edges": np.linspace(0, 1, 21).tolist(), "count": ent}}


def test_per_class_bars_and_reliability_and_histograms(tmp_path):
    metrics = {"source_only": _metrics(36.6, 80.0),
               "AdvEnt": aggregate_seeds([_metrics(43.0, 89.0), _metrics(44.0, 90.0)])}
    _assert_png(plots.plot_per_class_bars(metrics, CS, tmp_path / "bars.png"))
    cal = {"source_only": _calib(0.12, 0), "AdvEnt": _calib(0.05, 3)}
    _assert_png(plots.plot_reliability(cal, tmp_path / "rel.png"))
    _assert_png(plots.plot_entropy_histograms(cal, cal, tmp_path / "hist.png"))
    with pytest.raises(ValueError, match="MinEnt"):
        plots.plot_per_class_bars(metrics, CS, tmp_path / "x.png", methods=["AdvEnt", "MinEnt"])
    with pytest.raises(ValueError, match="source entropy histograms.*AdvEnt"):
        plots.plot_entropy_histograms({"source_only": cal["source_only"]}, cal, tmp_path / "x.png")
    with pytest.raises(ValueError, match="no methods"):
        plots.plot_reliability({}, tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


def test_confusion_matrices_figure_and_its_errors(tmp_path):
    matrix = np.zeros((CS.num_classes, CS.num_classes), dtype=np.int64)
    matrix[0, 0], matrix[0, 1], matrix[13, 13] = 90, 10, 5  # absent classes: blank rows
    out = plots.plot_confusion_matrices({"source only": matrix, "AdvEnt": matrix.tolist()}, CS,
                                        tmp_path / "cm.png")
    _assert_png(out)
    with pytest.raises(ValueError, match="'AdvEnt' is \\(16, 16\\).*19 classes"):
        plots.plot_confusion_matrices({"AdvEnt": np.ones((16, 16))}, CS, tmp_path / "x.png")
    with pytest.raises(ValueError, match="no pixels"):
        plots.plot_confusion_matrices({"AdvEnt": matrix * 0}, CS, tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


def test_qualitative_grid(tmp_path):
    rng = np.random.default_rng(0)
    imgs = [rng.integers(0, 255, (16, 32, 3), dtype=np.uint8) for _ in range(2)]
    gts = [rng.integers(0, 19, (16, 32)) for _ in range(2)]
    gts[0][0, :] = 255
    preds = {"source_only": gts, "AdvEnt": [g.copy() for g in gts]}
    ents = {m: [rng.random((16, 32)) for _ in range(2)] for m in preds}
    out = plots.plot_qualitative_grid(imgs, gts, preds, CS, tmp_path / "grid.png", entropies=ents,
                                      row_labels=["a", "b"])
    _assert_png(out)
    with Image.open(out) as im:
        assert im.size[0] > im.size[1]  # 6 columns x 2 rows of 2:1 cells
    with pytest.raises(ValueError, match="MinEnt"):
        plots.plot_qualitative_grid(imgs, gts, preds, CS, tmp_path / "g2.png", methods=["MinEnt"])
    with pytest.raises(ValueError, match="entropy maps.*AdvEnt"):
        plots.plot_qualitative_grid(imgs, gts, preds, CS, tmp_path / "g3.png", entropies={"source_only": ents["source_only"]})
    with pytest.raises(ValueError, match="uint8 RGB"):
        plots.plot_qualitative_grid([i.astype(np.float32) - 100 for i in imgs], gts, preds, CS, tmp_path / "g5.png")
    with pytest.raises(ValueError, match="shape"):
        plots.plot_qualitative_grid(imgs, gts, {"m": [gts[0][:8], gts[1]]}, CS, tmp_path / "g4.png")
    # test labels kept at full resolution: maps twice the image size, same aspect ratio
    big = {m: [np.kron(g, np.ones((2, 2), dtype=g.dtype)) for g in gts] for m in ("gt", "AdvEnt")}
    _assert_png(plots.plot_qualitative_grid(imgs, big["gt"], {"AdvEnt": big["AdvEnt"]}, CS,
                                            tmp_path / "g6.png"))
    with pytest.raises(ValueError, match="aspect ratio"):
        plots.plot_qualitative_grid([i[:, :24] for i in imgs], big["gt"], {"AdvEnt": big["AdvEnt"]},
                                    CS, tmp_path / "g7.png")
    with pytest.raises(ValueError, match="ground-truth shape"):
        plots.plot_qualitative_grid(imgs, big["gt"], {"AdvEnt": gts}, CS, tmp_path / "g8.png")


# --- the benchmark report ------------------------------------------------------------------


def _evaluated(root: Path, method: str, seed: int, protocol: str = "cityscapes19",
               selection: str = "last checkpoint", lambda_cp: float = 0.0) -> None:
    """What the evaluate stage leaves in <root>/<method>: details.json and samples.npz."""
    rng = np.random.default_rng(seed)
    n = get_protocol(protocol).num_classes
    details = {"confusion_matrix": {}, "calibration": {}, "selection": {}}
    for split in ("test", "val"):
        matrix = rng.integers(0, 50, (n, n)) + np.eye(n, dtype=np.int64) * 200
        details[split] = {**summarize(matrix, get_protocol(protocol)), "split": split,
                          "protocol": protocol, "selection": selection, "lambda_cp": lambda_cp}
        details["confusion_matrix"][split] = matrix.tolist()
    for domain in ("target_test", "source_train"):
        prob = rng.dirichlet(np.ones(n), size=(1, 8, 8)).transpose(0, 3, 1, 2)
        acc = CalibrationAccumulator()
        acc.update(prob, rng.integers(0, n, (1, 8, 8)))
        details["calibration"][domain] = acc.result()
    details["test"].update(ece=details["calibration"]["target_test"]["ece"],
                           auroc_entropy_wrong=details["calibration"]["target_test"]["auroc_entropy_wrong"])
    (root / method).mkdir(parents=True)
    (root / method / "details.json").write_text(json.dumps(details))
    np.savez(root / method / "samples.npz", image=rng.integers(0, 255, (2, 8, 16, 3), dtype=np.uint8),
             label=rng.integers(0, n, (2, 8, 16)).astype(np.uint8),
             prediction=rng.integers(0, n, (2, 8, 16)).astype(np.uint8),
             entropy=rng.random((2, 8, 16)).astype(np.float16))


def test_report_tables_pseudo_label_section_and_figures(tmp_path):
    _evaluated(tmp_path / "metrics", "source_only", 0)
    _evaluated(tmp_path / "metrics", "minent", 1, lambda_cp=0.2)
    _evaluated(tmp_path / "metrics", "mine", 2)
    (tmp_path / "pseudo.json").write_text(json.dumps({"pseudo_label": {"coverage": 0.7571, "accuracy": 0.8815}}))
    path = write_report(tmp_path / "metrics", tmp_path / "reports", ["source_only", "minent", "mine"],
                        tmp_path / "pseudo.json")
    md = path.read_text()
    test, val = md.split("## Target val")
    details = json.loads((tmp_path / "metrics/minent/details.json").read_text())
    minent = next(l for l in test.splitlines() if l.startswith("| MinEnt + CP |"))
    assert f"{details['test']['mIoU']:.1f}" in minent and f"{details['test']['ece']:.3f}" in minent
    assert "| ece | auroc_entropy_wrong |" in test and "| source only |" in test
    assert "| mine |" in test  # an unknown method keeps its own name
    minent_val = next(l for l in val.splitlines() if l.startswith("| MinEnt + CP |"))
    assert f"{details['val']['mIoU']:.1f}" in minent_val
    assert "Selected 75.7% of target-train pixels" in md and "ground truth: 88.1%" in md
    for name in FIGURES:
        _assert_png(tmp_path / "reports" / name)
        assert f"]({name})" in md
    write_report(tmp_path / "metrics", tmp_path / "r2", ["minent"], tmp_path / "absent.json")
    md = (tmp_path / "r2/results.md").read_text()
    assert "Pseudo-labels" not in md and "Δ mIoU" not in md  # no source only: no deltas


def test_report_refuses_missing_or_incomparable_methods(tmp_path):
    _evaluated(tmp_path, "source_only", 0)
    _evaluated(tmp_path, "minent", 1, selection="best snapshot on held-out target val")
    _evaluated(tmp_path, "advent", 2, protocol="synthia16")
    with pytest.raises(FileNotFoundError, match=r"\['oracle'\]"):
        load_results(tmp_path, ["source_only", "oracle"])
    with pytest.raises(ValueError, match="different model selections"):
        load_results(tmp_path, ["source_only", "minent"])
    with pytest.raises(ValueError, match="different protocols.*synthia16"):
        load_results(tmp_path, ["source_only", "advent"])
    assert method_label("ensemble", 0.2) == "AdvEnt+MinEnt + CP" and method_label("x", None) == "x"


# --- compare -------------------------------------------------------------------------------


def _entry(rev, name, params, metrics, error=None):
    """One revision entry exactly as `dvc exp show --json` (DVC 3.x) prints it."""
    return {
        "rev": rev, "name": name,
        "data": {
            "rev": rev, "timestamp": "2026-01-01T00:00:00",
            "params": {"params.yaml": {"data": params}},
            "metrics": metrics,
            "deps": {"stages/train.py": {"hash": "0" * 32, "size": 1, "nfiles": None}},
            "outs": {}, "meta": {},
        },
        "error": error, "experiments": None,
    }


def _params(lam, seed, method="minent"):
    return {"adapt": {"method": method, "minent": {"lambda_main": lam, "pixel_range": [0.0, 0.3]}, "seed": seed},
            "eval": {"protocol": "cityscapes19"}}


def _m(miou):
    return {"metrics/advent.json": {"data": {"mIoU": miou, "per_class_iou": {"road": 90.0}}}}


def _exp(rev, name, lam, seed, miou, method="minent"):
    return {"revs": [_entry(rev, name, _params(lam, seed, method), _m(miou))], "executor": None, "name": name}


def _exp_show():
    base = "b" * 40
    workspace = _entry("workspace", None, _params(0.002, 1), _m(42.0))  # as after `dvc exp run`
    workspace["data"]["timestamp"] = None
    baseline = _entry(base, "main", _params(0.001, 1), _m(41.0))
    baseline["experiments"] = [
        _exp("1" * 40, "lam2s1", 0.002, 1, 42.0),
        _exp("2" * 40, "lam2s2", 0.002, 2, 44.0),
        _exp("3" * 40, "lam1s2", 0.001, 2, 43.0),
        _exp("4" * 40, "adv", 0.001, 1, 45.0, method="advent"),
        {"revs": [_entry("5" * 40, "queued9", _params(0.002, 9), {})], "name": "queued9",
         "executor": {"state": "queued", "name": "dvc-task",
                      "local": {"root": None, "log": None, "pid": None, "returncode": None, "task_id": "5" * 40}}},
        {"revs": [_entry("6" * 40, "fail7", _params(0.002, 7),
                         {"metrics/advent.json": {"error": {"type": "FileNotFoundError", "msg": "no file"}}},
                         error={"msg": "Experiment run failed", "type": ""})],
         "name": "fail7",
         "executor": {"state": "failed", "name": None,
                      "local": {"root": None, "log": "x.out", "pid": 1, "returncode": 255, "task_id": "6" * 40}}},
    ]
    return [workspace, baseline]


def test_experiments_frame_parses_exp_show():
    df = experiments_frame(_exp_show())
    assert list(df["name"]) == ["main", "lam2s1", "lam2s2", "lam1s2", "adv", "queued9", "fail7"]
    assert set(df["kind"]) == {"baseline", "experiment"}  # workspace left out by default
    row = df.set_index("name").loc["lam2s2"]
    assert row["adapt.minent.lambda_main"] == 0.002 and row["adapt.seed"] == 2
    assert row["metrics/advent.json:mIoU"] == 44.0
    assert row["adapt.minent.pixel_range"] == "[0.0, 0.3]"
    assert row["baseline"] == "b" * 40 and row["state"] == "success"
    failed = df.set_index("name").loc["fail7"]
    assert failed["state"] == "failed" and "Experiment run failed" in failed["error"]
    assert df.set_index("name").loc["queued9"]["state"] == "queued"
    assert "metrics/advent.json:mIoU" in df.attrs["metric_columns"]
    assert "adapt.seed" in df.attrs["param_columns"]
    # The workspace repeats lam2s1's params and metrics: a duplicate, dropped even when included.
    with_ws = experiments_frame(_exp_show(), include_workspace=True)
    assert "workspace" not in set(with_ws["name"]) and "lam2s1" in set(with_ws["name"])
    assert "workspace" in set(experiments_frame(_exp_show(), include_workspace=True, drop_duplicates=False)["name"])
    with pytest.raises(ValueError, match="DVC 3"):
        experiments_frame({"workspace": {}})


def test_aggregate_and_plot_metric_vs_param(tmp_path):
    df = experiments_frame(_exp_show())
    agg = aggregate_metric(df, "metrics/advent.json:mIoU", "adapt.minent.lambda_main", group_by="adapt.method")
    rows = {(r["adapt.method"], r["adapt.minent.lambda_main"]): r for _, r in agg.iterrows()}
    assert set(rows) == {("minent", 0.001), ("minent", 0.002), ("advent", 0.001)}
    assert rows[("minent", 0.002)]["mean"] == pytest.approx(43.0)
    assert rows[("minent", 0.002)]["std"] == pytest.approx(np.std([42.0, 44.0], ddof=1))
    assert rows[("minent", 0.002)]["n"] == 2  # queued and failed runs not counted
    assert rows[("minent", 0.001)]["experiments"] == "main;lam1s2"
    # Without group_by, advent and minent runs at 0.001 are mixed: warned about.
    with pytest.warns(UserWarning, match="adapt.method"):
        aggregate_metric(df, "mIoU", "params.yaml:adapt.minent.lambda_main")
    out = tmp_path / "cmp.png"
    plot_metric_vs_param(df, "mIoU", "adapt.minent.lambda_main", group_by="adapt.method", out_png=out)
    _assert_png(out)
    with pytest.raises(ValueError, match="adapt.minent.lambda_main"):
        aggregate_metric(df, "mIoU", "adapt.minent.lambda")


def _cli_main():
    # In-process (a subprocess would pay the pandas/matplotlib imports again).
    from advent.tools.compare import main
    return main


def test_compare_cli_from_json(tmp_path, capsys):
    dump = tmp_path / "exps.json"
    dump.write_text(json.dumps(_exp_show()))
    out = tmp_path / "rep" / "compare.png"
    main = _cli_main()
    rc = main(["--from-json", str(dump), "--metric", "metrics/advent.json:mIoU",
               "--param", "adapt.minent.lambda_main", "--group-by", "adapt.method", "--out", str(out)])
    assert rc == 0, capsys.readouterr().err
    _assert_png(out)
    csv = (tmp_path / "rep" / "compare.csv").read_text().splitlines()
    assert csv[0] == "adapt.method,adapt.minent.lambda_main,mean,std,n,experiments"
    assert len(csv) == 4
    capsys.readouterr()
    rc = main(["--from-json", str(dump), "--metric", "nope", "--param", "adapt.seed", "--out", str(out)])
    assert rc == 1 and "nope" in capsys.readouterr().err



@pytest.mark.parametrize("dump, message", [
    ({"workspace": {}}, "got dict. Older DVC"),      # DVC 2.x's dict keyed by revision
    ([1, 2], "no 'rev'"),
])
def test_compare_cli_names_a_wrongly_shaped_dump(tmp_path, capsys, dump, message):
    path = tmp_path / "exps.json"
    path.write_text(json.dumps(dump))
    rc = _cli_main()(["--from-json", str(path), "--metric", "m", "--param", "p",
                      "--out", str(tmp_path / "c.png")])
    err = capsys.readouterr().err
    assert rc == 1 and f"{path}: " in err and message in err
    assert not (tmp_path / "c.png").exists()

@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_run_exp_show_on_a_real_repo(tmp_path):
    """The installed DVC prints the format experiments_frame parses (baseline commit only)."""
    pytest.importorskip("dvc")

    def sh(*cmd):
        subprocess.run(cmd, cwd=tmp_path, check=True, capture_output=True)

    sh("git", "init", "-q")
    sh("git", "config", "user.email", "ci@example.invalid")
    sh("git", "config", "user.name", "ci")
    sh(sys.executable, "-m", "dvc", "init", "-q")
    (tmp_path / "params.yaml").write_text("adapt:\n  minent:\n    lambda_main: 0.001\n  seed: 1\n")
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics" / "advent.json").write_text('{"mIoU": 41.5}')
    (tmp_path / "dvc.yaml").write_text(
        "stages:\n  train:\n    cmd: 'true'\n    params: [adapt]\n"
        "    metrics:\n      - metrics/advent.json:\n          cache: false\n"
    )
    sh("git", "add", "-A")
    sh("git", "commit", "-qm", "init")
    df = experiments_frame(run_exp_show(tmp_path))
    assert len(df) == 1 and df.loc[0, "kind"] == "baseline"
    assert df.loc[0, "adapt.minent.lambda_main"] == 0.001
    assert df.loc[0, "metrics/advent.json:mIoU"] == 41.5
    # Other git-tracked outputs are read at the row's rev, not from the workspace.
    (tmp_path / "metrics" / "advent.json").write_text('{"mIoU": 0.0}')
    assert read_json_at(tmp_path, df.loc[0, "rev"], "metrics/advent.json") == {"mIoU": 41.5}
    with pytest.raises(RuntimeError, match="no metrics/none.json at rev"):
        read_json_at(tmp_path, df.loc[0, "rev"], "metrics/none.json")


def test_the_ranking_section_gives_each_splits_miou_or_says_why_not():
    from advent.report.results import ranking_section
    def stats(easy, hard, accuracy):
        return {"rank": {"easy": {"images": 3, "mean_score": 0.07, "mIoU": easy},
                         "hard": {"images": 2, "mean_score": 0.12, "mIoU": hard},
                         "argmax": {"coverage": 1.0, "accuracy": accuracy},
                         "class_balanced": {"coverage": 0.8, "accuracy": accuracy}}}
    text = "\n".join(ranking_section(stats(30.04, 27.91, 0.785)))
    assert "on the easy images: 30.0, on the hard: 27.9" in text
    assert "| argmax (IntraDA) | 100.0% | 78.5% |" in text
    text = "\n".join(ranking_section(stats("no target labels", "no target labels", "no target labels")))
    assert "on the easy images: no target labels, on the hard: no target labels" in text
