"""Integration tests of the upload experiment against a real SeaweedFS that the tests start."""

import json
import os
import threading
import time
from dataclasses import asdict

import pytest

from mlopsbench.rawdirs import CellDir
from mlopsbench.records import UploadRecord
from mlopsbench.upload.cell import run_cell
from mlopsbench.store.latency import DelayProxy
from mlopsbench.store.netns import namespaces_supported
from mlopsbench.store.objectstore import (ACCESS_KEY_VARS, SECRET_KEY_VARS, Endpoint, SeaweedFS, StoreError, ensure_bucket,
                                   free_ports)
from mlopsbench.upload.plan import CellSpec, local_plan, model_from_sidecar, read_records
from mlopsbench.upload.tidy import UPLOAD_COLUMNS, tidy_uploads
from mlopsbench.upload.worker import expected_etag, job, request_count, upload_worker

pytestmark = pytest.mark.integration
MIB = 1 << 20


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """Two model files with sidecars: one single PUT, one multipart at 5 MiB parts."""
    root = tmp_path_factory.mktemp("models")
    found = []
    for size_mb in (1, 12):
        path = root / f"model_{size_mb}MB.keras"
        path.write_bytes(os.urandom(size_mb * MIB))
        (root / f"model_{size_mb}MB.json").write_text(json.dumps({"size": size_mb, "unit": "MiB"}))
        found.append(model_from_sidecar(path))
    return found


def spec(tmp_path, setup="host", latency=0, reps=2, **kwargs):
    return CellSpec(setup=setup, latency_ms=latency, reps=reps, out_dir=tmp_path / f"{setup}/{latency}ms",
                    part_size=5 * MIB, **kwargs)


def test_host_cell_uploads_verifies_and_resumes(models, tmp_path):
    cell = spec(tmp_path, latency=50)
    manifest = run_cell(cell, models)
    records = read_records(cell.out_dir)
    assert manifest["status"] == "succeeded" and len(records) == 4
    assert {(r.model_mb, r.rep) for r in records} == {(1, 1), (12, 1), (1, 2), (12, 2)}
    assert all(r.status == "ok" and r.verified and r.verify_method == "etag" for r in records)
    assert all(r.emulation == "proxy" and r.parameters.store == "seaweedfs" and r.seconds > 0.05 for r in records)
    multipart = [r for r in records if r.model_mb == 12]
    assert all(r.requests == 5 and r.etag.endswith("-3") for r in multipart)  # 3 parts + 2
    assert not (cell.out_dir / "store").exists() and (cell.out_dir / "weed.log").exists()

    # Interrupted after three uploads: only the missing one runs again.
    lines = (cell.out_dir / "uploads.jsonl").read_text().splitlines()
    (cell.out_dir / "uploads.jsonl").write_text("\n".join(lines[:3]) + "\n")
    CellDir(cell.out_dir).finished.unlink()
    run_cell(cell, models)
    again = read_records(cell.out_dir)
    assert len(again) == 4 and again[:3] == records[:3]


@pytest.mark.alone  # counts the proxy's connections: one short beside another worker's load, right alone
def test_one_unmeasured_upload_goes_before_the_measured_ones(models, tmp_path, monkeypatch, capsys):
    """Each upload has a client of its own, so the proxy counts one connection per upload."""
    cell = spec(tmp_path, reps=1)
    items = local_plan(cell, models, set())
    connections = []
    with SeaweedFS(tmp_path / "store") as endpoint:
        monkeypatch.setenv(ACCESS_KEY_VARS[0], endpoint.access_key)
        monkeypatch.setenv(SECRET_KEY_VARS[0], endpoint.secret_key)
        ensure_bucket(endpoint, cell.bucket)
        context = {"study": "test", "setup": "host", "endpoint": endpoint.url, "emulation": "none"}
        for warmups in (0, 1, 2):
            parameters = asdict(cell.parameters("seaweedfs")) | {"warmup_uploads": warmups}
            proxy = DelayProxy((endpoint.host, endpoint.port))
            with proxy as (host, port):
                assert upload_worker(f"{host}:{port}", False, job(context | {"parameters": parameters}, items)) == 0
            connections.append(proxy.connections)
            records = [UploadRecord.from_json(json.loads(line)) for line in capsys.readouterr().out.splitlines()]
            assert len(records) == len(items) and all(r.status == "ok" for r in records)
            assert {r.parameters.warmup_uploads for r in records} == {warmups}
        assert connections[1] - connections[0] == 1 and connections[2] - connections[1] == 1

        monkeypatch.setenv(SECRET_KEY_VARS[0], "not-the-key")
        with pytest.raises(SystemExit, match=f"store {endpoint.url}: warm-up upload failed: S3Error"):
            upload_worker(f"{endpoint.host}:{endpoint.port}", False, job(context | {"parameters": parameters}, items))
        assert capsys.readouterr().out == ""  # nothing measured after a failed warm-up


def test_expected_etag_and_request_count(models):
    small, large = models
    assert request_count(small.bytes, 5 * MIB) == 1 and request_count(large.bytes, 5 * MIB) == 5
    assert expected_etag(large.path, 5 * MIB).endswith("-3") and "-" not in expected_etag(small.path, 5 * MIB)


@pytest.mark.skipif(not namespaces_supported()[0], reason=namespaces_supported()[1])
def test_netns_cell_uploads_from_its_own_namespace(models, tmp_path):
    cell = spec(tmp_path, setup="netns", latency=50, reps=1)
    run_cell(cell, models[:1])
    (record,) = read_records(cell.out_dir)
    assert record.setup == "netns" and record.status == "ok" and record.verified
    assert record.emulation in ("netem", "proxy")


def test_unreachable_store_names_the_endpoint(models, tmp_path):
    port = free_ports(1)[0]
    cell = spec(tmp_path, endpoint=Endpoint("127.0.0.1", port, "key", "secret"))
    with pytest.raises(StoreError, match=rf"http://127\.0\.0\.1:{port}"):
        run_cell(cell, models)
    assert read_records(cell.out_dir) == [] and not CellDir(cell.out_dir).finished.exists()


def kill_after_first_record(store: SeaweedFS, records, deadline_s: float = 300.0) -> None:
    """Kill the store once ``records`` holds a complete line; give up after ``deadline_s``."""
    give_up = time.monotonic() + deadline_s
    while time.monotonic() < give_up:
        if records.exists() and records.read_text().endswith("\n"):
            break
        time.sleep(0.02)
    store.kill()


def test_store_dying_mid_upload_keeps_earlier_results(models, tmp_path):
    small, large = models
    store = SeaweedFS(tmp_path / "dying")
    endpoint = store.__enter__()
    try:
        # 12 MiB through a 256 KiB window at 200 ms takes ~10 s. The store dies as soon as the
        # first measured record is written, so the large upload is mid-way however busy the machine.
        cell = spec(tmp_path, latency=200, reps=1, endpoint=endpoint, window_bytes=256 << 10)
        killer = threading.Thread(target=kill_after_first_record, args=(store, CellDir(cell.out_dir).records))
        killer.start()
        with pytest.raises(StoreError, match=rf"store {endpoint.url}: "):
            run_cell(cell, [small, large])
        killer.join()
    finally:
        store.__exit__(None, None, None)
    records = read_records(cell.out_dir)
    assert [r.status for r in records] == ["ok", "failed"]
    assert records[1].seconds is None and records[1].verified is False
    assert not CellDir(cell.out_dir).finished.exists()


def test_tidy_table(models, tmp_path):
    cell = spec(tmp_path, latency=0, reps=1)
    run_cell(cell, models)
    skipped = tmp_path / "netns/0ms"
    skipped.mkdir(parents=True)
    CellDir(skipped).finished.write_text(json.dumps({"setup": "netns", "latency_ms": 0, "reps": 1,
                                                "status": "skipped", "reason": "no namespaces"}))
    uploads, cells = tidy_uploads([cell.out_dir, skipped], tmp_path / "u.parquet", tmp_path / "c.parquet")
    assert list(uploads.columns) == UPLOAD_COLUMNS and len(uploads) == 2
    row = uploads.set_index("model_mb").loc[12]
    assert row["throughput_mb_s"] == pytest.approx(row["bytes"] / 1e6 / row["seconds"])
    assert cells.set_index("setup").loc["netns", "reason"] == "no namespaces"
