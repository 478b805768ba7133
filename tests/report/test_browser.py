"""What a person sees: the HTML report and an executed notebook rendered in headless Chromium
(Debian's `chromium` and `chromium-driver`, which `make test` installs when missing)."""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from eifdiff.compare import compare_files
from eifdiff.report.html import report_html
from eifdiff.report.model import Report
from tests.helpers import REPO_ROOT
from tests.view_pairs import clock_pair

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
WIDTH, HEIGHT = 1400, 1080  # a 1080p display; the page gets what the window leaves
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", f"--window-size={WIDTH},{HEIGHT}")

pytestmark = pytest.mark.skipif(
    not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)),
    reason="Chromium and chromedriver absent (Debian chromium, chromium-driver; "
           "scripts/install-debian-tools installs them)")


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('profile')}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_window_size(WIDTH, HEIGHT)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return clock_pair(tmp_path_factory.mktemp("clock"))


@pytest.fixture(scope="module")
def report(pair: tuple[Path, Path]) -> Report:
    r = compare_files(*pair)
    return dataclasses.replace(r, deep={"ramdisk[1]:rootfs/usr/lib/blob.bin":
                                        "--- a/blob.bin\n+++ b/blob.bin\n@@ -1 +1 @@"})


def _errors(driver) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"
            and "net::ERR_" not in e["message"]]  # offline: a notebook page's CDN scripts


def test_html_report_in_chromium(browser, report: Report, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    page = tmp_path / "report.html"
    page.write_text(report_html(report), encoding="utf-8")
    browser.get(page.as_uri())
    assert _errors(browser) == []
    body = browser.find_element(By.TAG_NAME, "body").text
    assert "Traceback" not in body and "internal error" not in body
    # the root-cause table leads, one row per root cause
    causes = browser.find_elements(By.CSS_SELECTOR, "#causes tr")
    assert len(causes) == len(report.root_causes) + 1
    assert browser.find_element(By.ID, "root-causes").location["y"] < HEIGHT / 4
    # the script ran: info says which rows are shown
    assert browser.find_element(By.ID, "info").text.startswith("rows 1–")
    # the rows that are not mtime-only are on the first screen, before any mtime row
    screen = browser.execute_script("return window.innerHeight")
    rows = browser.execute_script("""
        return [...document.querySelectorAll('#divs tbody tr:not(.group)')].map(r => [
          r.querySelector('.c-field').textContent, r.getBoundingClientRect().bottom]);""")
    first_mtime = next(i for i, (field, _) in enumerate(rows) if field == "mtime")
    others = [bottom for field, bottom in rows[:first_mtime]]
    assert others and all(field != "mtime" for field, _ in rows[:first_mtime])
    assert max(others) <= screen, f"rows end at {max(others)}, screen {screen}"
    assert sum(1 for field, _ in rows if field != "mtime") == len(others) + sum(
        1 for field, _ in rows[first_mtime:] if field != "mtime")
    # a figure (the category chart) is drawn
    assert browser.find_elements(By.CSS_SELECTOR, "svg g.bar")
    # no word broken mid-word
    styles = browser.execute_script("""
        const td = document.querySelector('#divs td.c-path');
        const s = getComputedStyle(td); return [s.overflowWrap, s.wordBreak];""")
    assert styles == ["break-word", "normal"]


def test_html_report_sorts_numbers_as_numbers(browser, report: Report, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    page = tmp_path / "report.html"
    page.write_text(report_html(report), encoding="utf-8")
    browser.get(page.as_uri())
    browser.find_element(By.CSS_SELECTOR, '#divs th[data-key="length"]').click()
    lengths = [int(t.replace(",", "")) for t in browser.execute_script(
        "return [...document.querySelectorAll('#divs td.c-length')].map(td => td.textContent)")
        if t]
    assert len(lengths) > 10 and lengths == sorted(lengths)
    assert len(set(len(str(x)) for x in lengths)) > 1  # text order would differ
    browser.find_element(By.CSS_SELECTOR, '#divs th[data-key="a"]').click()
    shown = browser.execute_script(
        "return [...document.querySelectorAll('#divs td.c-a')].map(td => td.textContent)")
    epochs = [int(v.split(" ")[0]) for v in shown if v.split(" ")[0].isdigit()]
    assert epochs == sorted(epochs) and len(epochs) > 100


def test_html_report_deep_diff_reachable_from_its_row(browser, report: Report,
                                                      tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    page = tmp_path / "report.html"
    page.write_text(report_html(report), encoding="utf-8")
    browser.get(page.as_uri())
    link = browser.find_element(By.CSS_SELECTOR, "#divs a.deep")
    assert link.get_attribute("href").endswith("#deep-0")
    browser.execute_script("arguments[0].click()", link)
    assert browser.find_element(By.ID, "deep-0").get_attribute("open") is not None
    assert "+++ b/blob.bin" in browser.find_element(By.ID, "deep-0").text


@pytest.mark.slow
def test_executed_overview_notebook_in_chromium(browser, pair: tuple[Path, Path],
                                                tmp_path: Path) -> None:
    import papermill
    from selenium.webdriver.common.by import By

    out = tmp_path / "01-overview.ipynb"
    env_backend = os.environ.get("MPLBACKEND")
    os.environ["MPLBACKEND"] = "Agg"
    try:
        papermill.execute_notebook(
            str(REPO_ROOT / "notebooks" / "01-overview.ipynb"), str(out),
            parameters={"eif_a": str(pair[0]), "eif_b": str(pair[1])}, kernel_name="python3",
            cwd=str(tmp_path), progress_bar=False, log_output=False, execution_timeout=120)
    finally:
        if env_backend is None:
            os.environ.pop("MPLBACKEND", None)
        else:
            os.environ["MPLBACKEND"] = env_backend
    subprocess.run([sys.executable, "-m", "nbconvert", "--to", "html", str(out)], check=True,
                   capture_output=True)
    browser.get(out.with_suffix(".html").as_uri())
    assert _errors(browser) == []
    body = browser.find_element(By.TAG_NAME, "body").text
    assert "Traceback" not in body and "Error" not in body
    # the first screen is the question and its answer: verdict and the root-cause table
    first = browser.execute_script("""
        const t = [...document.querySelectorAll('.jp-OutputArea-output table')][0];
        return t ? [t.getBoundingClientRect().top, t.innerText] : null;""")
    assert first is not None and first[0] < HEIGHT
    assert "root cause" in first[1] and "Build clock" in first[1]
    images = browser.find_elements(By.CSS_SELECTOR, ".jp-OutputArea-output img")
    assert len(images) >= 3  # build clock, section map, categories
    assert all(browser.execute_script("return arguments[0].naturalWidth", i) > 300
               for i in images)
    assert "median offset +130 s" not in body  # figure text is in the image, not the page
    assert "… and" in body and "more like these" in body


def test_html_report_offsets_in_a_stream_say_so_after_sorting(browser, report: Report,
                                                               tmp_path: Path) -> None:
    """Rows the script draws (here after a sort) note a decompressed stream's offsets too."""
    from selenium.webdriver.common.by import By

    rows = tuple(dataclasses.replace(d, stream_a="gzip") if d.offset_a is not None and i % 2
                 else d for i, d in enumerate(report.divergences))
    page = tmp_path / "report.html"
    page.write_text(report_html(dataclasses.replace(report, divergences=rows)), encoding="utf-8")
    browser.get(page.as_uri())
    browser.find_element(By.CSS_SELECTOR, '#divs th[data-key="offset_a"]').click()
    cells = browser.execute_script("""
        return [...document.querySelectorAll('#divs td.c-offset_a')].map(td =>
          [td.firstChild ? td.firstChild.textContent : '',
           td.querySelector('.space') ? td.querySelector('.space').textContent : null,
           td.title]);""")
    noted = [c for c in cells if c[1] is not None]
    assert noted and all(c[1] == "in gzip" and "decompressed gzip stream" in c[2] for c in noted)
    assert any(c[1] is None and c[0] for c in cells)  # file offsets carry no note
    numbers = [int(c[0]) for c in cells if c[0].isdigit()]
    assert numbers == sorted(numbers) and len(numbers) > 10
    assert _errors(browser) == []
