"""``workbench watermark embed|decode`` and ``workbench attack NAME``: the watermarks and image attacks
on users' own images (one file or a folder).

    workbench watermark embed --method dwtDct --payload 0101... IN OUT [--key KEY.json]
    workbench watermark decode --method dwtDct --payload 0101... IN [REPORT.json]
    workbench watermark decode --key KEY.json IN
    workbench attack jpeg --strength 0.5 IN OUT
    workbench attack paraphrase --strength 0.3 --set guidance_scale=5 --set caption="a red circle" IN OUT

Outputs are PNG files; a folder input gives a folder output with one ``<stem>.png`` per input.
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from attacks.registries import IMAGE_ATTACKS, WATERMARKS
from workbench.config import parse_override

if TYPE_CHECKING:
    import torch

from workbench import argtypes

logger = logging.getLogger(__name__)

EPILOG_WATERMARK = """examples:
  workbench watermark embed --method dwtDctSvd --payload 10110011100011110000111110000011 photo.png marked.png
  workbench watermark decode --key marked.png.key.json marked.png
  workbench watermark embed --method rivaGan --seed 3 photos/ marked/      # random 32-bit payload from seed 3
  workbench watermark embed --method treering --model toy scene.png marked.png   # via DDIM inversion
"""

EPILOG_ATTACK = """examples:
  workbench attack jpeg --strength 0.5 marked.png attacked.png            # JPEG quality 55
  workbench attack paraphrase --strength 0.3 --set guidance_scale=5 marked/ attacked/
  workbench attack paraphrase --strength 0.3 --set 'caption=a red circle' marked.png out.png
"""


class CommandError(ValueError):
    """A bad argument or input of a watermark / attack command."""


def _clear_errors(fn: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Turn input and config errors into ``error: ...`` on stderr and exit status 2."""

    @functools.wraps(fn)
    def wrapper(args: argparse.Namespace) -> int:
        from pydantic import ValidationError

        from attacks.image.files import ImageFileError  # deferred: PIL, numpy, torch

        try:
            return fn(args)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or exc.title}: {e['msg']}" for e in exc.errors()
            )
            print(f"error: invalid {exc.title}: {problems}", file=sys.stderr)
        except (ImageFileError, CommandError, KeyError, ValueError) as exc:
            message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
            print(f"error: {message}", file=sys.stderr)
        return 2

    return wrapper


def _overrides(pairs: list[str] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for text in pairs or []:
        keys, value = parse_override(text)
        if len(keys) != 1:
            raise CommandError(f"--set {text!r}: use a top-level field of the config (field=value)")
        out[keys[0]] = value
    return out


def _runtime(args: argparse.Namespace):
    from workbench.runtime import Runtime  # deferred: numpy, torch

    return Runtime(seed=args.seed, device=args.device)


def _batches(paths: list[Path], batch_size: int) -> list[tuple[list[Path], torch.Tensor]]:
    """Load images, grouping consecutive images of equal size into batches of ``batch_size``."""
    import torch  # deferred: torch is heavy and `workbench --help` must start fast

    from attacks.image.files import load_image_file  # deferred: PIL, numpy, torch

    groups: list[tuple[list[Path], list[torch.Tensor]]] = []
    for path in paths:
        image = load_image_file(path)
        if groups and len(groups[-1][0]) < batch_size and groups[-1][1][0].shape == image.shape:
            groups[-1][0].append(path)
            groups[-1][1].append(image)
        else:
            groups.append(([path], [image]))
    return [(names, torch.stack(images)) for names, images in groups]


# ---------------------------------------------------------------------------------------------- watermark
def _watermark(args: argparse.Namespace, runtime: Any):
    from attacks.watermarks import WATERMARKS, Watermark  # deferred: PIL, numpy, torch

    if args.key and args.command_name == "decode":
        if not Path(args.key).is_file():
            what = "is a folder" if Path(args.key).is_dir() else "does not exist"
            raise CommandError(
                f"--key {args.key}: the key file {what}; pass the key that `watermark embed` wrote "
                "(default OUT.key.json), or --method and --payload without --key"
            )
        if args.method or args.payload:
            raise CommandError(
                "--key already holds the method and payload; do not also pass --method / --payload"
            )
        return Watermark.load_key(args.key, runtime=runtime)
    if not args.method:
        raise CommandError(
            f"--method is required (one of: {', '.join(WATERMARKS.names())}) unless --key names a key file"
        )
    config = {"seed": args.seed, **_overrides(args.set)}
    if args.payload is not None:
        config["payload"] = args.payload
    if args.model is not None:
        config["model"] = args.model
    cls = WATERMARKS.get(args.method)
    watermark = cls(config, runtime=runtime) if cls.kind == "generation" else cls(config)
    if args.payload is not None:
        watermark.set_payload(args.payload)  # checks the length against the method's payload
    return watermark


@_clear_errors
def cmd_watermark_embed(args: argparse.Namespace) -> int:
    # deferred: PIL, numpy, torch
    from attacks.image.files import check_output, list_image_files, output_paths, save_image_file

    source = Path(args.input)
    inputs = list_image_files(source)
    outputs = dict(zip(inputs, output_paths(inputs, source, args.output)))
    key_path = Path(args.key) if args.key else _default_key_path(source, Path(args.output))
    if key_path.is_dir():
        raise CommandError(
            f"--key {key_path}: is a folder; the key is a JSON file path (e.g. marked.key.json)"
        )
    check_output(args.output)
    check_output(key_path)
    runtime = _runtime(args)
    watermark = _watermark(args, runtime)
    for names, images in _batches(inputs, args.batch_size):
        marked = watermark.embed(images)
        for name, image in zip(names, marked):
            save_image_file(outputs[name], image)
            logger.info("%s -> %s", name, outputs[name])
    watermark.save_key(key_path)
    print(
        f"watermarked {len(inputs)} image(s) with {watermark.name} ({watermark.num_bits} bits); key: {key_path}"
    )
    return 0


def _default_key_path(source: Path, out: Path) -> Path:
    return (
        out.with_name(out.name + ".key.json")
        if source.is_file() and out.suffix
        else out / "watermark_key.json"
    )


@_clear_errors
def cmd_watermark_decode(args: argparse.Namespace) -> int:
    from attacks.image.files import check_output, list_image_files  # deferred: PIL, numpy, torch
    from attacks.watermarks import bits_to_string  # deferred: PIL, numpy, torch

    if args.output:
        if Path(args.output).is_dir():
            raise CommandError(f"{args.output}: is a folder; REPORT is a JSON file path (e.g. decoded.json)")
        check_output(args.output)
    runtime = _runtime(args)
    watermark = _watermark(args, runtime)
    inputs = list_image_files(args.input)
    rows = []
    for names, images in _batches(inputs, args.batch_size):
        bits, scores = watermark.analyse(images)
        for name, b, s in zip(names, bits, scores):
            row = {"image": str(name), "bits": bits_to_string(b), "score": float(s)}
            if watermark.num_bits:
                row["bit_accuracy"] = float((b == watermark.payload).float().mean())
            rows.append(row)
            print("\t".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()))
    if args.output:
        from workbench.io import atomic_write_json  # deferred: PIL, numpy, torch

        atomic_write_json(
            args.output,
            {"watermark": watermark.describe(), "payload": bits_to_string(watermark.payload), "images": rows},
        )
    return 0


# ---------------------------------------------------------------------------------------------- attack
@_clear_errors
def cmd_attack(args: argparse.Namespace) -> int:
    from attacks.image import AttackModels, build_attack  # deferred: PIL, numpy, torch

    # deferred: PIL, numpy, torch
    from attacks.image.files import check_output, list_image_files, output_paths, save_image_file

    source = Path(args.input)
    inputs = list_image_files(source)
    outputs = dict(zip(inputs, output_paths(inputs, source, args.output)))
    check_output(args.output)
    runtime = _runtime(args)
    config = _overrides(args.set)
    config["strength"] = args.strength
    if args.model is not None:
        config["model"] = args.model
    attack = build_attack(args.name, models=AttackModels(runtime=runtime), **config)
    for names, images in _batches(inputs, args.batch_size):
        generators = [runtime.generator("attack", args.name, name.name) for name in names]
        attacked = attack(images.to(runtime.device), generators)
        for name, image in zip(names, attacked):
            save_image_file(outputs[name], image)
    print(
        f"{attack.name} at strength {attack.strength} ({json.dumps(attack.parameters())}) on {len(inputs)} image(s) -> {args.output}"
    )
    return 0


# ---------------------------------------------------------------------------------------------- parser
def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--seed",
        type=argtypes.seed,
        default=0,
        help="run seed, 0..2**63-1 (random payloads, keys and attack noise derive from it)",
    )
    p.add_argument(
        "--set", action="append", metavar="FIELD=VALUE", help="a config field of the method (repeatable)"
    )
    p.add_argument(
        "--model", help="diffusion model for model-backed methods: preset (toy, sd15, ...), hub id or folder"
    )
    p.add_argument(
        "--batch-size",
        type=argtypes.bounded_int(1, 4096),
        default=8,
        help="images per batch, 1..4096 (equal sizes are batched together)",
    )
    p.add_argument("--device", default=None, help="device (default: accelerate's choice)")


def register(subparsers: Any) -> None:
    """Add ``watermark embed|decode`` and ``attack NAME`` to the ``workbench`` CLI."""
    p = subparsers.add_parser(
        "watermark",
        help="embed or decode a watermark in an image or a folder of images",
        epilog=EPILOG_WATERMARK,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="watermark_command", metavar="embed|decode", required=True)
    for name, handler, help_text in (
        ("embed", cmd_watermark_embed, "watermark IN (file or folder) into OUT (a .png file or a folder)"),
        (
            "decode",
            cmd_watermark_decode,
            "decode IN and print bits, bit accuracy and detection score per image",
        ),
    ):
        q = sub.add_parser(
            name,
            help=help_text,
            epilog=EPILOG_WATERMARK,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        q.add_argument("--method", choices=WATERMARKS.names(), help="watermark method")
        q.add_argument("--payload", help="payload bits, e.g. 0110... (default: random bits from --seed)")
        q.add_argument(
            "--key",
            help="key file: written by embed (default OUT.key.json / OUT/watermark_key.json), read by decode",
        )
        q.add_argument("input", metavar="IN", help="an image file or a folder of images")
        if name == "embed":
            q.add_argument("output", metavar="OUT", help="a .png file (for one input file) or a folder")
        else:
            q.add_argument(
                "output", metavar="REPORT", nargs="?", help="optional JSON file for the decoded results"
            )
        _common(q)
        q.set_defaults(func=handler, command_name=name)

    p = subparsers.add_parser(
        "attack",
        help="attack an image or a folder of images (jpeg, blur, ..., paraphrase)",
        epilog=EPILOG_ATTACK,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "name", metavar="NAME", choices=IMAGE_ATTACKS.names(), help=", ".join(IMAGE_ATTACKS.names())
    )
    p.add_argument("--strength", type=argtypes.finite_float, required=True, help="attack strength in [0, 1]")
    p.add_argument("input", metavar="IN", help="an image file or a folder of images")
    p.add_argument("output", metavar="OUT", help="a .png file (for one input file) or a folder")
    _common(p)
    p.set_defaults(func=cmd_attack)
