"""The HTML report: summary, table, timeline, detail, compliance view, and escaping."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from report_samples import HOSTILE_HOST, check_only_report, fleet_report

from patchpilot.connector.reports.html import render_html


class _Tags(HTMLParser):
    """Collect start tags with their attributes, and the text of <script> elements."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def _tags(page: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = _Tags()
    parser.feed(page)
    return parser.tags


def _cards(page: str) -> dict[str, str]:
    band = page[page.index('<dl class="cards">') : page.index("</dl>")]
    return dict(re.findall(r"<dt>([^<]+)</dt><dd>([^<]+)</dd>", band))


def test_target_text_is_escaped_everywhere() -> None:
    page = render_html(fleet_report(), generated="2026-11-30T04:00:00Z")
    assert HOSTILE_HOST not in page and "<img src=x" not in page and "\x07" not in page
    assert "&lt;script&gt;alert(&#34;host&#34;)&lt;/script&gt;" in page
    tags = _tags(page)
    assert [t for t, _ in tags].count("script") == 1  # only the page's own
    assert not [t for t, _ in tags if t == "img"]
    assert not any(k.startswith("on") for _, attrs in tags for k in attrs)  # no handler injected


def test_page_is_self_contained() -> None:
    page = render_html(fleet_report())
    tags = _tags(page)
    assert not [a for t, a in tags if "src" in a or (t == "link")]
    links = [a["href"] for t, a in tags if t == "a"]
    assert links and all(str(h).startswith("#server-") for h in links)
    assert "default-src 'none'" in page  # the CSP forbids any fetch
    urls = [v for _, a in tags for k, v in a.items() if "://" in str(v) and k != "xmlns"]
    assert not urls  # a target's "http://..." text stays text, never an attribute


def test_summary_table_timeline_and_detail() -> None:
    page = render_html(fleet_report(), generated="2026-11-30T04:00:00Z")
    cards = _cards(page)
    assert cards["Servers"] == "3" and cards["Succeeded"] == "1" and cards["Failed"] == "1"
    assert cards["Not started"] == "1" and cards["Installed"] == "4"
    assert cards["Updates failed"] == "2" and cards["Held"] == "1" and cards["Reboots"] == "1"
    assert cards["Wall time"] == "1 min 40 s"
    rows = re.findall(r'<tr class="st-([a-z-]+)">', page)
    assert rows == ["succeeded", "failed", "not-started"]
    assert page.count('<g class="tl-row"') == 3
    assert page.count('class="bar-round"') == 3 and page.count('class="bar-reboot"') == 1
    assert page.count('<rect class="bar-check"') == 1  # web-1: 5 s of checks after its reboot
    assert page.count('<line class="tl-queued"') == 1  # the failed one started 5 s later
    assert "rollout stopped early" in page
    assert 'id="server-2" open' in page  # failed servers' detail is open
    assert 'b1</td><td class="mono wrap">b2' in page  # the reboot proof: boot ids
    assert (
        '<time datetime="2026-11-30T02:00:30Z" title="2026-11-30T02:00:30Z">02:00:30</time>' in page
    )
    assert "bookworm-security" in page and ">security</span>" in page


def test_check_only_fleet_is_a_compliance_view() -> None:
    page = render_html(check_only_report())
    assert "Compliance: missing updates" in page and "compliance of fleet run c1" in page
    compliance = page[
        page.index('id="compliance"') : page.index("</table>", page.index('id="compliance"'))
    ]
    first = compliance.index("lab-security")
    assert first < compliance.index("lab-base-c")  # security first
    assert "1 server with a reboot pending: a" in compliance
    cards = _cards(page)
    assert cards["Updates missing"] == "2" and cards["Security"] == "1"
    assert cards["Reboot pending"] == "1"
