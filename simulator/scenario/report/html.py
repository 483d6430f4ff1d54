"""``index.html``: the run as a page QA opens after the run.

One table row per scenario (result, name and file, purpose, seconds, the
failure with its ``file:line``, a link to the artifacts), then one section per
scenario with its receipts as the printer's PNGs, what the terminal said
(and its WAVs, when rendered), the rerun command of a failure and the
transcript in a collapsible block.

Self-contained: inline CSS, no scripts, no CDN; images and links point into
the artifact folders by relative paths. Every text is escaped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from pathlib import Path
from typing import Any
from urllib.parse import quote

from simulator.events import event_line

_CSS = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; width: 100%; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.5em; text-align: left; vertical-align: top; }
tr.passed td.result { background: #d8f5d8; }
tr.failed td.result { background: #f8d0d0; }
pre { white-space: pre-wrap; font-size: 0.85em; margin: 0.3em 0; }
section { border-top: 2px solid #ccc; margin-top: 1.5em; padding-top: 0.5em; }
.receipts { display: flex; flex-wrap: wrap; gap: 1em; align-items: flex-start; }
.receipts figure { margin: 0; border: 1px solid #ddd; }
.receipts img { display: block; image-rendering: pixelated; }
code { background: #f3f3f3; }
"""

# Per-scenario files linked from each section, if the run wrote them.
_FILES = (
    "transcript.txt",
    "transcript.jsonl",
    "receipts.txt",
    "speech.txt",
    "apdu.txt",
    "iso8583.txt",
    "http.txt",
    "escpos.txt",
    "result.json",
)

_RESULT_TEXT = {"passed": "PASS", "skipped": "SKIP", "failed": "FAIL"}


def _href(path: str) -> str:
    return escape(quote(path), quote=True)


def render_index(record: Mapping[str, Any], root: Path) -> str:
    """The page for a ``run.json`` record whose paths are relative to ``root``."""
    run = record["run"]
    totals = run["totals"]
    scenarios: Sequence[Mapping[str, Any]] = record["scenarios"]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        "<title>possim run</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>possim run</h1>",
        f"<p>{totals['passed']} passed, {totals.get('skipped', 0)} skipped, "
        f"{totals['failed']} failed, {totals['invalid']} invalid "
        f"in {totals['seconds']:.2f} s; possim {escape(str(run['versions'].get('possim', '?')))}"
        f'; <a href="run.json">run.json</a></p>',
        _summary_table(scenarios),
    ]
    if record["invalid"]:
        parts.append("<h2>Invalid scenarios</h2><ul>")
        parts.extend(f"<li><pre>{escape(item['error'])}</pre></li>" for item in record["invalid"])
        parts.append("</ul>")
    parts.extend(_section(index, scenario, root) for index, scenario in enumerate(scenarios, 1))
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _summary_table(scenarios: Sequence[Mapping[str, Any]]) -> str:
    rows = [
        "<table><thead><tr><th>#</th><th>result</th><th>scenario</th><th>purpose</th>"
        "<th>seconds</th><th>failure</th><th>artifacts</th></tr></thead><tbody>"
    ]
    for index, scenario in enumerate(scenarios, 1):
        failure = escape(scenario.get("skipped") or "")
        if scenario["failure"]:
            failure = (
                f"<code>{escape(scenario['failure_location'])}</code>"
                f"<pre>{escape(scenario['failure'])}</pre>"
            )
        rows.append(
            f'<tr class="{escape(scenario["result"])}"><td>{index}</td>'
            f'<td class="result">{_RESULT_TEXT.get(scenario["result"], "FAIL")}</td>'
            f'<td><a href="#s{index}">{escape(scenario["label"])}</a><br>'
            f"<code>{escape(scenario['file'])}</code></td>"
            f"<td>{escape(scenario['purpose'])}</td>"
            f"<td>{scenario['seconds']:.3f}</td><td>{failure}</td>"
            f'<td><a href="{_href(scenario["artifacts"])}/">{escape(scenario["artifacts"])}/</a>'
            "</td></tr>"
        )
    rows.append("</tbody></table>")
    return "\n".join(rows)


def _section(index: int, scenario: Mapping[str, Any], root: Path) -> str:
    label = escape(scenario["label"])
    parts = [f'<section id="s{index}"><h2>{index}. {label}</h2>']
    parts.append(
        f"<p><code>{escape(scenario['file'])}</code>, seed {scenario['seed']}: "
        f"<strong>{escape(scenario['result'])}</strong></p>"
    )
    if scenario["rerun"]:
        parts.append(f"<p>Rerun: <code>{escape(scenario['rerun'])}</code></p>")
    receipts: Sequence[str] = scenario["receipts"]
    if receipts:
        parts.append('<h3>Receipts</h3><div class="receipts">')
        for number, path in enumerate(receipts, 1):
            alt = escape(f"receipt {number} of {scenario['label']}", quote=True)
            parts.append(
                f'<figure><img src="{_href(path)}" alt="{alt}"><figcaption>receipt {number}'
                "</figcaption></figure>"
            )
        parts.append("</div>")
    artifacts = root / scenario["artifacts"]
    speech: Sequence[str] = scenario["speech"]
    if speech:
        parts.append("<h3>Speech</h3><ol>")
        parts.extend(f"<li>{escape(text)}</li>" for text in speech)
        parts.append("</ol>")
        # WAVs exist when the run rendered them (--wav-dir, espeak://): one per utterance.
        parts.extend(
            f'<audio controls src="{_href(scenario["artifacts"] + "/" + wav.name)}"></audio>'
            for wav in sorted(artifacts.glob("speech-*.wav"))
        )
    links = [
        f'<a href="{_href(scenario["artifacts"] + "/" + name)}">{escape(name)}</a>'
        for name in _FILES
        if (artifacts / name).exists()
    ]
    if links:
        parts.append(f"<p>Files: {' | '.join(links)}</p>")
    events: Sequence[Mapping[str, Any]] = scenario["events"]
    lines = "\n".join(
        event_line(event["at"], event["source"], event["kind"], event["summary"])
        for event in events
    )
    parts.append(
        f"<details><summary>Transcript ({len(events)} events)</summary>"
        f"<pre>{escape(lines)}</pre></details></section>"
    )
    return "\n".join(parts)


def write_index(record: Mapping[str, Any], root: Path) -> Path:
    path = root / "index.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_index(record, root), encoding="utf-8")
    return path
