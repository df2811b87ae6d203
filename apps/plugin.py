"""What the demos add to the workbench: every demo of this package (registered in :data:`apps.DEMOS`)
and the ``workbench demo`` command. Named as an entry point of group ``workbench.plugins``."""

from __future__ import annotations

import argparse

from apps import (  # noqa: F401  (each registers its demo)
    generate_demo,
    layout_demo,
    masterprints_demo,
    multiconcept_demo,
    retrieval_demo,
    watermark_demo,
)
from workbench.commands import register_commands


def cmd_demo(args: argparse.Namespace) -> int:
    if args.share:
        raise SystemExit(
            "error: --share is refused: demos bind to 127.0.0.1 only (use an SSH tunnel to reach them)"
        )
    from apps import DEMOS
    from apps.hub import serve

    if args.name and args.name not in DEMOS:
        raise SystemExit(f"error: unknown demo {args.name!r}; the demos are: {', '.join(DEMOS.names())}")
    serve(name=args.name, port=args.port)
    return 0


@register_commands("demo")
def add_demo_command(subparsers: argparse._SubParsersAction) -> None:
    from apps import DEMOS

    p = subparsers.add_parser(
        "demo",
        help="launch the Gradio demo hub (or one demo) on 127.0.0.1",
        description="Serve the demo hub, or one demo, on 127.0.0.1. Demos: " + ", ".join(DEMOS.names()),
    )
    p.add_argument("name", nargs="?", help="a demo name (default: the hub linking every demo)")
    p.add_argument("--port", type=int, default=7860, help="port on 127.0.0.1 (default 7860)")
    p.add_argument("--share", action="store_true", help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_demo)
