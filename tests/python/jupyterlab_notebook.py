"""Opens notebook 01 in JupyterLab in headless Chromium, runs all cells on the
rankbook kernel and checks from the page that the results table, the plot and
the final numbers are rendered; keeps a screenshot.

usage: jupyterlab_notebook.py WORKDIR SCREENSHOT
WORKDIR holds notebooks/ and data/ (a copy, so autosave never touches the repo);
JUPYTER_PATH must point at the installed rankbook kernelspec. Run by
tests/tests/browser.rs, which sets all of this up.
"""
import os
import socket
import subprocess
import sys
import time
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

NOTEBOOK = "notebooks/01_quickstart.ipynb"
TOKEN = "rankbook-browser-test"
TIMEOUT = 600


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_server(url, proc):
    deadline = time.time() + 120
    while time.time() < deadline:
        if proc.poll() is not None:
            sys.exit(f"jupyter lab exited with {proc.returncode}")
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            time.sleep(0.5)
    sys.exit("jupyter lab did not start within 120 s")


def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    for arg in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,2600"]:
        options.add_argument(arg)
    service = Service(executable_path=os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver"))
    return webdriver.Chrome(service=service, options=options)


# JupyterLab's own state, read through the app object it exposes.
KERNEL_STATE = """
const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
if (!w || !w.sessionContext || !w.sessionContext.session) return null;
const k = w.sessionContext.session.kernel;
return k ? [k.name, k.status] : null;
"""
RUN_ALL = "window.jupyterapp.commands.execute('notebook:run-all-cells');"
PROMPTS = """
return Array.from(document.querySelectorAll('.jp-CodeCell .jp-InputPrompt'))
    .map(p => p.textContent.trim());
"""


def wait(what, check, seconds=TIMEOUT):
    deadline = time.time() + seconds
    while time.time() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.5)
    sys.exit(f"timed out waiting for {what}")


def main(workdir, screenshot):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
         f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={workdir}", "--allow-root",
         "--LabApp.expose_app_in_browser=True", "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"],
        stdout=subprocess.DEVNULL, stderr=open(os.path.join(os.path.dirname(screenshot), "jupyterlab.log"), "w"))
    driver = None
    try:
        wait_for_server(f"{base}/api/status?token={TOKEN}", server)
        driver = browser()
        driver.get(f"{base}/lab/tree/{NOTEBOOK}?token={TOKEN}")
        # The notebook names its kernel; JupyterLab starts it.
        name, _ = wait("the rankbook kernel", lambda: driver.execute_script(KERNEL_STATE), 180)
        assert name == "rankbook", f"kernel {name}"
        wait("the kernel to be idle", lambda: (driver.execute_script(KERNEL_STATE) or [0, 0])[1] == "idle", 180)
        driver.execute_script(RUN_ALL)
        # Every code cell numbered ([1], [2], ...) and the kernel idle again.
        def done():
            prompts = driver.execute_script(PROMPTS)
            numbered = prompts and all(p.strip("[]:").isdigit() for p in prompts)
            return numbered and driver.execute_script(KERNEL_STATE)[1] == "idle" and prompts
        prompts = wait("every cell to run", done)
        errors = driver.find_elements("css selector", ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
        tables = driver.find_elements("css selector", ".jp-OutputArea-output table.rankbook-eval")
        plots = driver.find_elements("css selector", ".jp-OutputArea-output svg, .jp-OutputArea-output img")
        text = driver.find_element("css selector", ".jp-Notebook").text
        driver.save_screenshot(screenshot)
        tracebacks = [e.text for e in errors if "Error" in e.text]
        assert not tracebacks, f"error outputs: {tracebacks}"
        assert len(tables) >= 2, f"{len(tables)} result tables rendered"
        assert "nDCG@10" in tables[0].text and "0.9311" in tables[0].text, tables[0].text
        assert plots, "no plot rendered"
        assert "NumQ" in text and "50" in tables[1].text, tables[1].text
        print(f"ran {len(prompts)} cells in JupyterLab: {len(tables)} tables, {len(plots)} plot images; "
              f"nDCG@10 0.9311 shown; screenshot {screenshot}", file=sys.stderr)
    finally:
        if driver is not None:
            driver.quit()
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main(os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2]))
