"""Fetch a published file: retries, a progress bar, a checksum and an atomic write.

The workflow never owns the published file itself: its job output is a small record that
the file was checked (``verify``), so no re-run, forced or not, can delete the one input
that may not be downloadable again.
"""

from __future__ import annotations

import hashlib
import logging
import time
from pathlib import Path

import requests
from requests.adapters import HTTPAdapter
from tqdm import tqdm
from urllib3.util.retry import Retry

from .. import atomic
from ..checksums import sha256_of
from ..errors import InputError

log = logging.getLogger(__name__)


class DownloadError(InputError):
    pass


def _session(retries: int, backoff: float) -> requests.Session:
    retry = Retry(total=retries, connect=retries, read=retries, status=retries, backoff_factor=backoff,
                  status_forcelist=(429, 500, 502, 503, 504), allowed_methods=("GET",),
                  raise_on_status=True)
    session = requests.Session()
    adapter = HTTPAdapter(max_retries=retry)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def fetch(url: str, dest: str | Path, sha256: str | None = None, retries: int = 5,
          backoff: float = 1.0, timeout: float = 60.0, progress: bool | None = None) -> str:
    """Download ``url`` to ``dest`` unless it exists; return the file's SHA-256.

    An existing ``dest`` is used as is (docs/design.md: a copy you already have wins), once it
    matches ``sha256`` where one is pinned.
    A new download lands only after it is complete and, when ``sha256`` is given,
    matches it; otherwise nothing is left behind.
    """
    dest = Path(dest)
    if dest.exists():
        digest = sha256_of(dest)
        if sha256 and digest != sha256.lower():
            raise DownloadError(f"{dest}: SHA-256 {digest} does not match the pinned data.sha256 {sha256}; "
                                "remove the file to download it again, or correct the pin")
        log.info("%s exists; using it as is (sha256 %s%s)", dest, digest, ", as pinned" if sha256 else "")
        return digest
    log.info("downloading %s -> %s", url, dest)
    digest = hashlib.sha256()
    try:
        with _session(retries, backoff).get(url, stream=True, timeout=timeout) as response:
            response.raise_for_status()
            total = int(response.headers.get("Content-Length", 0)) or None
            with atomic.atomic_path(dest) as tmp:
                with tmp.open("wb") as out, tqdm(total=total, unit="B", unit_scale=True,
                                                 desc=dest.name, disable=None if progress is None else not progress) as bar:
                    for chunk in response.iter_content(chunk_size=1 << 16):
                        out.write(chunk)
                        digest.update(chunk)
                        bar.update(len(chunk))
                if total is not None and tmp.stat().st_size != total:
                    raise DownloadError(f"{url}: got {tmp.stat().st_size} of {total} bytes")
                if sha256 and digest.hexdigest() != sha256.lower():
                    raise DownloadError(
                        f"{url}: SHA-256 {digest.hexdigest()} does not match the pinned "
                        f"data.sha256 {sha256}; the file was not saved"
                    )
    except requests.RequestException as exc:
        raise DownloadError(f"{url}: download failed after {retries} retries: {exc}") from None
    log.info("saved %s (%d bytes, sha256 %s)", dest, dest.stat().st_size, digest.hexdigest())
    return digest.hexdigest()


def verify(url: str, dest: str | Path, record: str | Path, sha256: str | None = None, **fetch_options) -> dict:
    """Check the copy at ``dest`` against its pin (downloading it first if absent) and write
    ``record``: which file, its SHA-256 and size, the pin, and where the copy came from."""
    dest = Path(dest)
    existed = dest.exists()
    digest = fetch(url, dest, sha256=sha256, **fetch_options)
    checked = {"path": str(dest), "sha256": digest, "bytes": dest.stat().st_size, "pinned_sha256": sha256,
               "source": "copy in place" if existed else url, "checked_at": time.time()}
    atomic.write_json(record, checked)
    return checked
