"""Switch the pipeline to a preset: replace params.yaml with presets/<name>.yaml.

    python scripts/use_preset.py gta5_cityscapes     # then: dvc repro
    python scripts/use_preset.py --list

A preset is a complete parameter file: it names every key of the schema
(advent/params/) and its comments describe its own values, so the file that replaces
params.yaml is the preset itself, byte for byte. It is checked first (every key named,
none unknown, every value valid) and params.yaml is replaced atomically; a preset that
fails the check leaves params.yaml as it was.

Back to the embedded benchmark (the defaults): git checkout params.yaml
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from advent.cli import add_debug_flag, run_tool
from advent.config import ConfigError, field_paths, load_yaml, mapping_paths
from advent.io import atomic_path
from advent.params import Params, load_params

ROOT = Path(__file__).resolve().parent.parent
PRESETS = ROOT / "presets"


def check_complete(path: Path) -> None:
    """The preset at ``path`` names exactly the schema's keys and loads strictly."""
    named, schema = set(mapping_paths(load_yaml(path))), field_paths(Params)
    missing = [key for key in schema if key not in named]
    unknown = sorted(named - set(schema))
    if unknown:
        raise ConfigError(f"unknown parameter {', '.join(unknown)}")
    if missing:
        raise ConfigError(f"does not set {', '.join(missing)} (a preset is a complete "
                          f"parameter file: every key of advent/params/)")
    load_params(path)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("name", nargs="?", help="preset name (a file presets/<name>.yaml)")
    p.add_argument("--params", type=Path, default=ROOT / "params.yaml",
                   help="the file to replace (default: params.yaml)")
    p.add_argument("--presets", type=Path, default=PRESETS, help="preset folder (default: presets/)")
    p.add_argument("--list", action="store_true", help="list the presets")
    add_debug_flag(p)
    args = p.parse_args(argv)
    names = sorted(f.stem for f in args.presets.glob("*.yaml"))
    if args.list or not args.name:
        print("\n".join(names))
        return 0
    if args.name not in names:
        raise ValueError(f"no preset {args.name!r} in {args.presets}; known: {', '.join(names)}")
    preset = args.presets / f"{args.name}.yaml"
    try:
        check_complete(preset)
    except ConfigError as err:
        raise ConfigError(f"{preset}: {err}" if str(preset) not in str(err) else str(err)) from None
    with atomic_path(args.params) as tmp:
        tmp.write_bytes(preset.read_bytes())
    print(f"{args.params} is now preset {args.name}; run `dvc repro` (or `dvc exp run`). "
          f"Back to the defaults: git checkout {args.params.name}")
    return 0


if __name__ == "__main__":
    sys.exit(run_tool(main, name="use_preset"))
