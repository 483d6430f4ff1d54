"""The device URL reference in docs/devices.md, generated from the registry.

Every scheme registered through the ``possim.devices`` entry points contributes
its usage, its help and its declared parameters (:class:`~drivers.params.UrlParam`),
so the page can never disagree with what the registry accepts. The generated
part sits between two markers; the prose around it is written by hand.
Regenerate it after adding or changing a scheme or a parameter::

    .venv/bin/python -m drivers.url_reference
"""

from __future__ import annotations

import sys
from pathlib import Path

from drivers.kinds import DEVICE_KINDS
from drivers.params import COMMON_PARAMS, reference_table
from drivers.registry import DeviceRegistry, Scheme, registry

DOC_PATH = Path(__file__).resolve().parent.parent / "docs" / "devices.md"
BEGIN = "<!-- BEGIN URLS: generated from the registered schemes by drivers/url_reference.py -->"
END = "<!-- END URLS -->"
REGENERATE = ".venv/bin/python -m drivers.url_reference"
_TITLES = {
    "card_reader": "Card reader",
    "pin_entry": "PIN pad",
    "printer": "Printer",
    "scanner": "Scanner",
    "speaker": "Speaker",
    "magstripe_reader": "Magnetic-stripe reader",
}


def render(schemes: DeviceRegistry = registry) -> str:
    sections = [
        "### Every URL\n\n" + reference_table(COMMON_PARAMS),
    ]
    registered = schemes.registered()
    for kind in DEVICE_KINDS:
        entries = [scheme for scheme in registered if scheme.kind == kind]
        sections.append(f"### {_TITLES[kind]}\n\n" + "\n\n".join(_scheme(s) for s in entries))
    return "\n\n".join(sections)


def _scheme(scheme: Scheme) -> str:
    text = f"`{scheme.usage}`: {scheme.help}."
    if not scheme.params:
        return text + " No parameters."
    return text + "\n\n" + reference_table(scheme.params)


def updated_page(page: str) -> str:
    """``page`` with its generated part replaced by the current one."""
    start, stop = page.index(BEGIN) + len(BEGIN), page.index(END)
    return page[:start] + "\n\n" + render() + "\n\n" + page[stop:]


def main() -> int:
    page = DOC_PATH.read_text(encoding="utf-8")
    DOC_PATH.write_text(updated_page(page), encoding="utf-8")
    print(f"wrote {DOC_PATH}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
