"""The kubelet's measurement variants: each variant's patches apply to the pinned Kubernetes
source, and one that does not apply fails, naming the patch and the version. The source is the
real k8s.io/kubernetes module from the Go module proxy (or the machine's module cache)."""

import json
import os
import re
import shutil
import subprocess

import pytest

from mlopsbench.cluster.build import KUBELET_VARIANTS, KUBERNETES_VERSION, PATCHES, BuildError, apply_patches

PATCHED = sorted({p for patches in KUBELET_VARIANTS.values() for p in patches})


@pytest.fixture(scope="module")
def kubernetes_source():
    if shutil.which("go") is None:
        (pytest.fail if os.environ.get("CI") else pytest.skip)("no Go toolchain")
    done = subprocess.run(["go", "mod", "download", "-json", f"k8s.io/kubernetes@{KUBERNETES_VERSION}"],
                          capture_output=True, text=True, env=os.environ | {"GOFLAGS": "-mod=mod"})
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["Dir"]


def touched(patch) -> list[str]:
    return re.findall(r"^\+\+\+ b/(\S+)", (PATCHES / patch).read_text(), re.M)


def touched_copy(source, patch, tmp_path):
    """A tree with just the files ``patch`` changes, copied from ``source``."""
    for name in touched(patch):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(os.path.join(source, name), tmp_path / name)
    return tmp_path


@pytest.mark.parametrize("patch", PATCHED)
def test_each_variants_patch_applies_to_the_pinned_kubernetes(kubernetes_source, patch, tmp_path):
    tree = touched_copy(kubernetes_source, patch, tmp_path)
    apply_patches([patch], tree)
    for name in touched(patch):
        assert (tree / name).read_text() != open(os.path.join(kubernetes_source, name)).read(), name


@pytest.mark.parametrize("patch", PATCHED)
def test_a_patch_that_does_not_apply_fails_naming_it_and_the_version(kubernetes_source, patch, tmp_path):
    tree = touched_copy(kubernetes_source, patch, tmp_path)
    apply_patches([patch], tree)
    with pytest.raises(BuildError, match=rf"{re.escape(patch)} does not apply to k8s.io/kubernetes "
                                         rf"{re.escape(KUBERNETES_VERSION)}"):
        apply_patches([patch], tree)  # already applied: the source is not the one it was written for
