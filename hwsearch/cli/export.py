"""``hwsearch export POLICY.json --format F --out FILE``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hwsearch.cli.errors import err
from hwsearch.cli.errors import fail as _fail
from hwsearch.cli.errors import read_json_file




def export_command(
    policy_file: Annotated[Path, typer.Argument(help="Policy file written by 'hwsearch search' (hwsearch.policy/v1).")],
    fmt: Annotated[
        str, typer.Option("--format", "-f", help="policy, onnx, encodings, weights or csv (see docs/exports.md).")
    ] = "policy",
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Output file (default: <model>-<target>.<ext> here).")
    ] = None,
) -> None:
    """Export a policy as a config a deployment toolchain can consume."""
    from hwsearch.data import DataError
    from hwsearch.export import FORMATS, MODEL_FORMATS, ExportError, export_policy
    from hwsearch.finetuned_weights import read_sidecar

    if fmt not in FORMATS:
        _fail(f"unknown export format {fmt!r}; known formats: {', '.join(FORMATS)}")
    doc = read_json_file(policy_file)
    try:
        artifact = export_policy(doc, fmt, finetuned_weights=read_sidecar(policy_file, doc) if fmt in MODEL_FORMATS else None)
    except (ExportError, DataError, ValueError) as exc:
        _fail(str(exc))
    target = out or Path(artifact.filename)
    try:
        target.write_bytes(artifact.content)
    except OSError as exc:
        _fail(f"cannot write {target}: {exc.strerror or exc}")
    err.print(f"wrote {target} ({len(artifact.content):,} bytes, {fmt})", highlight=False, soft_wrap=True)
