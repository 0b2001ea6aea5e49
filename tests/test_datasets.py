"""Unit tests of the dataset builder: sizes, row integrity and failure behaviour."""

import pytest

from mlopsbench.data.datasets import MB, DatasetError, build_dataset

HEADER = "humidity,light,voltage,temperature"
ROWS = ["37.0933,45.08,2.69964,19.9884", "38.4629,45.08,2.68742,19.3024", "38.8039,45.08,2.68742,19.1652"]


@pytest.fixture
def node_csv(tmp_path):
    path = tmp_path / "node54.csv"
    path.write_text("\n".join([HEADER, *ROWS]) + "\n")
    return path


@pytest.mark.parametrize("size_mb", [0.001, 0.0137, 0.05, 0.25])
def test_size_reaches_target_within_one_row(node_csv, tmp_path, size_mb):
    out = tmp_path / "ds.csv"
    size = build_dataset(node_csv, size_mb, out)
    target = round(size_mb * MB)
    longest_row = max(len(r) + 1 for r in ROWS)
    assert size == out.stat().st_size
    assert target <= size < target + longest_row


def test_rows_repeat_in_order_with_one_header(node_csv, tmp_path):
    out = tmp_path / "ds.csv"
    build_dataset(node_csv, 0.01, out)
    header, *rows = out.read_text().splitlines()
    assert header == HEADER
    assert rows == [ROWS[i % len(ROWS)] for i in range(len(rows))]


def test_source_without_trailing_newline(tmp_path):
    src = tmp_path / "n.csv"
    src.write_text("\n".join([HEADER, *ROWS]))
    build_dataset(src, 0.001, tmp_path / "ds.csv")
    assert all(line.count(",") == 3 for line in (tmp_path / "ds.csv").read_text().splitlines())


def test_empty_source_names_the_file(tmp_path):
    src = tmp_path / "empty.csv"
    src.write_text(HEADER + "\n")
    with pytest.raises(DatasetError, match=r"empty\.csv:2: no data rows"):
        build_dataset(src, 1, tmp_path / "ds.csv")
    assert not (tmp_path / "ds.csv").exists()
