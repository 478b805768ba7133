#!/usr/bin/env python3
"""Screenshot the first screen of the HTML report of a pair (docs/report-*.png).

Writes `eifdiff A B --html` (remedies off: only the rows are needed) to a temporary folder,
opens it in headless Chromium (Debian's `chromium` and `chromium-driver`, through selenium;
fresh profile, no background networking) at a 1400x1080 window, and saves the viewport.

    .venv/bin/python scripts/report_screenshot.py A.eif B.eif docs/report-pair.png
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--force-device-scale-factor=1")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("a", type=Path)
    ap.add_argument("b", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--width", type=int, default=1400)
    ap.add_argument("--height", type=int, default=1080)
    args = ap.parse_args(argv)

    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    from eifdiff.compare import compare_files
    from eifdiff.report.html import report_html

    report = compare_files(args.a, args.b, remedies=False)
    with tempfile.TemporaryDirectory(prefix="eifdiff-report-") as tmp:
        page = Path(tmp) / "report.html"
        page.write_text(report_html(report), encoding="utf-8")
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in (*FLAGS, f"--user-data-dir={tmp}/profile",
                     f"--window-size={args.width},{args.height}"):
            options.add_argument(flag)
        driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        try:
            driver.get(page.as_uri())
            args.out.parent.mkdir(parents=True, exist_ok=True)
            driver.save_screenshot(str(args.out))
        finally:
            driver.quit()
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
