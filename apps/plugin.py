"""What the demos add to the workbench: every demo of this package (in :data:`apps.DEMOS`) and the
``workbench demo`` command. Named as an entry point of group ``workbench.plugins``; each demo is
declared by name and its module, imported when the hub builds it."""

from __future__ import annotations

import argparse

from apps import DEMOS
from apps.hub import serve
from workbench.commands import register_commands

DEMO_MODULES = {
    "generate": "apps.generate_demo",
    "layout": "apps.layout_demo",
    "masterprints": "apps.masterprints_demo",
    "multiconcept": "apps.multiconcept_demo",
    "retrieval": "apps.retrieval_demo",
    "watermarks": "apps.watermark_demo",
}
for _name, _module in DEMO_MODULES.items():
    DEMOS.add_lazy(_name, _module)


def cmd_demo(args: argparse.Namespace) -> int:
    if args.share:
        raise SystemExit(
            "error: --share is refused: demos bind to 127.0.0.1 only (use an SSH tunnel to reach them)"
        )

    if args.name and args.name not in DEMOS:
        raise SystemExit(f"error: unknown demo {args.name!r}; the demos are: {', '.join(DEMOS.names())}")
    serve(name=args.name, port=args.port)
    return 0


@register_commands("demo")
def add_demo_command(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "demo",
        help="launch the Gradio demo hub (or one demo) on 127.0.0.1",
        description="Serve the demo hub, or one demo, on 127.0.0.1. Demos: " + ", ".join(DEMOS.names()),
    )
    p.add_argument("name", nargs="?", help="a demo name (default: the hub linking every demo)")
    p.add_argument("--port", type=int, default=7860, help="port on 127.0.0.1 (default 7860)")
    p.add_argument("--share", action="store_true", help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_demo)
