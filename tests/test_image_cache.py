"""Unit tests of the image layer cache's upkeep, on a cache of their own: ``prune`` removes the
layers no image of this checkout is made of and nothing used lately, using a layer counts as a
use, and an import that would not fit on the disk is refused before it starts. The images are
built and imported for real in tests/test_cluster_lifecycle.py."""

import json
import os
import time

import pytest

from mlopsbench.cluster import images

LONG_AGO = 100   # hours


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MLOPSBENCH_CACHE", str(tmp_path))
    return tmp_path / "images"


def cached_layer(cache, name: str, hours_ago: float, digest: str = "sha256:" + "a" * 64):
    folder = cache / name
    folder.mkdir(parents=True)
    (folder / "layer.tar").write_bytes(b"x" * 1000)
    (folder / "layer.json").write_text(json.dumps({"digest": digest, "size": 1000}))
    then = time.time() - hours_ago * 3600
    for path in (folder / "layer.tar", folder / "layer.json", folder):
        os.utime(path, (then, then))
    return folder


def test_prune_removes_only_the_stale_layers_no_current_image_is_made_of(cache, repo):
    base = cached_layer(cache, f"job-base-{images._base_key(repo)}", LONG_AGO)
    serving = cached_layer(cache, f"serving-env-{images._serving_key(repo, 'sha256:' + 'a' * 64)}", LONG_AGO)
    current = [base, serving, cached_layer(cache, f"job-project-{images._project_key(repo)}", LONG_AGO),
               cached_layer(cache, f"pause-{images._pause_key()}", LONG_AGO)]
    recent = cached_layer(cache, "job-project-111111111111", hours_ago=1)   # another checkout's
    stale = [cached_layer(cache, "job-project-000000000000", LONG_AGO),
             cached_layer(cache, "serving-env-000000000000", LONG_AGO)]
    held = sorted((folder, 1000 + len((folder / "layer.json").read_bytes())) for folder in stale)
    assert sorted(images.prune(repo, unused_hours=24)) == held
    assert [folder.exists() for folder in current + [recent] + stale] == [True] * 5 + [False] * 2


def test_using_a_cached_layer_counts_as_a_use(cache, repo):
    folder = cached_layer(cache, "serving-env-222222222222", LONG_AGO)
    layer = images._layer("serving-env", "222222222222", build=None)   # found: nothing is built
    assert layer.size == 1000
    assert images.prune(repo, unused_hours=24) == [] and folder.exists()


def test_an_import_that_would_not_fit_is_refused_naming_the_store_and_the_way_out(cache, tmp_path):
    huge = images.Layer(tmp_path / "layer.tar", "sha256:" + "0" * 64, 2**60)
    with pytest.raises(images.ImageError, match=r"/store: importing docker.io/library/mlopsbench:local needs "
                                                r"about \d+\.\d GB on its disk, which has \d+\.\d GB free.*"
                                                r"mlopsbench cluster prune"):
        images.check_room(tmp_path / "store", images.JOB_IMAGE, [huge])
    images.check_room(tmp_path / "store", images.JOB_IMAGE, [])   # nothing to import: the spare room, which is here
