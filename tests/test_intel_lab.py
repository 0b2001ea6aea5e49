"""Unit tests of the Intel Lab parser and mote filter, on files in the published format."""

import gzip
import json
import shutil
import subprocess

import pytest

from conftest import reading, write_gz
from mlopsbench.data import intel_lab
from mlopsbench.data.intel_lab import IntelLabFormatError, filter_mote
from mlopsbench.data.synthetic import write_published_file


def run_filter(tmp_path, lines, mote=54, **kwargs):
    src = write_gz(tmp_path / "data.txt.gz", lines, **kwargs)
    out, counts = tmp_path / "out/node.csv", tmp_path / "out/counts.json"
    result = filter_mote(src, mote, out, counts, progress=False)
    return result, out.read_text().splitlines(), json.loads(counts.read_text())


def test_keeps_complete_mote_lines_in_output_column_order(tmp_path):
    _, rows, _ = run_filter(tmp_path, [reading(54, temperature="21.5", humidity="40.1",
                                               light="97.52", voltage="2.68742")])
    assert rows == ["humidity,light,voltage,temperature", "40.1,97.52,2.68742,21.5"]


def test_counts_incomplete_other_motes_and_blank_lines(tmp_path):
    lines = [
        reading(54),
        reading(1),
        reading(54, epoch=54),        # epoch equal to the mote id: still one line
        reading(3, epoch=54),         # epoch 54 on another mote is not ours
        "",
        "2004-03-31 03:38:15.757551 7 54 19.9884 37.0933",  # stops after humidity
        "2004-03-31 03:38:15.757551 8 54",                 # only the mote id
        "2004-03-31 03:38:15.757551 9",                    # too short to name a mote
        "",
        reading(54, light="154"),
    ]
    counts, rows, saved = run_filter(tmp_path, lines)
    assert len(rows) == 1 + 3
    assert saved == {"source": str(tmp_path / "data.txt.gz"), "mote": 54, "lines_read": 10,
                     "kept": 3, "dropped_incomplete": 2, "other_motes": 3, "blank_lines": 2}
    assert counts.kept + counts.dropped_incomplete + counts.other_motes + counts.blank_lines == 10


def test_last_line_without_newline_is_read(tmp_path):
    counts, rows, _ = run_filter(tmp_path, [reading(2), reading(54)], newline_at_end=False)
    assert counts.lines_read == 2 and counts.kept == 1


def test_other_mote_id_is_matched_exactly(tmp_path):
    counts, _, _ = run_filter(tmp_path, [reading(5), reading(54), reading(540)], mote=5)
    assert counts.kept == 1 and counts.other_motes == 2


def test_non_numeric_field_names_file_line_and_field(tmp_path):
    lines = [reading(1), reading(2), reading(54, humidity="4O.1")]
    with pytest.raises(IntelLabFormatError, match=r"data\.txt\.gz:3: field humidity is not a number: '4O\.1'"):
        run_filter(tmp_path, lines)
    assert not (tmp_path / "out").exists()


def test_non_finite_value_is_rejected(tmp_path):
    with pytest.raises(IntelLabFormatError, match=r":1: field voltage is not a number: 'nan'"):
        run_filter(tmp_path, [reading(54, voltage="nan")])


def test_extra_fields_are_an_error(tmp_path):
    with pytest.raises(IntelLabFormatError, match=r":2: expected 8 fields .* found 9"):
        run_filter(tmp_path, [reading(54), reading(54) + " 1.0"])


def test_no_line_of_the_mote_is_an_error_naming_the_file(tmp_path):
    with pytest.raises(IntelLabFormatError, match=r"data\.txt\.gz:2: no complete reading of mote 54 in 2 lines"):
        run_filter(tmp_path, [reading(1), "2004-03-31 03:38:15.757551 8 54 19.9"])


def test_truncated_gzip_names_file_and_line_and_writes_nothing(tmp_path):
    src = write_published_file(tmp_path / "full.txt.gz", 5000, seed=1)
    data = src.read_bytes()
    cut = tmp_path / "data.txt.gz"
    cut.write_bytes(data[: len(data) // 2])
    out, counts = tmp_path / "node.csv", tmp_path / "counts.json"
    with pytest.raises(IntelLabFormatError, match=r"data\.txt\.gz:\d+: compressed stream is damaged or truncated"):
        filter_mote(cut, 54, out, counts, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.txt.gz", "full.txt.gz"]


def test_existing_outputs_survive_a_failed_run(tmp_path):
    out, counts = tmp_path / "node.csv", tmp_path / "counts.json"
    out.write_text("previous\n")
    src = write_gz(tmp_path / "bad.txt.gz", [reading(54, temperature="hot")])
    with pytest.raises(IntelLabFormatError):
        filter_mote(src, 54, out, counts, progress=False)
    assert out.read_text() == "previous\n" and not counts.exists()


def test_line_numbers_stay_right_across_read_chunks(tmp_path, monkeypatch):
    monkeypatch.setattr(intel_lab, "_CHUNK_BYTES", 100)  # a line straddles every chunk
    lines = [reading(1, epoch=i) for i in range(40)] + [reading(54, temperature="x")]
    with pytest.raises(IntelLabFormatError, match=r":41: field temperature"):
        run_filter(tmp_path, lines)


@pytest.mark.skipif(not shutil.which("awk"), reason="awk is not installed")
def test_agrees_with_the_thesis_awk_filter(tmp_path):
    src = write_published_file(tmp_path / "data.txt.gz", 30_000, incomplete_share=0.05, seed=7)
    counts = filter_mote(src, 54, tmp_path / "n.csv", tmp_path / "c.json", progress=False)
    with gzip.open(src, "rt") as fh:
        text = fh.read()
    awk = subprocess.run(["awk", "$4==54 && NF==8 {print $6\",\"$7\",\"$8\",\"$5}"], input=text,
                         capture_output=True, text=True, check=True).stdout.splitlines()
    ours = (tmp_path / "n.csv").read_text().splitlines()[1:]
    assert ours == awk
    assert counts.dropped_incomplete == len(
        [l for l in text.splitlines() if l.split()[3:4] == ["54"] and len(l.split()) < 8])
