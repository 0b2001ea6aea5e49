"""Tests of the downloader against a real HTTP server on loopback."""

import hashlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from mlopsbench.data.download import DownloadError, fetch

PAYLOAD = b"2004-03-31 03:38:15.757551 2 54 19.9884 37.0933 45.08 2.69964\n" * 500


class Handler(BaseHTTPRequestHandler):
    hits: dict[str, int] = {}

    def log_message(self, *args):  # keep pytest output clean
        pass

    def do_GET(self):
        count = self.hits[self.path] = self.hits.get(self.path, 0) + 1
        if self.path == "/flaky" and count <= 2:
            self.send_error(503)
            return
        if self.path == "/missing":
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(PAYLOAD)))
        self.end_headers()
        body = PAYLOAD[: len(PAYLOAD) // 2] if self.path == "/short" else PAYLOAD
        self.wfile.write(body)


@pytest.fixture
def server():
    Handler.hits = {}
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", Handler.hits
    httpd.shutdown()
    httpd.server_close()


def test_download_with_checksum(server, tmp_path):
    url, _ = server
    dest = tmp_path / "raw/data.txt.gz"
    digest = fetch(f"{url}/data", dest, sha256=hashlib.sha256(PAYLOAD).hexdigest(), progress=False)
    assert dest.read_bytes() == PAYLOAD and digest == hashlib.sha256(PAYLOAD).hexdigest()


def test_retries_server_errors(server, tmp_path):
    url, hits = server
    fetch(f"{url}/flaky", tmp_path / "d.gz", retries=3, backoff=0.01, progress=False)
    assert hits["/flaky"] == 3


def test_checksum_mismatch_keeps_nothing(server, tmp_path):
    url, _ = server
    with pytest.raises(DownloadError, match="does not match the pinned data.sha256"):
        fetch(f"{url}/data", tmp_path / "d.gz", sha256="0" * 64, progress=False)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("path, message", [("/short", "download failed"), ("/missing", "404")])
def test_failed_download_names_the_url_and_keeps_nothing(server, tmp_path, path, message):
    url, _ = server
    with pytest.raises(DownloadError, match=message) as info:
        fetch(f"{url}{path}", tmp_path / "d.gz", retries=1, backoff=0.01, progress=False)
    assert f"{url}{path}" in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_existing_file_is_used_as_is(server, tmp_path):
    url, hits = server
    dest = tmp_path / "data.txt.gz"
    dest.write_bytes(b"my own copy")
    assert fetch(f"{url}/data", dest, progress=False) == hashlib.sha256(b"my own copy").hexdigest()
    assert hits == {} and dest.read_bytes() == b"my own copy"
