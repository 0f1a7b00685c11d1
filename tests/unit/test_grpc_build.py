"""The committed gRPC code is what the pinned generators make of proto/ today."""

from __future__ import annotations

from importlib.metadata import version
from pathlib import Path

from endcap.grpc.build import GEN_DIR, generate


def test_generated_code_matches_the_protos(tmp_path: Path) -> None:
    written = generate(tmp_path)
    committed = sorted(p.name for p in GEN_DIR.iterdir() if p.name.endswith((".py", ".pyi"))
                       and p.name != "__init__.py")
    assert [p.name for p in written] == committed, \
        "the .proto files and src/endcap/grpc/gen disagree on the modules: run `make proto`"
    tools = f"grpcio-tools {version('grpcio-tools')}, mypy-protobuf {version('mypy-protobuf')}"
    for path in written:
        assert path.read_bytes() == (GEN_DIR / path.name).read_bytes(), (
            f"src/endcap/grpc/gen/{path.name} is not what {tools} generate from proto/: "
            "run `make proto` and commit the result (or `make install` for the pinned "
            "generators)")
