"""Build one zip per function and platform, and the manifest Terraform and the emulator read.

Each zip holds, at its root: the function's folder, the shared runtime (functions/runtime),
the user's agent app for query (the top-level package of AGENT_APP), only the third-party
packages that function needs (installed by uv for the target's Python and CPU), and the
entry file its platform starts: ``run.sh`` on AWS (the Lambda Web Adapter's handler, for
streaming) and ``bootstrap`` on FC (the custom runtime's command). Bytecode is included
when the target's Python is the building one (3.11 here): Lambda's /var/task is read-only,
so without it every cold start compiles every module it imports.

    packaging/build.py [--functions query,state,sandbox] [--targets aws,fc]
                       [--python 3.11,3.12] [--arch x86_64,arm64] [--out dist]
                       [--app examples.friday:agent_app] [--aws-services bedrock-runtime]
                       [--app-extras agentscope] [--keep anthropic]
                       [--no-pyc] [--refresh] [-q]

``--python`` and ``--arch`` choose among the AWS builds; FC has one (Python 3.11, x86_64).
The manifest lists exactly the artifacts this run built. An app that imports an agent
framework gets the framework's extra in its query zip, pruned of what it never runs
(frameworks.py); ``--app-extras`` and ``--keep`` override what the app's sources say.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import deps
import frameworks
import reprozip
from targets import (
    FUNCTIONS,
    OWN_AWS_SERVICES,
    PLATFORMS,
    Function,
    Platform,
    manifest_entry,
    zip_rel,
)

if TYPE_CHECKING:
    from local_emulator.progress import Steps

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # functions (the settings), local_emulator (progress lines)
MANIFEST_FORMAT = 1
BUDGET_ZIPPED_MB, BUDGET_UNZIPPED_MB = 30, 120
# a query zip carrying an agent framework: Lambda's own limit (layers included: leave room)
FRAMEWORK_UNZIPPED_MB = 250
CACHE = Path(os.environ.get("PACKAGING_CACHE", ROOT / "build" / "packaging-cache"))

ENTRY_SCRIPT = """\
#!/bin/sh
# {why}
# -S keeps the interpreter's own site-packages off the import path: this folder and the
# standard library are all the function has, in the cloud as in the emulator.
# FAAS_PYTHON overrides the interpreter (local runs).
cd "$(dirname "$0")" || exit 1
exec "${{FAAS_PYTHON:-{interpreter}}}" -S -m functions.runtime.serve functions.{name}.handler:app
"""
WHY = {
    "aws": "AWS Lambda Web Adapter mode: the adapter starts this and proxies to AWS_LWA_PORT.",
    "fc": "Function Compute custom runtime: FC starts /code/bootstrap and proxies to its port.",
}
ENTRY_FILE = {"aws": "run.sh", "fc": "bootstrap"}


@dataclass(frozen=True)
class Options:
    app: str
    out: Path
    pyc: bool
    aws_services: frozenset[str] | None  # botocore models the query zip keeps; None: all
    prunes: tuple[frameworks.Prune, ...] = ()  # left out of the query zip (its framework's)


@dataclass(frozen=True)
class Job:
    function: Function
    platform: Platform
    site: Path

    @property
    def zip_rel(self) -> str:
        return zip_rel(self.function, self.platform)


# distributions a dependency declares that no function imports: a2a-sdk's google-api-core
# (with google-auth, pyasn1, pyasn1-modules, proto-plus) serves a2a-sdk's gRPC client; the
# query function's A2A server never loads them (the artifact e2e suite runs A2A from the zip)
UNUSED_DISTRIBUTIONS = ("google_api_core", "google_auth", "pyasn1", "pyasn1_modules", "proto_plus")
UNUSED_PACKAGES = {
    ("google", "api_core"),
    ("google", "auth"),
    ("google", "oauth2"),
    ("pyasn1",),
    ("pyasn1_modules",),
    ("proto",),
}


def unused(rel: tuple[str, ...]) -> bool:
    if rel[:1] in UNUSED_PACKAGES or rel[:2] in UNUSED_PACKAGES:
        return True
    name, _, rest = rel[0].partition("-")
    return rest.endswith(".dist-info") and name in UNUSED_DISTRIBUTIONS


# sources no interpreter runs: type stubs, protobuf and C sources and headers
NOT_RUN = (".pyi", ".proto", ".c", ".h", ".pyx", ".pxd", "py.typed")
# an installation's bookkeeping, which only installers read (importlib.metadata's versions
# and entry points live in METADATA and entry_points.txt, which stay): the installer's file
# list, its markers, uv's note of a local wheel's origin and the wheels' SBOMs
BOOKKEEPING = ("RECORD", "INSTALLER", "REQUESTED", "uv_cache.json", ".cyclonedx.json")
# compiled speedups whose package falls back to its own pure-Python twin when they are absent
# (aiohttp's parser, writer and WebSocket reader: its AIOHTTP_NO_EXTENSIONS path). aiohttp is
# in the sandbox zip only under the FC and AgentRun SDKs' async calls, a few control-plane
# requests per sandbox, where the parser's speed does not show; 1.6 MB zipped.
SPEEDUPS = {"aiohttp": ("_http_parser.", "_http_writer.", "reader_c.", "mask.")}


def dropped(rel: tuple[str, ...], aws_services: frozenset[str] | None, pyc: bool) -> bool:
    """Third-party files a function never runs: console scripts, packages' test suites,
    type stubs and other sources no interpreter runs (``NOT_RUN``), installers' records in
    the ``.dist-info`` folders (``BOOKKEEPING``), compiled speedups with a pure-Python
    fallback (``SPEEDUPS``), botocore's usage
    examples (read only to write docs), the models of AWS services the function does not
    call (``aws_services``; None keeps them all) and distributions only other packages'
    unused parts need (``UNUSED_DISTRIBUTIONS``)."""
    if rel[0] == "bin" or (not pyc and "__pycache__" in rel) or unused(rel):
        return True
    if rel[-1].endswith(NOT_RUN):
        return True
    if rel[0].endswith(".dist-info") and rel[-1].endswith(BOOKKEEPING):
        return True
    if rel[-1].endswith(".so") and rel[-1].startswith(SPEEDUPS.get(rel[0], ())):
        return True
    if any(part in ("tests", "test", "SelfTest") for part in rel[:-1]):  # SelfTest: pycryptodome
        return True
    if rel[:2] == ("botocore", "data") and len(rel) > 3:
        if rel[-1].startswith("examples-1."):
            return True
        return aws_services is not None and rel[2] not in aws_services
    return False


def tree_entries(root: Path, prefix: str = "", skip=lambda rel: False) -> list[reprozip.Entry]:
    entries = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        base = Path(dirpath).relative_to(root).parts
        for filename in sorted(filenames):
            rel = (*base, filename)
            if skip(rel):
                continue
            entries.append(reprozip.Entry.file(prefix + "/".join(rel), Path(dirpath, filename)))
    return entries


def copy_sources(src: Path, dest: Path) -> None:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo", ".*")
    if src.is_dir():
        shutil.copytree(src, dest, ignore=ignore)
    else:
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dest)


def app_source(spec: str) -> Path:
    """The top-level package (or module) of ``module:attr``, found without importing it."""
    module = spec.partition(":")[0]
    top = module.split(".")[0]
    for base in (Path.cwd(), ROOT):
        for candidate in (base / top, base / f"{top}.py"):
            if candidate.exists():
                return candidate
    found = importlib.util.find_spec(top)
    if found is None or not found.origin:
        raise SystemExit(f"AGENT_APP={spec!r}: no package {top!r} to put in the query zip")
    origin = Path(found.origin)
    return origin.parent if origin.name == "__init__.py" else origin


def app_module_source(spec: str) -> Path:
    """The file (or package folder) of the app's module itself, for reading its imports."""
    top = app_source(spec)
    parts = spec.partition(":")[0].split(".")[1:]
    if not parts or not top.is_dir():
        return top
    base = top.joinpath(*parts)
    for candidate in (base.with_suffix(".py"), base):
        if candidate.exists():
            return candidate
    return top


def own_code(function: Function, app: str, staging: Path, pyc: bool) -> list[reprozip.Entry]:
    """Our code (and the agent app) copied clean, compiled there when the target allows."""
    copy_sources(ROOT / "functions" / "__init__.py", staging / "functions" / "__init__.py")
    copy_sources(ROOT / "functions" / "runtime", staging / "functions" / "runtime")
    copy_sources(ROOT / "functions" / function.name, staging / "functions" / function.name)
    if function.carries_app:
        src = app_source(app)
        copy_sources(src, staging / src.name)
    if pyc:
        deps.compile_tree(staging)
    return tree_entries(staging)


def entry_script(function: Function, platform: Platform) -> reprozip.Entry:
    text = ENTRY_SCRIPT.format(
        why=WHY[platform.target], interpreter=platform.interpreter, name=function.name
    )
    return reprozip.Entry(ENTRY_FILE[platform.target], text.encode(), executable=True)


def build_one(job: Job, opts: Options) -> dict:
    function, platform, app = job.function, job.platform, opts.app
    pyc = opts.pyc and deps.compiles_here(platform.python)
    services = opts.aws_services if function.carries_app else frozenset(OWN_AWS_SERVICES)
    prunes = opts.prunes if function.carries_app else ()

    def skip(rel: tuple[str, ...]) -> bool:
        return dropped(rel, services, pyc) or frameworks.is_pruned(rel, prunes)

    with tempfile.TemporaryDirectory(prefix="pkg-") as tmp:
        entries = own_code(function, app, Path(tmp), pyc)
        entries += tree_entries(job.site, skip=skip)
        entries.append(entry_script(function, platform))
        written = reprozip.write_zip(opts.out / job.zip_rel, entries)
    return manifest_entry(
        function, platform, app, written.sha256, written.size, written.unzipped_size
    )


def split(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def choose(args: argparse.Namespace) -> tuple[list[Function], list[Platform]]:
    names, targets = split(args.functions), split(args.targets)
    pythons, arches = split(args.python), split(args.arch)
    for value, allowed, what in (
        (names, FUNCTIONS, "function"),
        (targets, ("aws", "fc"), "target"),
        (pythons, {p.python for p in PLATFORMS if p.target == "aws"}, "python"),
        (arches, {p.arch for p in PLATFORMS if p.target == "aws"}, "arch"),
    ):
        unknown = [v for v in value if v not in allowed]
        if unknown:
            raise SystemExit(f"unknown {what} {', '.join(unknown)}; use {', '.join(allowed)}")
    platforms = [
        p
        for p in PLATFORMS
        if p.target in targets and (p.target == "fc" or (p.python in pythons and p.arch in arches))
    ]
    return [FUNCTIONS[n] for n in FUNCTIONS if n in names], platforms


def over_budget(artifact: dict, framework: bool) -> str:
    """Why an artifact is over its budget ("" when it is not)."""
    if framework and artifact["function"] == "query":
        if artifact["unzipped_size"] > FRAMEWORK_UNZIPPED_MB * 1e6:
            return f"  over Lambda's {FRAMEWORK_UNZIPPED_MB} MB unzipped"
        return ""
    if artifact["size"] > BUDGET_ZIPPED_MB * 1e6 or artifact["unzipped_size"] > (
        BUDGET_UNZIPPED_MB * 1e6
    ):
        return f"  over budget ({BUDGET_ZIPPED_MB}/{BUDGET_UNZIPPED_MB} MB)"
    return ""


def size_table(artifacts: list[dict], framework: bool = False) -> str:
    header = (
        f"{'function':<8} {'target':<6} {'python':<6} {'arch':<6} "
        f"{'zipped MB':>9} {'unzipped MB':>11}  sha256"
    )
    lines = [header]
    for a in artifacts:
        over = over_budget(a, framework)
        lines.append(
            f"{a['function']:<8} {a['target']:<6} {a['python']:<6} {a['arch']:<6} "
            f"{a['size'] / 1e6:>9.2f} {a['unzipped_size'] / 1e6:>11.2f}  {a['sha256'][:12]}{over}"
        )
    return "\n".join(lines)


def default_app() -> str:
    from functions.runtime.settings import Settings

    return Settings().agent_app  # AGENT_APP if set, else the runtime's default


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--functions", default=",".join(FUNCTIONS))
    parser.add_argument("--targets", default="aws,fc")
    parser.add_argument("--python", default=",".join(sorted({p.python for p in PLATFORMS})))
    parser.add_argument("--arch", default="x86_64,arm64")
    parser.add_argument("--out", type=Path, default=ROOT / "dist")
    parser.add_argument("--app", default=None, help="module:attr of the agent app (AGENT_APP)")
    parser.add_argument(
        "--aws-services",
        default="",
        help="AWS services the agent app calls, whose botocore models the query zip keeps "
        "besides the runtime's own (comma-separated, e.g. bedrock-runtime; 'all' keeps all)",
    )
    parser.add_argument(
        "--app-extras",
        default=None,
        help="pyproject extras the agent app needs in the query zip (default: read from the "
        "app's imports, e.g. agentscope; '' for none)",
    )
    parser.add_argument(
        "--keep",
        default="",
        help="packages the framework's prune would leave out that the app uses "
        "(comma-separated, e.g. anthropic)",
    )
    parser.add_argument("--cache", type=Path, default=CACHE, help="installed-wheels cache")
    parser.add_argument("--refresh", action="store_true", help="re-resolve, ignoring the cache")
    parser.add_argument("--no-pyc", action="store_true", help="ship sources only")
    parser.add_argument("-q", "--quiet", action="store_true")
    return parser.parse_args(argv)


def install_all(
    functions: list[Function],
    platforms: list[Platform],
    app_extras: tuple[str, ...],
    meta: dict,
    args: argparse.Namespace,
    steps: Steps,
) -> list[Job]:
    """Each function's dependencies for each platform (cached unless --refresh)."""
    jobs = []
    cache = args.cache.resolve()
    for platform in platforms:
        for function in functions:
            extras = (*function.extras, *(app_extras if function.carries_app else ()))
            reqs = deps.requirements((*extras, *platform.extras), meta)
            what = f"dependencies of {function.name} for {platform.target} {platform.slug}"
            with steps.step(what) as step:
                site = deps.install(reqs, platform, cache, args.refresh, args.quiet)
                step.done(f"{len(reqs)} requirements")
            jobs.append(Job(function, platform, site))
    return jobs


def build_all(
    jobs: list[Job],
    app: str,
    out: Path,
    args: argparse.Namespace,
    prunes: tuple[frameworks.Prune, ...],
    steps: Steps,
) -> list[dict]:
    """The zips, built in parallel."""
    extra = split(args.aws_services)
    opts = Options(
        app=app,
        out=out,
        pyc=not args.no_pyc,
        aws_services=None if "all" in extra else frozenset((*OWN_AWS_SERVICES, *extra)),
        prunes=prunes,
    )

    def build(job: Job) -> dict:
        with steps.step(f"zipping {job.zip_rel}") as step:
            artifact = build_one(job, opts)
            step.done(f"{artifact['size'] / 1e6:.1f} MB")
        return artifact

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        return list(pool.map(build, jobs))


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    started = time.perf_counter()
    functions, platforms = choose(args)
    app = args.app or default_app()
    meta = deps.project()
    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    app_src = app_module_source(app)
    app_extras = (
        tuple(split(args.app_extras))
        if args.app_extras is not None
        else frameworks.framework_extras(app_src)
    )
    prunes = frameworks.pruned(app_extras, app_src, frozenset(split(args.keep)))
    if app_extras and not args.quiet:
        left_out = ", ".join(f"{p.top_level} ({p.why})" for p in prunes) or "nothing"
        print(f"  {app} brings {', '.join(app_extras)}; left out: {left_out}")
    from local_emulator.progress import Steps

    with Steps(2 * len(platforms) * len(functions), quiet=args.quiet, title="packages") as steps:
        jobs = install_all(functions, platforms, app_extras, meta, args, steps)
        artifacts = build_all(jobs, app, out, args, prunes, steps)
    order = {name: i for i, name in enumerate(FUNCTIONS)}
    artifacts.sort(key=lambda a: (order[a["function"]], a["target"], a["python"], a["arch"]))
    manifest = {
        "format": MANIFEST_FORMAT,
        "project": meta["name"],
        "version": meta["version"],
        "artifacts": artifacts,
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    print(size_table(artifacts, framework=bool(app_extras)))
    if not args.quiet:
        elapsed = time.perf_counter() - started
        print(f"{len(artifacts)} artifacts and manifest.json in {out} ({elapsed:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
