"""The upload worker: runs where the uploader sits (this namespace, another one, or a pod).

It reads a job from standard input (``{"context": ..., "items": [...]}``), uploads each
item with the minio SDK, times only the upload call, verifies size and checksum, deletes
the object and prints one :class:`~mlopsbench.records.UploadRecord` a line. A failed
upload is printed with ``status: failed`` and no time, and ends the worker.
Each upload opens its own connection, as each ``mc cp`` of the thesis's script did, so
every repetition pays the same TCP handshake. ``warmup_uploads`` unmeasured uploads of the
first item go first, so a fresh store's first-write cost is in no measured time.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

from ..records import UploadParameters, UploadRecord
from ..store.objectstore import ACCESS_KEY_VARS, SECRET_KEY_VARS, Endpoint, client

MIB = 1 << 20


def expected_etag(path: Path, part_size: int) -> str:
    """The S3 ETag of an upload: MD5 for one PUT, MD5 of part MD5s plus '-N' for multipart."""
    size = path.stat().st_size
    digests = []
    with path.open("rb") as fh:
        while chunk := fh.read(part_size):
            digests.append(hashlib.md5(chunk).digest())
    if size <= part_size:
        return digests[0].hex() if digests else hashlib.md5(b"").hexdigest()
    return f"{hashlib.md5(b''.join(digests)).hexdigest()}-{len(digests)}"


def request_count(size: int, part_size: int) -> int:
    """HTTP requests of one upload: a PUT, or initiate + one per part + complete."""
    parts = max(1, -(-size // part_size))
    return 1 if parts == 1 else parts + 2


def job(context: dict, items: list[dict]) -> dict:
    """The worker's input: ``context`` holds study, setup, endpoint, emulation and parameters."""
    return {"context": context, "items": items}


def upload_worker(address: str, secure: bool, work: dict) -> int:
    """Upload, verify and delete each item; print one UploadRecord a line."""
    host, _, port = address.rpartition(":")
    endpoint = Endpoint(host, int(port), os.environ[ACCESS_KEY_VARS[0]], os.environ[SECRET_KEY_VARS[0]], secure)
    context = work["context"]
    parameters = UploadParameters(**context["parameters"])
    part_size, bucket = parameters.part_size, parameters.bucket
    etags: dict[str, str] = {}
    for item in work["items"][:1] * parameters.warmup_uploads:
        _warm_up(endpoint, context["endpoint"], bucket, item, part_size)
    for item in work["items"]:
        minio = client(endpoint, retries=0)
        path = Path(item["path"])
        etags.setdefault(item["path"], expected_etag(path, part_size))
        size = path.stat().st_size
        measured: dict = {"started": time.time()}
        try:
            start = time.perf_counter()
            minio.fput_object(bucket, item["object"], str(path), part_size=part_size)
            measured["seconds"] = time.perf_counter() - start
            measured |= _verify(minio, bucket, item["object"], path, etags[item["path"]])
            minio.remove_object(bucket, item["object"])
            measured["status"] = "ok" if measured["verified"] else "unverified"
        except Exception as exc:  # the store died or refused: record it, never as a time
            measured |= {"status": "failed", "seconds": None, "verified": False,
                         "error": f"store {context['endpoint']}: {type(exc).__name__}: {exc}"}
        record = UploadRecord(study=context["study"], setup=context["setup"], model_mb=item["model_mb"],
                              rep=item["rep"], parameters=parameters, endpoint=context["endpoint"],
                              emulation=context["emulation"], bytes=size, requests=request_count(size, part_size),
                              **measured)
        print(json.dumps(record.to_json(), sort_keys=True), flush=True)
        if record.status == "failed":
            return 3
    return 0


def _warm_up(endpoint: Endpoint, name: str, bucket: str, item: dict, part_size: int) -> None:
    """One unmeasured upload and delete of ``item`` under another object name."""
    minio, warm = client(endpoint, retries=0), f"{item['object']}.warm-up"
    try:
        minio.fput_object(bucket, warm, item["path"], part_size=part_size)
        minio.remove_object(bucket, warm)
    except Exception as exc:  # the same failure would end the first measured upload: say it plainly
        raise SystemExit(f"store {name}: warm-up upload failed: {type(exc).__name__}: {exc}") from None


def _verify(minio, bucket: str, name: str, path: Path, etag: str) -> dict:
    stat = minio.stat_object(bucket, name)
    if stat.size != path.stat().st_size:
        return {"verified": False, "verify_method": "size", "etag": stat.etag}
    if stat.etag.strip('"') == etag:
        return {"verified": True, "verify_method": "etag", "etag": stat.etag}
    # Stores are free to compute multipart ETags differently: read it back and compare.
    digest = hashlib.sha256()
    response = minio.get_object(bucket, name)
    try:
        for chunk in response.stream(MIB):
            digest.update(chunk)
    finally:
        response.close()
        response.release_conn()
    with path.open("rb") as fh:
        local = hashlib.file_digest(fh, "sha256").hexdigest()
    return {"verified": digest.hexdigest() == local, "verify_method": "readback-sha256", "etag": stat.etag}
