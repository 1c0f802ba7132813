"""Metrics of runs from what training code writes (git_data.log's metrics.jsonl, MLflow,
TensorBoard event files), `git data runs --metric/--sort/--json`, `compare` (text and an
offline HTML page rendered by headless Chromium), `mlflow` (read back through MlflowClient)
and `tensorboard` (the fetched files read by tensorboard's own reader). Real runs on the
`local` host, a local-folder store, real mlflow and tensorboard packages."""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest
from conftest import Repo
from test_runner_local import make_project, one_error_line, store_dir

TRAIN = """\
import os, sys, pathlib, time
import git_data
out = pathlib.Path(os.environ["GIT_DATA_RUN_OUTPUT"])
lr = float(sys.argv[1])
for step in range(20):
    git_data.log(step=step, loss=lr * (20 - step), acc=step / 20)
import mlflow
with mlflow.start_run():
    mlflow.log_param("batch", "32")
    for step in range(10):
        mlflow.log_metric("val_loss", lr / (step + 1), step=step)
    (out / "note.txt").write_text("an artifact")
    mlflow.log_artifact(str(out / "note.txt"))
from tensorboard.compat.proto import event_pb2, summary_pb2
from tensorboard.summary.writer.event_file_writer import EventFileWriter
for part, scale in (("train", 1.0), ("validation", 2.0)):
    writer = EventFileWriter(str(out / "tb" / part))
    for step in range(5):
        value = summary_pb2.Summary.Value(tag="epoch_loss", simple_value=scale * lr * (5 - step))
        writer.add_event(event_pb2.Event(wall_time=time.time(), step=step,
                                         summary=summary_pb2.Summary(value=[value])))
    writer.close()
"""


@pytest.fixture
def two_runs(team: tuple[Repo, Path]) -> Repo:
    """Runs 1 (lr 0.1) and 2 (lr 0.2) of TRAIN, both ended."""
    project = make_project(team)
    project.write("train.py", TRAIN.encode())
    project.commit_all("train with metrics")
    project.data("run", "--grid", "lr=0.1,0.2", "--", "python3", "train.py", "{lr}")
    return project


def runs_json(repo: Repo, *args: str) -> list[dict[str, Any]]:
    return list(json.loads(repo.data("runs", "--json", *args).stdout))


def test_metrics_and_params_from_every_source(two_runs: Repo, team: tuple[Repo, Path]
                                              ) -> None:
    entries = {r["id"]: r for r in runs_json(two_runs)}
    one = entries[1]
    assert one["status"] == "succeeded"
    assert one["params"] == {"lr": "0.1", "batch": "32"}  # --grid, then MLflow's
    loss = one["metrics"]["loss"]  # git_data.log
    assert loss["count"] == 20 and loss["last"] == pytest.approx(0.1)
    assert loss["max"] == pytest.approx(2.0) and loss["last_step"] == 19
    assert one["metrics"]["acc"]["last"] == pytest.approx(0.95)
    val = one["metrics"]["val_loss"]  # MLflow, inside the run's outputs
    assert val["count"] == 10 and val["min"] == pytest.approx(0.01)
    # the same TensorBoard tag in two folders: told apart by the folder
    assert one["metrics"]["tb/train/epoch_loss"]["last"] == pytest.approx(0.1)
    assert one["metrics"]["tb/validation/epoch_loss"]["last"] == pytest.approx(0.2)
    assert entries[2]["metrics"]["loss"]["last"] == pytest.approx(0.2)
    mlruns = store_dir(team) / "runs" / "1" / "outputs" / "mlruns"
    assert list(mlruns.glob("*/*/metrics/val_loss"))
    assert [p.read_text() for p in mlruns.glob("*/*/artifacts/note.txt")] == ["an artifact"]


def test_runs_table_sorts_by_metric_and_param(two_runs: Repo) -> None:
    table = two_runs.data("runs", "--metric", "loss", "--sort", "-loss").stdout.splitlines()
    assert "loss" in table[0] and "PARAMS" in table[0]
    assert table[1].split()[0] == "2" and table[2].split()[0] == "1"
    assert "lr=0.2 batch=32" in table[1] and "0.2" in table[1].split()
    ascending = [line.split()[0] for line in two_runs.data("runs", "--sort=loss").stdout
                 .splitlines()[1:]]
    assert ascending == ["1", "2"]
    by_param = [r["id"] for r in runs_json(two_runs, "--sort=-lr")]
    assert by_param == [2, 1]
    line = one_error_line(two_runs.data("runs", "--sort", "nosuch", check=False))
    assert "nosuch" in line and "loss" in line


def test_compare_from_a_clone_without_data_and_html_renders(
        two_runs: Repo, team: tuple[Repo, Path], tmp_path: Path) -> None:
    two_runs.git("push", "-q", "origin", "main")
    clone = Repo(tmp_path / "clone")
    subprocess.run(["git-data", "clone", "-q", "--no-data", str(team[1]), str(clone.path)],
                   check=True)
    page = tmp_path / "page.html"
    out = clone.data("compare", "1", "2", "--metric", "loss", "--metric", "val_loss",
                     "--html", str(page)).stdout.splitlines()
    assert out[0].split()[:4] == ["RUN", "STATUS", "COMMIT", "lr"]
    assert "batch" not in out[0] and out[-1] == "same in all: batch=32"
    row2 = out[2].split()
    assert row2[0] == "2" and row2[3] == "0.2" and row2[4:7] == ["0.2", "0.2", "4"]
    text = page.read_text()
    assert "http" not in text.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert text.count("<polyline") == 4  # two runs x two metrics
    _rendered_curves(page, tmp_path)
    line = one_error_line(clone.data("compare", "1", "--metric", "nosuch", check=False))
    assert "nosuch" in line and "val_loss" in line
    assert "no run 99" in one_error_line(clone.data("compare", "99", check=False))


def _rendered_curves(page: Path, tmp_path: Path) -> None:
    """Headless Chromium draws the page: both runs' curve colours are on the screenshot."""
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(chromium).exists():
        pytest.skip("chromium is not installed (Makefile APT_PACKAGES has it)")
    from PIL import Image

    from git_data.experiments.report import COLOURS

    shot = tmp_path / "shot.png"
    subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu",
                    "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'chr'}",
                    f"--screenshot={shot}", "--window-size=1400,1000", page.as_uri()],
                   check=True, capture_output=True, timeout=120)
    image = Image.open(shot).convert("RGB")
    colours = {colour for _, colour in image.getcolors(maxcolors=1 << 24) or []}
    for hex_colour in COLOURS[:2]:
        rgb = tuple(int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))
        assert rgb in colours, f"no pixel of {hex_colour} on the rendered page"


def test_mlflow_export_is_idempotent(two_runs: Repo, tmp_path: Path) -> None:
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    first = two_runs.data("mlflow", "--tracking-uri", uri, "--experiment", "exp").stdout
    assert "run 1 -> MLflow run" in first and "(created)" in first
    again = two_runs.data("mlflow", "--tracking-uri", uri, "--experiment", "exp").stdout
    assert "(unchanged)" in again and "(created)" not in again
    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("exp")
    found = {r.data.tags["git-data.run"]: r for r in client.search_runs(
        [experiment.experiment_id])}
    assert sorted(found) == ["1", "2"]
    run = found["1"]
    head = two_runs.git("rev-parse", "HEAD").stdout.strip()
    assert run.data.tags["mlflow.source.git.commit"] == head
    assert run.data.tags["git-data.host"] == "local"
    assert run.data.tags["git-data.outputs"].endswith("/runs/1/outputs/")
    assert "data/a.txt" in run.data.tags["git-data.data.oids"]
    assert run.data.params == {"lr": "0.1", "batch": "32"}
    assert run.info.status == "FINISHED"
    history = client.get_metric_history(run.info.run_id, "val_loss")
    assert [m.step for m in history] == list(range(10))
    assert history[-1].value == pytest.approx(0.01)
    assert len(client.get_metric_history(run.info.run_id, "loss")) == 20


def test_tensorboard_fetches_event_files_only(two_runs: Repo, tmp_path: Path) -> None:
    from tensorboard.backend.event_processing import event_accumulator

    logdir = tmp_path / "tb"
    printed = two_runs.data("tensorboard", "1", "2", "--print", "--logdir", str(logdir))
    assert "--host 127.0.0.1" in printed.stdout and f"run1:{logdir / '1'}" in printed.stdout
    fetched = sorted(p.relative_to(logdir).as_posix() for p in logdir.rglob("*") if p.is_file())
    assert len(fetched) == 4 and all(p.split("/")[-1].startswith("events.out.tfevents.")
                                     for p in fetched)
    folder = next(logdir.glob("2/tb/validation"))
    reader = event_accumulator.EventAccumulator(str(folder))
    reader.Reload()
    values = [(e.step, e.value) for e in reader.Scalars("epoch_loss")]
    assert [s for s, _ in values] == [0, 1, 2, 3, 4]
    assert values[-1][1] == pytest.approx(0.4)
    again = two_runs.data("tensorboard", "2", "--print", "--logdir", str(logdir))
    assert "0 fetched now" in again.stderr


def test_log_outside_a_run_prints_and_writes_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
        ) -> None:
    import git_data

    monkeypatch.delenv("GIT_DATA_RUN_OUTPUT", raising=False)
    monkeypatch.chdir(tmp_path)
    git_data.log(step=3, loss=0.5)
    assert "step 3 loss=0.5" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(TypeError, match="loss"):
        git_data.log(loss="high")
    monkeypatch.setenv("GIT_DATA_RUN_OUTPUT", str(tmp_path))
    git_data.log(loss=1.0)
    git_data.log(loss=float("nan"))
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(ln)["step"] for ln in lines] == [4, 5]
    assert json.loads(lines[1])["loss"] is None


def test_parsing_is_bounded() -> None:
    from git_data.experiments import series, sources

    body = io.BytesIO()
    body.write(b'{"step": 0, "loss": ' + b"1" * (sources.MAX_LINE + 10) + b"}\n")
    for step in range(1, series.MAX_POINTS * 3 + 1):
        body.write(json.dumps({"step": step, "loss": float(step)}).encode() + b"\n")
    body.write(b'{"step": 99999, "loss": 5')  # a line still being written
    body.seek(0)
    into = sources.Collector()
    sources.read_jsonl(body, into)
    loss = into.series["loss"]
    assert loss.count == series.MAX_POINTS * 3  # the long line and the torn one skipped
    assert loss.low == 1.0 and loss.last is not None and loss.last[0] == series.MAX_POINTS * 3
    assert len(loss.curve()) <= series.MAX_POINTS + 1


def test_tensorboard_serves_the_fetched_runs_on_loopback(two_runs: Repo, tmp_path: Path
                                                         ) -> None:
    import socket
    import time
    import urllib.parse
    import urllib.request

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen(["git-data", "tensorboard", "2", "--port", str(port),
                               "--logdir", str(tmp_path / "tb")], cwd=two_runs.path,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              start_new_session=True)

    def get(path: str) -> Any:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as answer:
            return json.loads(answer.read())

    try:
        deadline, tags = time.monotonic() + 90, None
        while tags is None and time.monotonic() < deadline:
            assert server.poll() is None, server.stderr.read() if server.stderr else b""
            try:
                tags = get("/data/plugin/scalars/tags")
            except OSError:
                time.sleep(0.5)
        assert tags is not None, "TensorBoard did not answer within 90 s"
        assert set(tags) == {"run2/tb/train", "run2/tb/validation"}  # run 2 only, named so
        assert "epoch_loss" in tags["run2/tb/validation"]
        query = urllib.parse.urlencode({"run": "run2/tb/validation", "tag": "epoch_loss"})
        points = get(f"/data/plugin/scalars/scalars?{query}")
        assert [step for _, step, _ in points] == [0, 1, 2, 3, 4]
        assert points[-1][2] == pytest.approx(0.4)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
