"""The ``mlopsbench`` command line: one subcommand per stage of the study.

Snakemake rules and DVC stages call these with explicit input and output paths and
explicit parameter values, so either tool (or a person) runs the same step.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from . import __version__
from .errors import InputError

log = logging.getLogger("mlopsbench")


def _check_config(args) -> None:
    from .config import load_config, pipeline_configurations

    config = load_config(args.config)
    print(f"{args.config}: valid ({config['study']}: "
          f"{len(pipeline_configurations(config))} pipeline configurations x "
          f"{config['pipeline']['repetitions']} repetitions)")


def _download(args) -> None:
    from .download import fetch

    fetch(args.url, args.output, sha256=args.sha256 or None, retries=args.retries)


def _filter(args) -> None:
    from .intel_lab import filter_mote

    filter_mote(args.input, args.mote, args.output, args.counts)


def _dataset(args) -> None:
    from .datasets import build_dataset

    build_dataset(args.input, args.size_mb, args.output)


def _regression_model(args) -> None:
    from .models import build_regression_model, load_features, save_model

    model = build_regression_model(args.width, args.hidden_layers, args.learning_rate, args.loss,
                                   features=load_features(args.data), seed=args.seed)
    save_model(model, args.output, {"width": args.width, "hidden_layers": args.hidden_layers,
                                    "adapted_on": args.data})


def _upload_model(args) -> None:
    from .models import build_upload_model

    build_upload_model(args.size, args.unit, args.hidden_layers, args.output, seed=args.seed)


def _pipeline_run(args) -> None:
    from pathlib import Path

    from .pipeline.compiler import compile_notebook
    from .pipeline.local import RunSpec, run

    plan = compile_notebook(args.notebook)
    parameters = {"DATASET": str(Path(args.dataset).resolve()), "WIDTH": args.width,
                  "HIDDEN_LAYERS": args.hidden_layers, "EPOCHS": args.epochs,
                  "LEARNING_RATE": args.learning_rate, "LOSS": args.loss,
                  "VALIDATION_SPLIT": args.validation_split, "TEST_FRACTION": args.test_fraction,
                  "SEED": args.seed}
    unknown = sorted(set(parameters) - set(plan.notebook.parameters))
    if unknown:
        raise InputError(f"{args.notebook}: the pipeline-parameters cell lacks {', '.join(unknown)}")
    run_dir = Path(args.run_dir)
    labels = {"study": args.study, "configuration": run_dir.parent.name, "series": args.series,
              "dataset_mb": args.dataset_mb, "width": args.width, "hidden_layers": args.hidden_layers,
              "rep": args.rep}
    spec = RunSpec(args.backend, run_dir, parameters, labels, cores=args.cores, step_timeout=args.step_timeout,
                   keep_marshal=args.keep_marshal)
    if args.backend != "kubernetes":
        run(plan, spec)
        return
    from .pipeline.kubernetes import KubernetesRunner, cluster_spec, connect

    if not args.cluster_config:
        raise InputError("pipeline-run --backend kubernetes: --cluster-config is required")
    section = _kubernetes_section(args.cluster_config)
    core, watch_factory = connect(section)
    KubernetesRunner(core, watch_factory, cluster_spec(section), plan, spec).run()


def _kubernetes_section(config_path: str, key: str | None = None) -> dict:
    """The validated kubernetes section of a configuration (and its ``key`` subsection, if asked)."""
    from .config import load_config

    section = load_config(config_path).get("kubernetes")
    if section is None or (key and key not in section):
        raise InputError(f"{config_path}: needs a kubernetes{'.' + key if key else ''} section "
                         "(see config/cluster.yaml)")
    return section


def _cleanup(args) -> None:
    from .pipeline.kubernetes import PART_OF, cleanup, connect

    section = _kubernetes_section(args.cluster_config)
    selector = args.selector or f"app.kubernetes.io/part-of={PART_OF}"
    cleanup(connect(section)[0], section["namespace"], selector)
    log.info("deleted pods and volumes matching %s in namespace %s", selector, section["namespace"])


def _pipeline_tidy(args) -> None:
    from .pipeline.tidy import tidy_pipeline

    steps, runs = tidy_pipeline(args.runs, args.steps_output, args.runs_output)
    failed = int((runs["status"] != "succeeded").sum())
    log.info("%d step rows from %d runs (%d not succeeded) -> %s, %s", len(steps), len(runs), failed,
             args.steps_output, args.runs_output)


def _upload_run(args) -> None:
    from pathlib import Path

    from .config import CLUSTER_SETUPS
    from .objectstore import endpoint_from_environment
    from .upload.cell import MIB, CellSpec, model_from_sidecar, run_cell

    endpoint = endpoint_from_environment(args.endpoint, args.secure) if args.endpoint else None
    models = [model_from_sidecar(m) for m in args.models]
    cluster = _cluster_upload(args.cluster_config) if args.setup in CLUSTER_SETUPS and args.cluster_config else None
    spec = CellSpec(args.setup, args.latency_ms, args.reps, Path(args.out_dir), part_size=args.part_size_mib * MIB,
                    window_bytes=args.window_kib * 1024, bucket=args.bucket, endpoint=endpoint, cluster=cluster,
                    unit=args.unit)
    manifest = run_cell(spec, models)
    log.info("%s at %g ms: %s", args.setup, args.latency_ms, manifest["status"])


def _cluster_upload(config_path):
    from kubernetes import client

    from .objectstore import endpoint_from_environment
    from .pipeline.kubernetes import connect
    from .upload.cell import ClusterUpload

    section = _kubernetes_section(config_path, "upload")
    upload = section["upload"]
    core, _ = connect(section)
    return ClusterUpload(core=core, batch=client.BatchV1Api(), apps=client.AppsV1Api(),
                         namespace=section["namespace"], image=section["image"],
                         service_endpoint=upload["service_endpoint"],
                         vm_endpoint=endpoint_from_environment(upload["vm_endpoint"], False),
                         secret=upload["credentials_secret"], node_selector=upload.get("job_node_selector", {}),
                         netem=upload["netem"], netem_manifest=upload.get("netem_manifest", "deploy/netem-daemonset.yaml"),
                         netem_interface=upload.get("netem_interface", "eth0"),
                         job_timeout_s=upload.get("job_timeout_s", 3600))


def _upload_worker(args) -> None:
    import json

    from .upload.worker import upload_worker

    code = upload_worker(args.endpoint, args.secure, args.bucket, args.part_size, json.load(sys.stdin))
    if code:
        raise SystemExit(code)


def _upload_tidy(args) -> None:
    from .upload.tidy import tidy_uploads

    uploads, cells = tidy_uploads(args.cells, args.output, args.cells_output)
    log.info("%d uploads (%d not ok) from %d cells -> %s", len(uploads), int((uploads["status"] != "ok").sum()),
             len(cells), args.output)


def _stats(args) -> None:
    from .analysis import analyse, load_table, write_stats

    result = analyse(load_table(args.steps), load_table(args.runs), load_table(args.uploads),
                     load_table(args.upload_cells), margin=args.equivalence_margin, little=args.little_change_points)
    written = write_stats(result, args.out_dir)
    verdicts = ", ".join(f"{c['id']} {c['verdict']}" for c in result["claims"])
    log.info("%d files -> %s; missing: %s; claims: %s", len(written), args.out_dir,
             ", ".join(result["missing"]) or "none", verdicts)


def _figures(args) -> None:
    from .figures import make_figures

    make_figures(args.stats_dir, args.out_dir)


def _report(args) -> None:
    from .report import write_report

    write_report(args.stats_dir, args.figures_dir, args.config, args.template, args.output,
                 data_files=args.data or [], counts_path=args.counts)
    log.info("report -> %s", args.output)


def _dvc_params(args) -> None:
    from .dvcparams import write_params

    params = write_params(args.config, args.output)
    derived = params["derived"]
    log.info("%s: %d pipeline runs (%d on a cluster), %d upload cells", args.output,
             len(derived["pipeline_runs"]) + len(derived["cluster_runs"]), len(derived["cluster_runs"]),
             len(derived["upload_cells"]))


def _sample_data(args) -> None:
    from .synthetic import write_published_file

    write_published_file(args.output, args.lines, seed=args.seed)
    log.info("wrote %d synthetic lines in the published format to %s", args.lines, args.output)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mlopsbench", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name, func, help_):
        p = sub.add_parser(name, help=help_, description=help_)
        p.set_defaults(func=func)
        return p

    p = command("check-config", _check_config, "validate a study configuration against the schema")
    p.add_argument("config")

    p = command("download", _download, "download the published data file (skipped if present)")
    p.add_argument("--url", required=True)
    p.add_argument("--output", required=True)
    p.add_argument("--sha256", default="", help="expected SHA-256 (empty: no check); the download fails if it differs")
    p.add_argument("--retries", type=int, default=5)

    p = command("filter", _filter, "keep the complete readings of one mote")
    p.add_argument("--input", required=True, help="data.txt.gz in the published format")
    p.add_argument("--mote", type=int, required=True)
    p.add_argument("--output", required=True, help="CSV with humidity,light,voltage,temperature")
    p.add_argument("--counts", required=True, help="JSON of lines read, kept and dropped")

    p = command("dataset", _dataset, "repeat the node's rows into a dataset of a given size")
    p.add_argument("--input", required=True)
    p.add_argument("--size-mb", type=float, required=True, help="target size, 1 MB = 10^6 bytes")
    p.add_argument("--output", required=True)

    p = command("regression-model", _regression_model, "build and save the regression model of Section 5.3.2")
    p.add_argument("--data", required=True, help="node CSV whose features adapt the Normalization layer")
    p.add_argument("--width", type=int, required=True)
    p.add_argument("--hidden-layers", type=int, default=3)
    p.add_argument("--learning-rate", type=float, default=0.001)
    p.add_argument("--loss", default="mean_absolute_error")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--output", required=True)

    p = command("upload-model", _upload_model, "save an untrained model of a given file size (Section 4.2)")
    p.add_argument("--size", type=float, required=True)
    p.add_argument("--unit", choices=["MB", "MiB"], default="MiB")
    p.add_argument("--hidden-layers", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--output", required=True)

    p = command("pipeline-run", _pipeline_run, "run the notebook pipeline once: one job per cell, or monolithic")
    p.add_argument("--backend", choices=["local", "monolithic", "kubernetes"], default="local")
    p.add_argument("--cluster-config", help="configuration with a kubernetes section (kubernetes backend)")
    p.add_argument("--notebook", required=True, help="Kale-tagged .ipynb")
    p.add_argument("--dataset", required=True, help="CSV passed to the notebook as DATASET")
    p.add_argument("--dataset-mb", type=float, required=True, help="the dataset's nominal size, for labels")
    p.add_argument("--width", type=int, required=True)
    p.add_argument("--hidden-layers", type=int, default=3)
    p.add_argument("--epochs", type=int, required=True)
    p.add_argument("--learning-rate", type=float, default=0.001)
    p.add_argument("--loss", default="mean_absolute_error")
    p.add_argument("--validation-split", type=float, default=0.2)
    p.add_argument("--test-fraction", type=float, default=0.2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--series", required=True, help="dataset, model or dataset+model (Figures 15-18)")
    p.add_argument("--study", default="adhoc")
    p.add_argument("--rep", type=int, required=True)
    p.add_argument("--run-dir", required=True, help="raw exports go here: events.jsonl, logs/, steps/")
    p.add_argument("--cores", type=int, default=os.cpu_count() or 1)
    p.add_argument("--step-timeout", type=float, default=None, help="seconds before a step is killed")
    p.add_argument("--keep-marshal", action="store_true", help="keep the marshal directory after success")

    p = command("cleanup", _cleanup, "delete pods and volumes that earlier cluster runs left behind")
    p.add_argument("--cluster-config", required=True, help="configuration with a kubernetes section")
    p.add_argument("--selector", help="label selector; default: everything labelled part-of=mlopsbench")

    p = command("pipeline-tidy", _pipeline_tidy, "build the tidy pipeline tables from raw run directories")
    p.add_argument("--runs", nargs="+", required=True, help="run directories (earlier attempts beside them are read too)")
    p.add_argument("--steps-output", required=True, help="parquet, one row per run and step")
    p.add_argument("--runs-output", required=True, help="parquet, one row per run")

    p = command("upload-run", _upload_run, "upload every model reps times at one latency in one setup")
    p.add_argument("--setup", choices=["host", "netns", "vm", "pod"], required=True)
    p.add_argument("--latency-ms", type=float, required=True, help="added round-trip time (the thesis's netem delay)")
    p.add_argument("--models", nargs="+", required=True, help=".keras files with their sidecar JSON")
    p.add_argument("--reps", type=int, required=True)
    p.add_argument("--out-dir", required=True, help="raw exports: uploads.jsonl, run.json, weed.log")
    p.add_argument("--part-size-mib", type=int, default=16)
    p.add_argument("--window-kib", type=int, default=4096, help="delay proxy's in-flight bytes per round trip")
    p.add_argument("--bucket", default="mlopsbench")
    p.add_argument("--endpoint", help="host:port of an S3/MinIO store; default: an embedded SeaweedFS")
    p.add_argument("--secure", action="store_true", help="use HTTPS with --endpoint")
    p.add_argument("--unit", choices=["MB", "MiB"], default="MiB", help="unit of the model sizes (pod setup)")
    p.add_argument("--cluster-config", help="configuration with kubernetes.upload (vm and pod setups)")

    p = command("upload-worker", _upload_worker, "(internal) upload the JSON plan on stdin; one JSON line per upload")
    p.add_argument("--endpoint", required=True)
    p.add_argument("--bucket", required=True)
    p.add_argument("--part-size", type=int, required=True)
    p.add_argument("--secure", action="store_true")

    p = command("upload-tidy", _upload_tidy, "build the tidy upload tables from raw cells")
    p.add_argument("--cells", nargs="+", required=True)
    p.add_argument("--output", required=True, help="parquet, one row per upload")
    p.add_argument("--cells-output", required=True, help="parquet, one row per setup and latency")

    p = command("stats", _stats, "statistics and the thesis's claims judged, from the tidy tables")
    p.add_argument("--steps", help="pipeline_steps.parquet (a missing file is reported as missing)")
    p.add_argument("--runs", help="pipeline_runs.parquet")
    p.add_argument("--uploads", help="uploads.parquet")
    p.add_argument("--upload-cells", help="upload_cells.parquet")
    p.add_argument("--equivalence-margin", type=float, default=0.10, help="TOST margin, share of the host mean")
    p.add_argument("--little-change-points", type=float, default=5.0, help="claim C2's 'little', in points")
    p.add_argument("--out-dir", required=True)

    p = command("figures", _figures, "draw the analogues of the thesis's Figures 14-19")
    p.add_argument("--stats-dir", required=True)
    p.add_argument("--out-dir", required=True)

    p = command("report", _report, "write the PDF report")
    p.add_argument("--stats-dir", required=True)
    p.add_argument("--figures-dir", required=True)
    p.add_argument("--config", required=True, help="the study configuration, shown in the report")
    p.add_argument("--template", required=True, help="report/report.md.j2")
    p.add_argument("--data", nargs="*", help="data files whose SHA-256 the report lists")
    p.add_argument("--counts", help="the node filter's counts JSON")
    p.add_argument("--output", required=True)

    p = command("dvc-params", _dvc_params, "derive DVC's params.yaml from a study configuration")
    p.add_argument("--config", required=True)
    p.add_argument("--output", default="params.yaml")

    p = command("sample-data", _sample_data, "write a synthetic file in the published format (offline trials)")
    p.add_argument("--output", required=True)
    p.add_argument("--lines", type=int, default=100_000)
    p.add_argument("--seed", type=int, default=0)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        args.func(args)
    except (InputError, FileNotFoundError) as exc:
        # Our errors name the file, line or config key; a traceback would bury that.
        print(f"mlopsbench {args.command}: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
