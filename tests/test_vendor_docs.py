"""Each vendor's docs page is generated from its profile and up to date."""

from __future__ import annotations

import pytest

from simulator.terminal import vendor_docs
from simulator.terminal.contract import VENDORS


@pytest.mark.parametrize("vendor", VENDORS)
def test_the_vendor_page_is_up_to_date(vendor: str) -> None:
    page = vendor_docs.page_path(vendor)
    assert page.read_text(encoding="utf-8") == vendor_docs.render(vendor), (
        f"{page} is stale: regenerate it with `{vendor_docs.REGENERATE}`"
    )


def test_the_vendors_index_and_profile_format_are_up_to_date() -> None:
    page = vendor_docs.INDEX.read_text(encoding="utf-8")
    assert page == vendor_docs.updated_index(page), (
        f"the generated part of {vendor_docs.INDEX} is stale: regenerate it with "
        f"`{vendor_docs.REGENERATE}`"
    )
    for vendor in VENDORS:
        assert f"(vendor_{vendor}.md)" in page


def test_the_newland_page_shows_the_published_contract() -> None:
    page = vendor_docs.render("newland")
    assert "com.newland.caishen/com.newland.caishen.ui.activity.MainActivity" in page
    assert '"amt": "100.01"' in page  # the example request, built by the contract
    assert "`proc_cd`=`680000`" in page and "`proc_cd`=`500000`" in page
