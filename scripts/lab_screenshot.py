#!/usr/bin/env python3
"""Take a screenshot of an executed eifdiff notebook in JupyterLab (docs/lab-screenshot.png).

What it does, in order:

1. checks its tools: Chromium (`/usr/bin/chromium`) and its driver (`/usr/bin/chromedriver`),
   from the Debian packages `chromium` and `chromium-driver`, and the Python package `selenium`
   in this interpreter. It installs nothing; when one is missing it says how to install it:

       sudo apt-get install -y chromium chromium-driver
       .venv/bin/pip install selenium

2. executes `notebooks/01-overview.ipynb` (or `--notebook`) with papermill on a sample pair
   (`--pair`, default `elf-build-path`; or `--eif-a`/`--eif-b`) into a temporary lab root, and
   marks the copy trusted (so the lab shows its styled tables as they are);
3. starts `jupyter lab` headless on 127.0.0.1 on a free port, with a random token, that root as
   `root_dir`, and its own temporary Jupyter config/data/runtime folders (the user's settings and
   workspaces are not touched; news and update checks are off);
4. opens the notebook in headless Chromium through selenium and the system chromedriver (fresh
   temporary profile, no background networking, 1400x2000 window), waits until a rendered table
   (`.jp-RenderedHTMLCommon table`) and a figure (`.jp-RenderedImage img`) are displayed, scrolls
   so that both are in view, and saves the screenshot to `--out` (default
   `docs/lab-screenshot.png`);
5. shuts the server down (and with it the kernel the lab started) and removes the temporary
   folders (`--keep` keeps them and prints where).

    .venv/bin/python scripts/lab_screenshot.py [--pair elf-build-path] [--out PATH]

Exit status: 0 written, 1 the lab or the browser failed, 2 a tool is missing.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
TABLE = ".jp-OutputArea-output.jp-RenderedHTMLCommon table"
IMAGE = ".jp-OutputArea-output.jp-RenderedImage img"

# JupyterLab user settings for the throw-away config folder: no news or update prompts (they
# would cover part of the page), every cell attached to the page (no virtual scrolling).
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false", "checkForUpdates": False, "doNotDisturbMode": True},
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
}


class Missing(Exception):
    """A required tool is not installed."""


def check_tools(chromium: str, chromedriver: str) -> None:
    problems = []
    if not os.access(chromium, os.X_OK):
        problems.append(f"{chromium} not found: sudo apt-get install -y chromium")
    if not os.access(chromedriver, os.X_OK):
        problems.append(f"{chromedriver} not found: sudo apt-get install -y chromium-driver")
    try:
        import selenium  # noqa: F401
    except ImportError:
        problems.append(f"selenium not importable: {sys.executable} -m pip install selenium")
    try:
        import jupyterlab  # noqa: F401
        import papermill  # noqa: F401
    except ImportError:
        problems.append(f"jupyterlab/papermill missing: {sys.executable} -m pip install "
                        "-e '.[notebook]'")
    if problems:
        raise Missing("\n".join(problems))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def execute(notebook: Path, target: Path, eif_a: str, eif_b: str) -> None:
    """Run the notebook with papermill into `target`, from `target`'s folder (so the copy
    shows, and re-runs in the lab with, the same paths)."""
    import papermill

    papermill.execute_notebook(
        str(notebook), str(target), parameters={"eif_a": eif_a, "eif_b": eif_b},
        kernel_name="python3", cwd=str(target.parent), progress_bar=False, log_output=False)


def trust(path: Path, data_dir: Path) -> None:
    """Sign the executed notebook in the lab's own data folder, as `jupyter trust` would."""
    import nbformat
    from nbformat.sign import NotebookNotary

    nb = nbformat.read(path, as_version=4)
    NotebookNotary(data_dir=str(data_dir)).sign(nb)


def jupyter_env(tmp: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "JUPYTER_CONFIG_DIR": str(tmp / "config"), "JUPYTER_DATA_DIR": str(tmp / "data"),
        "JUPYTER_RUNTIME_DIR": str(tmp / "runtime"), "JUPYTERLAB_WORKSPACES_DIR":
        str(tmp / "workspaces"), "MPLBACKEND": "Agg", "JUPYTER_PLATFORM_DIRS": "1",
    })
    for name in ("config", "data", "runtime", "workspaces"):
        (tmp / name).mkdir(exist_ok=True)
    settings = tmp / "config" / "lab" / "user-settings"
    for name, value in LAB_SETTINGS.items():
        path = settings / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(value, indent=2))
    return env


@contextlib.contextmanager
def lab_server(root: Path, tmp: Path, env: dict[str, str]) -> Iterator[tuple[str, str]]:
    """`jupyter lab` on 127.0.0.1 serving `root`; yields its base URL and token."""
    port, token = free_port(), secrets.token_hex(16)
    log = (tmp / "lab.log").open("wb")
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser",
           f"--IdentityProvider.token={token}",  # ServerApp.token before jupyter_server 2
           "--ServerApp.ip=127.0.0.1", f"--port={port}", "--ServerApp.port_retries=0",
           f"--ServerApp.root_dir={root}", "--LabApp.news_url=",
           "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
           "--LabApp.extension_manager=readonly", "--LabApp.expose_app_in_browser=True"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")  # containers and CI often run as root
    server = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=root)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if server.poll() is not None:
                raise RuntimeError(f"jupyter lab exited ({server.returncode}); see {log.name}")
            try:
                with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2):
                    break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"jupyter lab did not answer in 60 s; see {log.name}") from None
                time.sleep(0.3)
        yield base, token
    finally:
        with contextlib.suppress(Exception):  # clean shutdown stops the kernels too
            req = urllib.request.Request(f"{base}/api/shutdown", method="POST",
                                         headers={"Authorization": f"token {token}"})
            urllib.request.urlopen(req, timeout=5).close()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
        log.close()


def screenshot(url: str, out: Path, profile: Path, chromium: str, chromedriver: str,
               size: tuple[int, int], timeout: float, top: bool = False) -> str:
    """Open `url` in headless Chromium, wait for a rendered table and figure, bring both into
    view and save the viewport; returns a one-line description of what is in view."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--hide-scrollbars",
                 "--force-device-scale-factor=1", f"--user-data-dir={profile}",
                 f"--window-size={size[0]},{size[1]}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(chromedriver), options=options)
    try:
        driver.set_window_size(*size)
        driver.get(url)
        # Make the page area (not the window) the requested size.
        inner = driver.execute_script("return [window.innerWidth, window.innerHeight]")
        driver.set_window_size(2 * size[0] - inner[0], 2 * size[1] - inner[1])
        wait = WebDriverWait(driver, timeout)
        wait.until(ec.visibility_of_element_located((By.CSS_SELECTOR, TABLE)))
        wait.until(ec.visibility_of_element_located((By.CSS_SELECTOR, IMAGE)))
        # The left sidebar (file browser) takes width the notebook can use.
        driver.execute_script(
            "const app = window.jupyterapp;"
            "if (app && !app.shell.leftCollapsed) app.commands.execute("
            "'application:toggle-left-area');")
        # Best effort: let the kernel the lab starts for the notebook settle ("Idle", not
        # "Connecting") so the status bar reads normally.
        with contextlib.suppress(Exception):
            WebDriverWait(driver, 30).until(lambda d: d.execute_script(
                "const w = window.jupyterapp.shell.currentWidget;"
                "return w && w.sessionContext && w.sessionContext.kernelDisplayStatus === 'idle';"))
        time.sleep(0.5)
        image = next(i for i in driver.find_elements(By.CSS_SELECTOR, IMAGE) if i.is_displayed())
        wait.until(lambda d: d.execute_script(
            "return arguments[0].complete && arguments[0].naturalWidth > 0", image))
        # Put the first figure at the bottom of the view: the tables above it are then in view
        # (with --top: the notebook from its first cell, the question and its answer).
        if not top:
            driver.execute_script("arguments[0].scrollIntoView({block: 'end'})", image)
        time.sleep(0.8)
        in_view = driver.execute_script("""
            const vh = window.innerHeight;
            const seen = sel => [...document.querySelectorAll(sel)].filter(e => {
                const r = e.getBoundingClientRect();
                return r.height > 0 && r.top >= 0 && r.bottom <= vh;
            }).length;
            return [seen(arguments[0]), seen(arguments[1])];""", TABLE, IMAGE)
        if not top and not (in_view[0] and in_view[1]):
            table = next(t for t in driver.find_elements(By.CSS_SELECTOR, TABLE)
                         if t.is_displayed())
            driver.execute_script("arguments[0].scrollIntoView({block: 'start'})", table)
            time.sleep(0.8)
        out.parent.mkdir(parents=True, exist_ok=True)
        if not driver.save_screenshot(str(out)):
            raise RuntimeError(f"could not write {out}")
        return f"{in_view[0]} table(s) and {in_view[1]} figure(s) in view"
    finally:
        driver.quit()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--notebook", default="01-overview", help="notebook name in notebooks/")
    ap.add_argument("--pair", default="elf-build-path", help="sample pair in samples/")
    ap.add_argument("--eif-a", type=Path, help="first EIF (instead of --pair)")
    ap.add_argument("--eif-b", type=Path, help="second EIF (instead of --pair)")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "lab-screenshot.png")
    ap.add_argument("--width", type=int, default=1400)
    ap.add_argument("--height", type=int, default=2000)
    ap.add_argument("--timeout", type=float, default=90.0, help="seconds to wait for the lab")
    ap.add_argument("--chromium", default=CHROMIUM)
    ap.add_argument("--chromedriver", default=CHROMEDRIVER)
    ap.add_argument("--keep", action="store_true", help="keep the temporary folders")
    ap.add_argument("--top", action="store_true",
                    help="the notebook from its top (the question and its answer) instead of "
                    "scrolled to the first figure")
    args = ap.parse_args(argv)

    try:
        check_tools(args.chromium, args.chromedriver)
    except Missing as e:
        print(f"lab_screenshot: missing tools:\n{e}", file=sys.stderr)
        return 2
    notebook = NOTEBOOKS / f"{args.notebook.removesuffix('.ipynb')}.ipynb"
    if (args.eif_a is None) != (args.eif_b is None):
        ap.error("give both --eif-a and --eif-b, or neither")
    eif_a = args.eif_a or ROOT / "samples" / args.pair / "a.eif"
    eif_b = args.eif_b or ROOT / "samples" / args.pair / "b.eif"
    for path in (notebook, eif_a, eif_b):
        if not path.is_file():
            print(f"lab_screenshot: {path} not found", file=sys.stderr)
            return 2
    # A sample pair is shown as the notebooks name it, ../samples/<pair>/a.eif (the lab root
    # links samples/ beside notebooks/); other files by their absolute paths.
    params = ((f"../samples/{args.pair}/a.eif", f"../samples/{args.pair}/b.eif")
              if args.eif_a is None else (str(eif_a.resolve()), str(eif_b.resolve())))

    tmp = Path(tempfile.mkdtemp(prefix="eifdiff-lab-"))
    try:
        root = tmp / "lab"
        (root / "notebooks").mkdir(parents=True)
        (root / "samples").symlink_to(ROOT / "samples", target_is_directory=True)
        env = jupyter_env(tmp)
        target = root / "notebooks" / notebook.name
        print(f"executing {notebook.name} on {params[0]} and {params[1]}")
        os.environ["MPLBACKEND"] = "Agg"
        execute(notebook, target, *params)
        trust(target, Path(env["JUPYTER_DATA_DIR"]))
        with lab_server(root, tmp, env) as (base, token):
            url = f"{base}/lab/tree/notebooks/{target.name}?token={token}&reset"
            print(f"jupyter lab at {base}; opening {target.name} in headless Chromium")
            what = screenshot(url, args.out.resolve(), tmp / "chromium-profile", args.chromium,
                              args.chromedriver, (args.width, args.height), args.timeout,
                              args.top)
        print(f"wrote {args.out} ({what})")
        return 0
    except Exception as e:
        print(f"lab_screenshot: {type(e).__name__}: {e}", file=sys.stderr)
        log = tmp / "lab.log"
        if log.exists():
            tail = log.read_text(errors="replace").splitlines()[-15:]
            print("jupyter lab log (last lines):\n  " + "\n  ".join(tail), file=sys.stderr)
        return 1
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
