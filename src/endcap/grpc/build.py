"""Generate the gRPC code from ``proto/endcap/v1/*.proto`` (``make proto``).

    python -m endcap.grpc.build [--out DIR] [--proto DIR]

Writes ``<name>_pb2.py`` and ``<name>_pb2_grpc.py`` with protoc from grpcio-tools, and
their typed stubs (``.pyi``) with mypy-protobuf, into ``src/endcap/grpc/gen``. Both tools
are pinned exactly in the ``dev`` extra, so the output is the same on every machine; a
test regenerates it and compares it byte for byte with the committed files.

protoc names modules by their proto path (``from endcap.v1 import events_pb2``); the
files live in ``endcap.grpc.gen``, so those imports are rewritten to it.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from importlib import resources
from pathlib import Path

#: The package the generated modules live in, and the proto package they come from.
PACKAGE = "endcap.grpc.gen"
PROTO_PACKAGE = "endcap/v1"
GEN_DIR = Path(__file__).resolve().parent / "gen"
PROTO_DIR = Path(__file__).resolve().parents[3] / "proto"
_SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py", "_pb2_grpc.pyi")
#: ``from endcap.v1 import x_pb2`` and ``import endcap.v1.x_pb2`` (in the stubs).
_IMPORTS = re.compile(r"^(from|import) endcap\.v1([. ])", re.MULTILINE)


class BuildError(Exception):
    """The tools are missing or protoc failed; the message says what to do."""


def generate(out: Path, proto_dir: Path = PROTO_DIR) -> list[Path]:
    """Generate the modules of every proto in ``proto_dir/endcap/v1`` into ``out``;
    the files written, sorted."""
    try:
        from grpc_tools import protoc
    except ImportError:
        raise BuildError("grpcio-tools is missing: `make install` installs the dev extra "
                         "(pip install -e '.[dev]')") from None
    bindir = Path(sys.executable).parent
    plugins = {name: bindir / f"protoc-gen-{name}" for name in ("mypy", "mypy_grpc")}
    if not all(p.exists() for p in plugins.values()):
        raise BuildError("mypy-protobuf's protoc plugins are missing from "
                         f"{bindir}: `make install` installs the dev extra")
    protos = sorted((proto_dir / PROTO_PACKAGE).glob("*.proto"))
    if not protos:
        raise BuildError(f"no .proto files in {proto_dir / PROTO_PACKAGE}")
    include = resources.files("grpc_tools") / "_proto"  # google/protobuf/*.proto
    with tempfile.TemporaryDirectory() as tmp:
        args = ["protoc", f"-I{proto_dir}", f"-I{include}", f"--python_out={tmp}",
                f"--grpc_python_out={tmp}", f"--mypy_out={tmp}", f"--mypy_grpc_out={tmp}",
                *(f"--plugin=protoc-gen-{n}={p}" for n, p in plugins.items()),
                *(str(p.relative_to(proto_dir)) for p in protos)]
        if protoc.main(args) != 0:
            raise BuildError(f"protoc failed: {' '.join(args)}")
        out.mkdir(parents=True, exist_ok=True)
        written = []
        for path in sorted((Path(tmp) / PROTO_PACKAGE).iterdir()):
            if path.name.endswith(_SUFFIXES):
                text = _IMPORTS.sub(lambda m: f"{m[1]} {PACKAGE}{m[2]}", path.read_text())
                target = out / path.name
                target.write_text(text)
                written.append(target)
    return written


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m endcap.grpc.build", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=GEN_DIR, help=f"default: {GEN_DIR}")
    p.add_argument("--proto", type=Path, default=PROTO_DIR, help=f"default: {PROTO_DIR}")
    args = p.parse_args(argv)
    try:
        written = generate(args.out, args.proto)
    except BuildError as e:
        print(f"endcap.grpc.build: {e}", file=sys.stderr)
        return 1
    for path in written:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
