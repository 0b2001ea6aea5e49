"""Integration tests of the serving experiment's parts, all real: KServe's ModelServer in its own
environment serving the regression model, the updater polling a real SeaweedFS, and the
fixed-rate client through every update. A new version serves with no failed request; a
truncated one is refused with the server's reason while the old one keeps answering. A draining
server still answers, closing each connection."""

import threading
import time

import pytest
import requests

from mlopsbench.data.models import build_regression_model, save_model
from mlopsbench.serving import env
from mlopsbench.serving.measure import FEATURES
from mlopsbench.serving.client import Client, infer_body
from mlopsbench.serving.edge import EdgeProcesses
from mlopsbench.serving.versions import DRAIN_PATH, publish
from mlopsbench.store.objectstore import SeaweedFS, client, ensure_bucket, free_ports

pytestmark = pytest.mark.integration

MODEL, BUCKET, POLL_S, RATE = "intel54", "mlopsbench", 0.5, 20.0


@pytest.fixture(scope="module")
def serving_python(repo):
    return env.python(repo)


def version_file(folder, seed):
    model = build_regression_model(8, 3, 0.001, "mean_absolute_error", seed=seed)
    save_model(model, folder / f"v{seed}.keras")
    return folder / f"v{seed}.keras"


def wait_for(check, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"{what}: not within {timeout} s")


def edge(tmp_path, serving_python, endpoint, drain_s=0.0):
    """The store holds v1; the server serves it, and the updater polls for the next."""
    return EdgeProcesses(serving_python, endpoint, BUCKET, MODEL, tmp_path / "models", tmp_path / "logs",
                         free_ports(1)[0], POLL_S, ready_timeout_s=300, drain_s=drain_s)


def through_update(server_url, publish_next, until, timeout=180.0):
    """The client at a fixed rate before, during and after one update; every answer."""
    answers, stop = [], threading.Event()
    fixed_rate = Client(server_url, MODEL, FEATURES, RATE, timeout_s=30)
    thread = threading.Thread(target=fixed_rate.run, args=(stop, answers.append))
    thread.start()
    try:
        time.sleep(2)
        publish_next()
        wait_for(lambda: until(answers), timeout, "the update")
        time.sleep(2)
    finally:
        stop.set()
        thread.join(timeout=60)
    return answers


def test_a_new_version_serves_without_a_failed_request(tmp_path, serving_python):
    with SeaweedFS(tmp_path / "store", isolate=False) as endpoint:
        ensure_bucket(endpoint, BUCKET)
        minio = client(endpoint)
        publish(minio, BUCKET, MODEL, "v1", version_file(tmp_path, 1), part_size=16 * 2**20)
        second = version_file(tmp_path, 2)
        with edge(tmp_path, serving_python, endpoint) as served:
            published = {}
            answers = through_update(
                served.url, lambda: published.update(
                    zip(("started", "ended"), publish(minio, BUCKET, MODEL, "v2", second, 16 * 2**20))),
                until=lambda seen: any(a.model_version == "v2" for a in list(seen)))
            observed = served.observed(timeout_s=30)
    assert [a for a in answers if a.error] == []
    versions = [a.model_version for a in sorted(answers, key=lambda a: a.sent)]
    first_new = versions.index("v2")
    assert set(versions[:first_new]) == {"v1"} and first_new > 0
    assert observed["version"] == "v2" and observed["status"] == "ok"
    assert published["ended"] <= observed["detected"] <= published["ended"] + POLL_S + 5
    assert observed["detected"] <= observed["download_started"] <= observed["download_ended"] \
        <= observed["load_started"]
    assert observed["load_started"] <= observed["ready"]


def test_a_truncated_version_is_refused_and_the_old_one_keeps_answering(tmp_path, serving_python):
    with SeaweedFS(tmp_path / "store", isolate=False) as endpoint:
        ensure_bucket(endpoint, BUCKET)
        minio = client(endpoint)
        publish(minio, BUCKET, MODEL, "v1", version_file(tmp_path, 1), part_size=16 * 2**20)
        whole = version_file(tmp_path, 2).read_bytes()
        (tmp_path / "cut.keras").write_bytes(whole[: len(whole) // 2])
        with edge(tmp_path, serving_python, endpoint) as served:
            seen = []

            def updater_saw_it(_answers):
                observed = served.observed(timeout_s=0.2)
                seen.extend([observed] if observed else [])
                return bool(seen)

            answers = through_update(served.url, lambda: publish(minio, BUCKET, MODEL, "v2", tmp_path / "cut.keras",
                                                                 16 * 2**20), until=updater_saw_it)
    observed = seen[0]
    assert observed["version"] == "v2" and observed["status"] == "failed" and "HTTP 503" in observed["error"]
    assert [a for a in answers if a.error] == [] and {a.model_version for a in answers} == {"v1"}


def test_a_draining_server_answers_and_closes_each_connection(tmp_path, serving_python):
    """A pod about to stop asks its server for the drain (the preStop hook's GET /drain). Until it
    ends the server still answers, but each answer closes its connection, so a kept-alive client
    reconnects (through a Service, to the pod that replaces it) instead of being reset as it stops."""
    with SeaweedFS(tmp_path / "store", isolate=False) as endpoint:
        ensure_bucket(endpoint, BUCKET)
        publish(client(endpoint), BUCKET, MODEL, "v1", version_file(tmp_path, 1), part_size=16 * 2**20)
        with edge(tmp_path, serving_python, endpoint, drain_s=3) as served:
            session = requests.Session()

            def infer():
                return session.post(f"{served.url}/v2/models/{MODEL}/infer", json=infer_body(FEATURES), timeout=10)

            steady = infer()
            drained = {}
            asked = time.time()
            drain = threading.Thread(target=lambda: drained.update(
                requests.get(served.url + DRAIN_PATH, timeout=30).json(), returned=time.time()))
            drain.start()
            time.sleep(0.5)
            during = [infer() for _ in range(3)]
            drain.join()
    assert steady.ok and "connection" not in steady.headers   # kept alive in steady serving
    assert [(r.status_code, r.json()["model_version"], r.headers.get("connection")) for r in during] == \
        [(200, "v1", "close")] * 3
    assert drained["drain_s"] == 3 and drained["returned"] - asked >= 3


def test_the_client_waits_for_a_first_answer_and_names_an_edge_that_never_gives_one():
    """Steady serving starts only once the edge answers; one that never does is an error naming it."""
    from mlopsbench.serving.measure import EdgeNotAnswering, _first_answer
    from mlopsbench.serving.client import Client
    from mlopsbench.store.objectstore import free_ports

    url = f"http://127.0.0.1:{free_ports(1)[0]}"   # nothing listens there
    with pytest.raises(EdgeNotAnswering, match=r"127\.0\.0\.1.*within 0\.3 s.*ConnectionError"):
        _first_answer(Client(url, "intel54", [1.0], rate_per_s=20, timeout_s=1), timeout_s=0.3)
