"""The ``mlopsbench`` command line: one subcommand per stage of the study.

Snakemake rules and DVC stages call these with explicit input and output paths and
explicit parameter values, so either tool (or a person) runs the same step. An option
whose value the study configuration owns takes its default from the configuration's
schema (``config_option``), never one of its own.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import signal
import sys
from pathlib import Path

from . import __version__
from .errors import InputError

log = logging.getLogger("mlopsbench")


def _check_config(args) -> None:
    from .config import check_config_files, load_config, pipeline_configurations

    config = load_config(args.config)
    check_config_files(config, args.config)
    print(f"{args.config}: valid ({config['study']}: "
          f"{len(pipeline_configurations(config))} pipeline configurations x "
          f"{config['pipeline']['repetitions']} repetitions)")


def _download(args) -> None:
    from .data.download import verify

    verify(args.url, args.output, args.record, sha256=args.sha256 or None, retries=args.retries)


def _filter(args) -> None:
    from .data.intel_lab import filter_mote

    filter_mote(args.input, args.mote, args.output, args.counts)


def _dataset(args) -> None:
    from .data.datasets import build_dataset

    build_dataset(args.input, args.size_mb, args.output)


def _regression_model(args) -> None:
    from .data.models import build_regression_model, load_features, save_model

    model = build_regression_model(args.width, args.hidden_layers, args.learning_rate, args.loss,
                                   features=load_features(args.data), seed=args.seed)
    save_model(model, args.output, {"width": args.width, "hidden_layers": args.hidden_layers,
                                    "adapted_on": args.data})


def _upload_model(args) -> None:
    from .data.models import build_upload_model

    build_upload_model(args.size, args.unit, args.hidden_layers, args.output, seed=args.seed)


def _kubernetes_section(config_path: str | None, needed_by: str) -> dict:
    """A configuration's kubernetes section, its defaults from the schema (filled here, once)."""
    from .config import load_config

    if not config_path:
        raise InputError(f"{needed_by} runs on a cluster: give --cluster-config (a configuration with a "
                         "kubernetes section, see config/cluster.yaml)")
    section = load_config(config_path).get("kubernetes")
    if section is None:
        raise InputError(f"{config_path}: needs a kubernetes section (see config/cluster.yaml)")
    return section


def _run_spec(args, backend_name: str, run_dir: Path, plan):
    """The RunSpec of one run from the pipeline commands' shared arguments."""
    from . import paths
    from .pipeline.backends import backend
    from .pipeline.calibration import CalibrationSettings
    from .pipeline.run import RunSpec
    from .records import RunIdentity

    parameters = {"DATASET": str(Path(args.dataset).resolve()), "WIDTH": args.width,
                  "HIDDEN_LAYERS": args.hidden_layers, "EPOCHS": args.epochs,
                  "LEARNING_RATE": args.learning_rate, "LOSS": args.loss,
                  "VALIDATION_SPLIT": args.validation_split, "TEST_FRACTION": args.test_fraction,
                  "SEED": args.seed}
    unknown = sorted(set(parameters) - set(plan.notebook.parameters))
    if unknown:
        raise InputError(f"{args.notebook}: the pipeline-parameters cell lacks {', '.join(unknown)}")
    identity = RunIdentity(study=args.study, backend=backend_name, rep=args.rep, series=args.series,
                           configuration=paths.configuration_name(args.width, args.hidden_layers, args.dataset_mb),
                           dataset_mb=args.dataset_mb, width=args.width, hidden_layers=args.hidden_layers)
    chosen = backend(backend_name)
    cluster = None
    if chosen.on_cluster:
        cluster = chosen.cluster_target(_kubernetes_section(args.cluster_config, f"backend {backend_name}"))
    calibration = None if args.no_calibration else CalibrationSettings(args.calibration_python_iterations,
                                                                         args.calibration_keras_steps)
    return RunSpec(identity, run_dir, parameters, cores=args.cores, cpu_request=args.cpu_request,
                   step_timeout=args.step_timeout, keep_marshal=args.keep_marshal, inputs=("DATASET",),
                   cluster=cluster, calibration=calibration)


def _pipeline_run(args) -> None:
    from .pipeline.backends import backend
    from .pipeline.compiler import compile_notebook

    plan = compile_notebook(args.notebook)
    backend(args.backend).run(plan, _run_spec(args, args.backend, Path(args.run_dir), plan))


def _pipeline_block(args) -> None:
    from .pipeline.block import run_block
    from .pipeline.compiler import compile_notebook

    plan = compile_notebook(args.notebook)
    block = Path(args.block)
    specs = [_run_spec(args, name, block.parent / name, plan) for name in args.backends]
    run_block(plan, specs, args.order_seed, block)


def _cleanup(args) -> None:
    from .cluster.kube import LEFT_BY_RUNS, cleanup
    from .cluster.target import target_from_config

    target = target_from_config(_kubernetes_section(args.cluster_config, "cleanup"))
    selector = args.selector or LEFT_BY_RUNS
    cleanup(target.clients.core, target.namespace, selector, apps=target.clients.apps)
    log.info("deleted deployments, pods, volumes and services matching %s in namespace %s", selector,
             target.namespace)


def _pipeline_tidy(args) -> None:
    from .pipeline.tidy import tidy_pipeline

    steps, runs = tidy_pipeline(args.runs, args.steps_output, args.runs_output)
    failed = int((~runs["status"].isin(["succeeded", "superseded"])).sum())
    log.info("%d step rows from %d runs (%d not succeeded, %d superseded) -> %s, %s", len(steps), len(runs), failed,
             int((runs["status"] == "superseded").sum()), args.steps_output, args.runs_output)


def _store_way(args) -> dict:
    """A cell's way to its store (upload and serving cells alike) from the command line: the setup,
    the latency, the store and how objects travel, as ``store.way.StoreWay``'s fields."""
    from .store.objectstore import endpoint_from_environment
    from .store.on_cluster import cluster_store
    from .store.way import MIB
    from .upload.setups import setup

    chosen = setup(args.setup)
    endpoint = endpoint_from_environment(args.endpoint, args.secure) if args.endpoint else None
    cluster = store = None
    if chosen.on_cluster:
        section = _kubernetes_section(args.cluster_config, f"setup {args.setup}")
        cluster, store = chosen.cluster_target(section), cluster_store(section)
    return dict(setup=args.setup, latency_ms=args.latency_ms, out_dir=Path(args.out_dir), study=args.study,
                part_size=args.part_size_mib * MIB, window_bytes=args.window_kib * 1024, bucket=args.bucket,
                endpoint=endpoint, cluster=cluster, cluster_store=store)


def _upload_run(args) -> None:
    from .upload.cell import run_cell
    from .upload.plan import CellSpec, model_from_sidecar

    models = [model_from_sidecar(m) for m in args.models]
    manifest = run_cell(CellSpec(reps=args.reps, unit=args.unit, **_store_way(args)), models)
    log.info("%s at %g ms: %s", args.setup, args.latency_ms, manifest["status"])


def _upload_worker(args) -> None:
    import json

    from .upload.worker import upload_worker

    code = upload_worker(args.endpoint, args.secure, json.load(sys.stdin))
    if code:
        raise SystemExit(code)


def _delay_proxy(args) -> None:
    import threading

    from .store.latency import DelayProxy

    host, _, port = args.upstream.rpartition(":")
    with DelayProxy((host, int(port)), "0.0.0.0", args.rtt_ms, args.window_bytes, listen_port=args.port) as address:
        log.info("delay proxy on port %d -> %s, %g ms added per round trip", address[1], args.upstream, args.rtt_ms)
        threading.Event().wait()  # until SIGTERM (the pod's end) or Ctrl-C


def _upload_tidy(args) -> None:
    from .upload.tidy import tidy_uploads

    uploads, cells = tidy_uploads(args.cells, args.output, args.cells_output)
    log.info("%d uploads (%d not ok) from %d cells -> %s", len(uploads), int((uploads["status"] != "ok").sum()),
             len(cells), args.output)


def _serving_versions(args) -> None:
    from .data.models import build_upload_model

    for number, dest in enumerate(args.output, start=1):   # each version its own weights
        info = build_upload_model(args.size_mb, args.unit, args.hidden_layers, dest, seed=args.seed + number)
        log.info("version %d of the %g %s model: %s (%d bytes)", number, args.size_mb, args.unit, dest, info["bytes"])


def _serving_run(args) -> None:
    from .serving import env
    from .serving.cell import run_cell
    from .serving.measure import ServingSpec
    from .store.way import StoreWay
    from .upload.setups import SETUPS

    repo = _checkout(args.repo)
    spec = ServingSpec(args.method, args.model_mb, len(args.versions) - 1, args.poll_interval_s, args.rate_per_s,
                       args.settle_s, args.update_timeout_s, args.request_timeout_s, args.ready_timeout_s,
                       StoreWay(**_store_way(args)))
    if SETUPS[args.setup].on_cluster:
        site = {"image": env.serving_image(repo, args.image)}
    else:
        site = {"python": env.python(repo)}
    manifest = run_cell(spec, [Path(v) for v in args.versions], env.framework(repo), **site)
    log.info("serving %s %s at %g ms, %g MB: %s", args.setup, args.method, args.latency_ms, args.model_mb,
             manifest["status"])


def _serving_publish(args) -> None:
    import json

    from .serving.versions import publish
    from .store.objectstore import client, endpoint_from_environment
    from .store.way import MIB

    minio = client(endpoint_from_environment(args.endpoint, args.secure))
    started, ended = publish(minio, args.bucket, args.model, args.version, Path(args.path), args.part_size_mib * MIB)
    print(json.dumps({"version": args.version, "started": started, "ended": ended}), flush=True)


def _serving_tidy(args) -> None:
    from .serving.tidy import tidy_serving

    updates, requests = tidy_serving(args.cells, args.updates_output, args.requests_output)
    log.info("%d updates (%d not ok), %d requests from %d cells -> %s", len(updates),
             int((updates["status"] != "ok").sum()), len(requests), len(args.cells), args.updates_output)


def _stats(args) -> None:
    from .results.analysis import analyse, load_table

    bundle = analyse(load_table(args.steps), load_table(args.runs), load_table(args.uploads),
                     load_table(args.upload_cells), margin=args.equivalence_margin, little=args.little_change_points,
                     serving_updates=load_table(args.serving_updates),
                     serving_requests=load_table(args.serving_requests))
    written = bundle.write(args.out_dir)
    verdicts = ", ".join(f"{cid} {verdict}" for cid, verdict in bundle.summary.claims.items())
    log.info("%d files -> %s; missing: %s; claims: %s", len(written), args.out_dir,
             ", ".join(bundle.summary.missing) or "none", verdicts)


def _figures(args) -> None:
    from .results.figures import make_figures

    make_figures(args.stats_dir, args.out_dir)


def _report(args) -> None:
    from .results.report import write_report

    write_report(args.stats_dir, args.figures_dir, args.config, args.template, args.output,
                 data_files=args.data or [], counts_path=args.counts, manifest_path=args.manifest)
    log.info("report -> %s", args.output)


def _progress(args) -> None:
    from .config import load_config
    from .progress import describe, estimate

    print(f"{args.config}: " + describe(estimate(load_config(args.config), Path(args.study))))


def _reference(args) -> None:
    from . import reference

    folder = Path(args.dir)
    if args.action == "collect":
        if not args.study:
            raise InputError("reference collect: --study names the measuring study's working directory")
        copied = reference.collect(Path(args.study), folder)
        log.info("%d run and cell directories copied into %s", len(copied), folder)
    elif args.action == "rebuild":
        log.info("rebuilt %s from the raw exports in %s", reference.rebuild(folder, Path(args.template)), folder)
    elif args.action == "compare-block":
        if not args.study or not args.block:
            raise InputError("reference compare-block: --study names the study that measured --block again")
        print(reference.compare_table(reference.compare_block(folder, Path(args.study), args.block), args.block))
    elif args.action == "wall-time":
        from .config import load_config

        print(reference.wall_time_table(reference.wall_time(folder, load_config(args.design)), args.design))
    else:
        if not args.commit:
            raise InputError("reference manifest: --commit names the commit of the measuring code")
        sittings = Path(args.sittings).read_text().splitlines() if args.sittings else []
        manifest = reference.write_manifest(folder, reference.experiment_commits(folder, args.commit), sittings)
        log.info("%s: %d files, %.1f MB", folder / reference.MANIFEST, len(manifest["files"]), manifest["bytes"] / 1e6)


def _dvc_params(args) -> None:
    from .dvcparams import write_params

    params = write_params(args.config, args.output)
    derived = params["derived"]
    on_cluster = len(derived["cluster_blocks"]) + len(derived["local_cluster_blocks"])
    log.info("%s: %d pipeline blocks (%d on a cluster), %d upload cells, %d serving cells", args.output,
             len(derived["pipeline_blocks"]) + on_cluster, on_cluster,
             len(derived["upload_cells"]) + len(derived["cluster_upload_cells"]) +
             len(derived["local_cluster_upload_cells"]),
             len(derived["serving_cells"]) + len(derived["cluster_serving_cells"]) +
             len(derived["local_cluster_serving_cells"]))


def _checkout(given: str | None) -> Path:
    """The project checkout the job image and the cluster's manifests come from: ``--repo``, else
    the one this package is installed from in editable mode, wherever the command runs."""
    if given:
        return Path(given)
    here = Path(__file__).resolve().parents[2]  # src/mlopsbench/cli.py in a checkout
    if (here / "constraints.txt").is_file() and (here / "deploy").is_dir():
        return here
    raise InputError("cluster: give --repo, the project checkout: the job image is built from its constraints.txt "
                     "and the cluster's objects from its deploy/ manifests, which an installed package lacks")


def _cluster(args) -> None:
    import json

    from . import atomic
    from .cluster import build, images, lifecycle
    from .cluster.components import GO_MODULES
    from .cluster.nodes import ONE_NODE

    if args.action == "up":
        was_up = lifecycle.status() is not None
        cluster = lifecycle.up(_checkout(args.repo), scrape_interval_s=args.scrape_interval,
                               kubelet_variant=args.kubelet_variant, specs=tuple(args.node or ONE_NODE))
        if args.hold:  # whoever releases it stops the cluster only if this call started it
            atomic.write_json(args.hold, {"started_here": not was_up, "server": cluster.server})
        print(f"cluster up: API {cluster.server}; admin kubeconfig {cluster.admin_kubeconfig}; "
              f"runner kubeconfig {cluster.runner_kubeconfig}; Prometheus {cluster.prometheus_url}; "
              f"image registry {cluster.registry}")
    elif args.action == "down":
        if args.release:
            hold = Path(args.release)
            started_here = hold.exists() and json.loads(hold.read_text())["started_here"]
            hold.unlink(missing_ok=True)
            if not started_here:
                log.info("the cluster was up before the study; it stays up")
                return
        lifecycle.down()
        left = lifecycle.leftovers()
        if left:
            raise InputError("cluster down left " + "; ".join(left))
    elif args.action == "status":
        cluster = lifecycle.status()
        if cluster is not None:
            nodes = "; ".join(f"{n['name']} ({n['role']}, {n['address']}, offers {n['allocatable']['cpu']} cores "
                              f"{n['allocatable']['memory']})" for n in cluster.nodes)
            print(f"up: API {cluster.server}; kubelet {cluster.kubelet_variant}" + (f"; nodes {nodes}" if nodes else ""))
            return
        wrong = lifecycle.problems()
        print("not working: " + "; ".join(wrong) if wrong else "down")
        raise SystemExit(3)
    elif args.action == "prune":
        repo = _checkout(args.repo)
        removed = images.prune(repo, args.unused_hours)
        for folder, size in removed:
            log.info("removed %s (%.0f MB)", folder, size / 1e6)
        print(f"removed {len(removed)} cached image layers ({sum(size for _, size in removed) / 1e9:.1f} GB); kept "
              f"those the images of {repo} are made of and those used in the last {args.unused_hours:g} h")
    elif args.action == "kubeconfig":
        cluster = lifecycle.status()
        if cluster is None:
            raise InputError("the local cluster is not up: run `mlopsbench cluster up`")
        print(cluster.runner_kubeconfig if args.runner else cluster.admin_kubeconfig)
    else:
        build.ensure_binaries(GO_MODULES)
        images.pause_layers()
        images.job_layers(_checkout(args.repo))


def _images(args) -> None:
    """Push the job image (and the serving image) to a registry; print what to configure."""
    from .cluster import images, registry

    repo = _checkout(args.repo)
    pushes = [("kubernetes.image", "mlopsbench", images.job_layers(repo), images.JOB_CONFIG)]
    if args.serving:
        pushes.append(("serving.image", "mlopsbench-serving", images.serving_layers(repo), images.SERVING_CONFIG))
    for key, name, layers, config in pushes:
        pinned = registry.push(f"{args.registry.rstrip('/')}/{name}:{args.tag}", layers, config, args.plain_http)
        print(f"{key}: {pinned}")


def _sample_data(args) -> None:
    from .data.synthetic import write_published_file

    write_published_file(args.output, args.lines, seed=args.seed)
    log.info("wrote %d synthetic lines in the published format to %s", args.lines, args.output)


# --- argument types: bad values are refused like bad config values, naming the option --------

def _number(kind, low: float, inclusive: bool, what: str):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a {'whole ' if kind is int else ''}number") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"{text} is not a finite number")
        if value < low or (value == low and not inclusive):
            raise argparse.ArgumentTypeError(f"{text} is not {what}")
        return value
    return parse


positive = _number(float, 0, False, "greater than 0")
non_negative = _number(float, 0, True, "0 or more")
at_least_one = _number(int, 1, True, "1 or more")


def input_file(text: str) -> str:
    path = Path(text)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a directory, not a file")
    if not path.exists():
        raise argparse.ArgumentTypeError(f"{text}: no such file")
    return text


def _existing_dir(text: str) -> str:
    if not Path(text).is_dir():
        raise argparse.ArgumentTypeError(f"{text} is not a directory")
    return text


def output_file(text: str) -> str:
    if Path(text).is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a directory, not a file")
    return text


def config_option(parser: argparse.ArgumentParser, flag: str, key: str, help: str = "", **kwargs) -> argparse.Action:
    """An option whose value the study configuration owns (``key``): its default is the schema's."""
    from .config import default

    action = parser.add_argument(flag, default=default(key), help=f"{help} (config: {key}; default: %(default)s)".strip(),
                                 **kwargs)
    action.config_key = key
    return action


def build_parser() -> argparse.ArgumentParser:
    # Names a key allows (backends, setups, units) come from the schema, which tests check against
    # the registries; importing the registries here would make every command depend on every backend.
    from .config import choices

    parser = argparse.ArgumentParser(prog="mlopsbench", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name, func, help_):
        p = sub.add_parser(name, help=help_, description=help_)
        p.set_defaults(func=func)
        return p

    _data_commands(command, choices)
    _pipeline_commands(command, choices)
    _upload_commands(command, choices)
    _serving_commands(command, choices)
    _analysis_commands(command)
    _cluster_commands(command, choices)
    return parser


def _data_commands(command, choices) -> None:
    """The data, the models, the study's configuration."""
    p = command("check-config", _check_config, "validate a study configuration and the files it names")
    p.add_argument("config")

    p = command("download", _download, "download the published data file (checked against its pin if present)")
    p.add_argument("--url", required=True)
    p.add_argument("--output", required=True, type=output_file)
    config_option(p, "--sha256", "data.sha256", "expected SHA-256 (empty: no check)", type=lambda s: s or None)
    p.add_argument("--retries", type=int, default=5)
    p.add_argument("--record", required=True, type=output_file,
                   help="JSON written once the file is checked (the workflow's output; the data file never is one)")

    p = command("filter", _filter, "keep the complete readings of one mote")
    p.add_argument("--input", required=True, type=input_file, help="data.txt.gz in the published format")
    p.add_argument("--mote", type=int, required=True)
    p.add_argument("--output", required=True, type=output_file, help="CSV with humidity,light,voltage,temperature")
    p.add_argument("--counts", required=True, type=output_file, help="JSON of lines read, kept and dropped")

    p = command("dataset", _dataset, "repeat the node's rows into a dataset of a given size")
    p.add_argument("--input", required=True, type=input_file)
    p.add_argument("--size-mb", type=positive, required=True, help="target size, 1 MB = 10^6 bytes")
    p.add_argument("--output", required=True, type=output_file)

    p = command("regression-model", _regression_model, "build and save the regression model of Section 5.3.2")
    p.add_argument("--data", required=True, type=input_file, help="node CSV whose features adapt the Normalization")
    p.add_argument("--width", type=at_least_one, required=True)
    config_option(p, "--hidden-layers", "model.hidden_layers", type=at_least_one)
    config_option(p, "--learning-rate", "training.learning_rate", type=positive)
    config_option(p, "--loss", "training.loss")
    config_option(p, "--seed", "training.seed", type=int)
    p.add_argument("--output", required=True, type=output_file)

    p = command("upload-model", _upload_model, "save an untrained model of a given file size (Section 4.2)")
    p.add_argument("--size", type=positive, required=True)
    config_option(p, "--unit", "upload.size_unit", choices=choices("upload.size_unit"))
    config_option(p, "--hidden-layers", "model.hidden_layers", type=at_least_one)
    config_option(p, "--seed", "upload.seed", type=int)
    p.add_argument("--output", required=True, type=output_file)

    p = command("sample-data", _sample_data, "write a synthetic file in the published format (offline trials)")
    p.add_argument("--output", required=True, type=output_file)
    p.add_argument("--lines", type=at_least_one, default=100_000)
    p.add_argument("--seed", type=int, default=0, help="seed of the synthetic values")

    p = command("dvc-params", _dvc_params, "derive DVC's params.yaml from a study configuration")
    p.add_argument("--config", required=True, type=input_file)
    p.add_argument("--output", default="params.yaml", type=output_file)


def _pipeline_commands(command, choices) -> None:
    """The pipeline-overhead experiment."""
    p = command("pipeline-run", _pipeline_run, "run the notebook pipeline once: one job per cell, or monolithic")
    p.add_argument("--backend", choices=choices("pipeline.backends"), required=True)
    p.add_argument("--run-dir", required=True, help="raw exports: events.jsonl, logs/, steps/")
    _run_arguments(p)

    p = command("pipeline-block", _pipeline_block, "run one block: a configuration and repetition on every backend, "
                                                   "back to back, in an order drawn from --order-seed")
    p.add_argument("--backends", nargs="+", choices=choices("pipeline.backends"), required=True)
    p.add_argument("--block", required=True, type=output_file,
                   help="the block's record (block.json), written once every run finished; each backend's run "
                        "directory is beside it, named after the backend")
    config_option(p, "--order-seed", "pipeline.order_seed", type=int)
    _run_arguments(p)

    p = command("cleanup", _cleanup, "delete pods and volumes that earlier cluster runs left behind")
    p.add_argument("--cluster-config", required=True, help="configuration with a kubernetes section")
    p.add_argument("--selector", help="label selector; default: the step pods, upload Jobs' pods, delay proxies and "
                                      "volumes that runs make (never the store, Prometheus or kube-state-metrics)")

    p = command("pipeline-tidy", _pipeline_tidy, "build the tidy pipeline tables from raw run directories")
    p.add_argument("--runs", nargs="+", required=True, help="run directories (earlier attempts beside them are read too)")
    p.add_argument("--steps-output", required=True, type=output_file, help="parquet, one row per run and step")
    p.add_argument("--runs-output", required=True, type=output_file, help="parquet, one row per run")


def _run_arguments(p: argparse.ArgumentParser) -> None:
    """What pipeline-run and pipeline-block both take: the notebook, its parameters, the run's frame."""
    p.add_argument("--cluster-config", help="configuration with a kubernetes section (backends on a cluster)")
    p.add_argument("--notebook", required=True, type=input_file, help="Kale-tagged .ipynb")
    p.add_argument("--dataset", required=True, type=input_file, help="CSV passed to the notebook as DATASET")
    p.add_argument("--dataset-mb", type=positive, required=True, help="the dataset's nominal size, for labels")
    p.add_argument("--width", type=at_least_one, required=True)
    config_option(p, "--hidden-layers", "model.hidden_layers", type=at_least_one)
    p.add_argument("--epochs", type=at_least_one, required=True)
    config_option(p, "--learning-rate", "training.learning_rate", type=positive)
    config_option(p, "--loss", "training.loss")
    config_option(p, "--validation-split", "training.validation_split", type=positive)
    config_option(p, "--test-fraction", "training.test_fraction", type=positive)
    config_option(p, "--seed", "training.seed", type=int)
    p.add_argument("--series", required=True, help="dataset, model or dataset+model (Figures 15-18)")
    config_option(p, "--study", "study")
    p.add_argument("--rep", type=at_least_one, required=True)
    p.add_argument("--cores", type=at_least_one, default=os.cpu_count() or 1)
    config_option(p, "--cpu-request", "pipeline.cpu_request", type=at_least_one,
                  help="cores each step asks for; unset: each step's limit:cpu tag")
    config_option(p, "--step-timeout", "pipeline.step_timeout_s", type=positive,
                  help="seconds before a step is killed")
    p.add_argument("--keep-marshal", action="store_true", help="keep the marshal directory after success")
    config_option(p, "--calibration-python-iterations", "pipeline.calibration.python_iterations", type=at_least_one,
                  help="the calibration's pure-Python loop, before and after the run")
    config_option(p, "--calibration-keras-steps", "pipeline.calibration.keras_steps", type=at_least_one,
                  help="the calibration's Keras training steps")
    p.add_argument("--no-calibration", action="store_true", help="measure no calibration beside the run")


def _serving_commands(command, choices) -> None:
    """The serving experiment: how long until the edge answers with a new model."""
    p = command("serving-versions", _serving_versions, "save one model file per version, each with its own weights")
    p.add_argument("--size-mb", type=positive, required=True)
    config_option(p, "--unit", "upload.size_unit", choices=choices("upload.size_unit"))
    p.add_argument("--hidden-layers", type=at_least_one, required=True)
    config_option(p, "--seed", "upload.seed", type=_number(int, 0, True, "0 or more"))
    p.add_argument("--output", nargs="+", required=True, type=output_file, help=".keras files, version 1 first")

    p = command("serving-run", _serving_run, "serve a model at the edge and measure every update to a new version")
    p.add_argument("--setup", choices=choices("serving.setups"), required=True)
    p.add_argument("--method", choices=choices("serving.methods"), required=True)
    p.add_argument("--latency-ms", type=non_negative, required=True)
    p.add_argument("--model-mb", type=positive, required=True, help="the versions' nominal size")
    p.add_argument("--versions", nargs="+", required=True, type=input_file,
                   help="the model files: the first serves from the start, each later one is one update")
    p.add_argument("--out-dir", required=True, help="raw exports: requests.jsonl, updates.jsonl, run.json, logs/")
    config_option(p, "--study", "study")
    config_option(p, "--poll-interval-s", "serving.poll_interval_s", type=positive)
    config_option(p, "--rate-per-s", "serving.rate_per_s", type=positive)
    config_option(p, "--settle-s", "serving.settle_s", type=non_negative)
    config_option(p, "--update-timeout-s", "serving.update_timeout_s", type=positive)
    config_option(p, "--request-timeout-s", "serving.request_timeout_s", type=positive)
    config_option(p, "--ready-timeout-s", "serving.ready_timeout_s", type=positive)
    config_option(p, "--part-size-mib", "upload.part_size_mib", type=_number(int, 5, True, "5 or more (S3's minimum)"))
    config_option(p, "--window-kib", "upload.proxy_window_kib", type=_number(int, 64, True, "64 or more"))
    config_option(p, "--bucket", "upload.store.bucket")
    p.add_argument("--endpoint", help="host:port of an S3/MinIO store; default: an embedded SeaweedFS")
    p.add_argument("--secure", action="store_true", help="use HTTPS with --endpoint")
    p.add_argument("--cluster-config", help="configuration with kubernetes.upload (vm and pod: the edge as a pod)")
    config_option(p, "--image", "serving.image", help="vm and pod: the serving image; on the package's own cluster "
                                                       "it is built and imported when missing")
    p.add_argument("--repo", help="the project checkout (its serving-constraints.txt); default: this package's")

    p = command("serving-publish", _serving_publish, "upload a model file as a new version and point the store's "
                                                     "LATEST at it; print the upload's start and end as JSON")
    p.add_argument("--endpoint", required=True, help="host:port of the S3 store (keys from the environment)")
    p.add_argument("--secure", action="store_true", help="use HTTPS")
    config_option(p, "--bucket", "upload.store.bucket")
    p.add_argument("--model", required=True)
    p.add_argument("--version", required=True)
    p.add_argument("--path", required=True, type=input_file)
    config_option(p, "--part-size-mib", "upload.part_size_mib", type=_number(int, 5, True, "5 or more (S3's minimum)"))

    p = command("serving-tidy", _serving_tidy, "build the tidy serving tables from raw serving cells")
    p.add_argument("--cells", nargs="*", required=True, help="the cells' raw directories (none: empty tables, for a "
                                                              "study without a serving section)")
    p.add_argument("--updates-output", required=True, type=output_file, help="parquet, one row per update")
    p.add_argument("--requests-output", required=True, type=output_file, help="parquet, one row per request")


def _upload_commands(command, choices) -> None:
    """The model-upload experiment."""
    p = command("upload-run", _upload_run, "upload every model reps times at one latency in one setup")
    p.add_argument("--setup", choices=choices("upload.setups"), required=True)
    p.add_argument("--latency-ms", type=non_negative, required=True, help="added round-trip time (the thesis's netem delay)")
    p.add_argument("--models", nargs="+", required=True, type=input_file, help=".keras files with their sidecar JSON")
    p.add_argument("--reps", type=at_least_one, required=True)
    p.add_argument("--out-dir", required=True, help="raw exports: uploads.jsonl, run.json, weed.log")
    config_option(p, "--study", "study")
    config_option(p, "--part-size-mib", "upload.part_size_mib", type=_number(int, 5, True, "5 or more (S3's minimum)"))
    config_option(p, "--window-kib", "upload.proxy_window_kib", type=_number(int, 64, True, "64 or more"),
                  help="delay proxy's in-flight bytes per round trip")
    config_option(p, "--bucket", "upload.store.bucket")
    p.add_argument("--endpoint", help="host:port of an S3/MinIO store; default: an embedded SeaweedFS")
    p.add_argument("--secure", action="store_true", help="use HTTPS with --endpoint")
    config_option(p, "--unit", "upload.size_unit", choices=choices("upload.size_unit"),
                  help="unit of the model sizes (pod setup)")
    p.add_argument("--cluster-config", help="configuration with kubernetes.upload (setups on a cluster)")

    p = command("upload-worker", _upload_worker, "(internal) upload the JSON job on stdin; one record a line")
    p.add_argument("--endpoint", required=True)
    p.add_argument("--secure", action="store_true")

    p = command("delay-proxy", _delay_proxy, "(internal) relay TCP to --upstream, adding a round-trip time")
    p.add_argument("--upstream", required=True, help="host:port")
    p.add_argument("--port", type=at_least_one, required=True, help="port to listen on, all addresses")
    p.add_argument("--rtt-ms", type=non_negative, required=True)
    p.add_argument("--window-bytes", type=at_least_one, required=True)

    p = command("upload-tidy", _upload_tidy, "build the tidy upload tables from raw cells")
    p.add_argument("--cells", nargs="+", required=True)
    p.add_argument("--output", required=True, type=output_file, help="parquet, one row per upload")
    p.add_argument("--cells-output", required=True, type=output_file, help="parquet, one row per setup and latency")


def _analysis_commands(command) -> None:
    """Statistics, figures and the report."""
    p = command("stats", _stats, "statistics and the thesis's claims judged, from the tidy tables")
    p.add_argument("--steps", help="pipeline_steps.parquet (a missing file is reported as missing)")
    p.add_argument("--runs", help="pipeline_runs.parquet")
    p.add_argument("--uploads", help="uploads.parquet")
    p.add_argument("--upload-cells", help="upload_cells.parquet")
    p.add_argument("--serving-updates", help="serving_updates.parquet (only where the study has a serving section)")
    p.add_argument("--serving-requests", help="serving_requests.parquet")
    config_option(p, "--equivalence-margin", "analysis.equivalence_margin", type=positive,
                  help="TOST margin, share of the first setup's mean")
    config_option(p, "--little-change-points", "analysis.little_change_points", type=positive,
                  help="claim C2's 'little', in points")
    p.add_argument("--out-dir", required=True)

    p = command("figures", _figures, "draw the analogues of the thesis's Figures 14-19")
    p.add_argument("--stats-dir", required=True)
    p.add_argument("--out-dir", required=True)

    p = command("report", _report, "write the PDF report")
    p.add_argument("--stats-dir", required=True)
    p.add_argument("--figures-dir", required=True)
    p.add_argument("--config", required=True, type=input_file, help="the study configuration, shown in the report")
    p.add_argument("--template", required=True, type=input_file, help="report/report.md.j2")
    p.add_argument("--data", nargs="*", help="data files whose SHA-256 the report lists")
    p.add_argument("--counts", help="the node filter's counts JSON")
    p.add_argument("--manifest", help="a rebuilt study's MANIFEST.json: the machine and versions it was measured with")
    p.add_argument("--output", required=True, type=output_file)

    p = command("progress", _progress, "how much of a study is done, and about how long the rest takes")
    p.add_argument("--config", required=True, type=input_file, help="the study's configuration")
    p.add_argument("--study", default=".", type=_existing_dir, help="the study's working directory")

    p = command("reference", _reference, "the shipped reference run: collect its raw exports, rebuild it, "
                                         "write its manifest")
    p.add_argument("action", choices=["collect", "rebuild", "manifest", "wall-time", "compare-block"],
                   help="collect: copy the finished runs and cells of --study into --dir; rebuild: tidy tables, "
                        "statistics, figures and PDF from --dir's raw exports alone; manifest: --dir's MANIFEST.json; "
                        "wall-time: what the reference took per backend and setup, and what --design would take; "
                        "compare-block: a block of --study measured again, calibrated, against the reference's range")
    p.add_argument("--dir", default="reference/cluster-thesis", type=_existing_dir,
                   help="the reference folder (its config.yaml is the design it ran)")
    p.add_argument("--study", type=_existing_dir, help="collect, compare-block: the measuring study's working directory")
    p.add_argument("--block", help="compare-block: the block measured again, e.g. 8x8x8_40MB/1")
    p.add_argument("--template", default="report/report.md.j2", type=input_file, help="rebuild: the report template")
    p.add_argument("--commit", action="append", help="manifest: the commit of the measuring code, for every "
                   "experiment, or EXPERIMENT=COMMIT for one (pipeline, upload, serving-in-place, serving-rollout, or serving "
                   "for both; repeat)")
    p.add_argument("--sittings", type=input_file, help="manifest: a file with a line per sitting")
    p.add_argument("--design", default="config/cluster-thesis.yaml", type=input_file,
                   help="wall-time: the design whose wall time to predict from the reference's")


def _node_spec(text: str):
    from .cluster.nodes import NodeSpec, NodesError

    try:
        return NodeSpec.parse(text)
    except NodesError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _cluster_commands(command, choices) -> None:
    """The local Kubernetes cluster, and the images for any cluster."""
    p = command("cluster", _cluster, "the local Kubernetes cluster, of one node or more (needs root)")
    p.add_argument("action", choices=["up", "down", "status", "kubeconfig", "build", "prune"],
                   help="up: start it (building what the cache lacks); down: remove it and every trace; "
                        "status: exit 0 when up; kubeconfig: print the admin kubeconfig's path; "
                        "build: only build the binaries and images; prune: remove the cached image layers that "
                        "no image of this checkout is made of and nothing used lately")
    p.add_argument("--runner", action="store_true", help="kubeconfig: the runner's namespaced credentials instead")
    p.add_argument("--hold", type=output_file, help="up: record in this file whether this call started the cluster")
    p.add_argument("--release", help="down: stop the cluster only if the --hold file says up started it")
    p.add_argument("--unused-hours", type=non_negative, default=24.0,
                   help="prune: keep a layer another checkout used within these hours (default: %(default)g)")
    p.add_argument("--repo", type=_existing_dir,
                   help="the project checkout the job image is built from (default: the one installed in editable "
                        "mode)")
    config_option(p, "--scrape-interval", "kubernetes.scrape_interval_s", type=positive,
                  help="Prometheus's scrape interval for kube-state-metrics, seconds")
    config_option(p, "--kubelet-variant", "kubernetes.kubelet_variant", choices=choices("kubernetes.kubelet_variant"),
                  help="up: the kubelet's build, stock or a measurement variant (cluster/patches)")
    p.add_argument("--node", action="append", type=_node_spec, metavar="NAME:ROLE[:CPU[:MEMORY]]",
                   help="up: a node (repeat; the first holds the control plane), e.g. --node mlopsbench-core:core "
                        "--node mlopsbench-edge:edge:1:2Gi (config: kubernetes.nodes; default: one node in both "
                        "roles)")

    p = command("images", _images, "push the job and serving images to a registry, for a cluster this package did "
                                   "not start (no Docker needed)")
    p.add_argument("action", choices=["push"])
    p.add_argument("registry", help="HOST[:PORT][/PATH] of a registry with the distribution API; the images go to "
                                    "REGISTRY/mlopsbench:TAG and REGISTRY/mlopsbench-serving:TAG, and the command "
                                    "prints them pinned by digest, for kubernetes.image and serving.image")
    p.add_argument("--tag", default=__version__, help="the images' tag (default: %(default)s)")
    p.add_argument("--plain-http", action="store_true", help="the registry speaks HTTP, not HTTPS")
    p.add_argument("--serving", action="store_true", help="push the serving image (KServe) as well")
    p.add_argument("--repo", type=_existing_dir,
                   help="the project checkout the images are built from (default: the one installed in editable "
                        "mode)")

def _interrupt(signum, frame):
    # SIGTERM ends a command the way Ctrl-C does: every clean-up path runs.
    raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        args.func(args)
    except (InputError, FileNotFoundError) as exc:
        # Our errors name the file, line or config key; a traceback would bury that.
        print(f"mlopsbench {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        # A read-only directory, a full disk: one line naming the path and the cause.
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"mlopsbench {args.command}: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as exc:
        print(f"mlopsbench {args.command}: interrupted{f' ({exc})' if str(exc) else ''}; "
              "what finished is kept, the rest was stopped and cleaned up", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
