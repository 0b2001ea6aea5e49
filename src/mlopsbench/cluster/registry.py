"""Image registries: the local cluster's own, and pushing the package's images to any registry that
speaks the distribution API (Debian's ``docker-registry``, Harbor, a cloud's) without Docker, for a
cluster reached through its kubeconfig alone.

The layers are the ones the local cluster imports (uncompressed tars, so a layer's blob digest
is its diff id); each blob goes up once (one the registry holds is skipped), the image's config
next, its manifest last, so a tag never names an image with a blob missing. Anonymous, HTTP
basic and token (``WWW-Authenticate: Bearer``) sign-in; the user and password, where the
registry wants them, come from ``MLOPSBENCH_REGISTRY_USER`` and ``MLOPSBENCH_REGISTRY_PASSWORD``.
"""

from __future__ import annotations

import logging
import os
import re
import time
from urllib.parse import urljoin

import requests

from ..errors import InputError
from .images import MANIFEST_TYPE, Layer, documents

log = logging.getLogger(__name__)

PORT = 5055   # the local cluster's registry (below the ephemeral ports); its address: Cluster.registry


class RegistryError(InputError):
    pass


def split_reference(reference: str) -> tuple[str, str, str]:
    """(registry host[:port], repository, tag) of ``HOST[:PORT]/REPOSITORY:TAG``; the host is
    never implied (an image pushed to Docker Hub by default would be a surprise)."""
    host, _, rest = reference.partition("/")
    repository, _, tag = rest.rpartition(":") if ":" in rest else (rest, "", "")
    if not rest or not ("." in host or ":" in host or host == "localhost"):
        raise RegistryError(f"{reference}: name the registry, as HOST[:PORT]/REPOSITORY:TAG")
    if not re.fullmatch(r"[a-z0-9]+(?:[._/-][a-z0-9]+)*", repository) or not re.fullmatch(r"\w[\w.-]{0,127}", tag):
        raise RegistryError(f"{reference}: not a valid REPOSITORY:TAG (lower-case repository, a tag after ':')")
    return host, repository, tag


class _Session:
    """Requests to one repository of one registry, signed in as the registry asks."""

    def __init__(self, host: str, repository: str, plain_http: bool):
        self.base = f"{'http' if plain_http else 'https'}://{host}"
        self.repository = repository
        self.http = requests.Session()
        credentials = os.environ.get("MLOPSBENCH_REGISTRY_USER"), os.environ.get("MLOPSBENCH_REGISTRY_PASSWORD")
        self.credentials = credentials if all(credentials) else None
        self._sign_in()

    def _sign_in(self) -> None:
        try:
            answer = self.http.get(f"{self.base}/v2/", timeout=30)
        except requests.RequestException as exc:
            raise RegistryError(f"registry {self.base}: {type(exc).__name__}: {exc}") from None
        if answer.status_code != 401:
            self._check(answer, "answer the API's version check", 200)
            return
        scheme, _, params = answer.headers.get("WWW-Authenticate", "").partition(" ")
        if self.credentials is None and scheme.lower() == "basic":
            raise RegistryError(f"registry {self.base} wants a user: set MLOPSBENCH_REGISTRY_USER and "
                                "MLOPSBENCH_REGISTRY_PASSWORD")
        if scheme.lower() == "basic":
            self.http.auth = self.credentials
            return
        challenge = dict(re.findall(r'(\w+)="([^"]*)"', params))
        if scheme.lower() != "bearer" or "realm" not in challenge:
            raise RegistryError(f"registry {self.base}: unknown sign-in {answer.headers.get('WWW-Authenticate')!r}")
        token = self.http.get(challenge["realm"], auth=self.credentials, timeout=30, params={
            "service": challenge.get("service", ""), "scope": f"repository:{self.repository}:pull,push"})
        self._check(token, "give a token", 200)
        body = token.json()
        self.http.headers["Authorization"] = f"Bearer {body.get('token') or body.get('access_token')}"

    def _check(self, answer: requests.Response, what: str, *expected: int) -> requests.Response:
        if answer.status_code not in expected:
            raise RegistryError(f"registry {self.base} did not {what} for {self.repository}: HTTP "
                                f"{answer.status_code} {answer.text[:300]}")
        return answer

    def request(self, method: str, path: str, what: str, *expected: int, **kwargs) -> requests.Response:
        url = path if path.startswith("http") else f"{self.base}/v2/{self.repository}/{path}"
        try:
            return self._check(self.http.request(method, url, timeout=600, **kwargs), what, *expected)
        except requests.RequestException as exc:
            raise RegistryError(f"registry {self.base}: {what}: {type(exc).__name__}: {exc}") from None

    def put_blob(self, digest: str, body, size: int) -> bool:
        """Upload one blob unless the registry holds it; whether it was sent."""
        if self.request("HEAD", f"blobs/{digest}", "say whether it holds a blob", 200, 404).status_code == 200:
            return False
        started = self.request("POST", "blobs/uploads/", "start an upload", 202)
        location = urljoin(f"{self.base}/", started.headers["Location"])
        self.request("PUT", location, "take a blob", 201, params={"digest": digest}, data=body,
                     headers={"Content-Type": "application/octet-stream", "Content-Length": str(size)})
        return True


def push(reference: str, layers: list[Layer], config: dict, plain_http: bool = False) -> str:
    """Push the image as ``reference`` (HOST[:PORT]/REPOSITORY:TAG); return it pinned by digest
    (``HOST[:PORT]/REPOSITORY@sha256:...``), as a pod's image should name it."""
    host, repository, tag = split_reference(reference)
    manifest_digest, small, _ = documents(reference, layers, config)
    session = _Session(host, repository, plain_http)
    started, sent = time.monotonic(), 0
    for layer in layers:
        with layer.path.open("rb") as body:
            if session.put_blob(layer.digest, body, layer.size):
                sent += layer.size
    for digest, blob in small.items():  # the image's config (the manifest goes last, as the tag)
        if digest != manifest_digest:
            session.put_blob(digest, blob, len(blob))
    answer = session.request("PUT", f"manifests/{tag}", "take the manifest", 201, data=small[manifest_digest],
                             headers={"Content-Type": MANIFEST_TYPE})
    stored = answer.headers.get("Docker-Content-Digest", manifest_digest)
    if stored != manifest_digest:
        raise RegistryError(f"registry {session.base} stored {reference} as {stored}, not {manifest_digest}")
    log.info("pushed %s (%s): %.0f MB sent in %.0f s", reference, manifest_digest[:19], sent / 1e6,
             time.monotonic() - started)
    return f"{host}/{repository}@{manifest_digest}"
