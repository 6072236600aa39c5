"""``semcluster app`` driven by a real headless Chromium (Selenium), as a researcher uses it.

The app runs as ``python -m semcluster app`` in a subprocess on a free port (upload limit 1 MB,
so that the over-limit file is small).  The browser uploads a damaged file and an over-limit
file (a message each, the server keeps serving), uploads the bundled CSV, checks the
items → constructs table, fits h1_h5 and reads CFI, RMSEA and the five standardized paths from
the page — equal to ``semcluster.fit("h1_h5")`` at the printed precision — cancels a fit,
builds and downloads the report zip, types a syntax error into the model and sees its line and
column, and switches to Chinese.  Skipped only when Chromium or chromedriver is absent.
"""
from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
ROOT = Path(__file__).resolve().parents[1]
CSV = ROOT / "src" / "semcluster" / "resources" / "data" / "paper_synthetic.csv"

if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
    pytest.skip(f"Chromium or chromedriver absent ({CHROMIUM}, {CHROMEDRIVER})",
                allow_module_level=True)
pytest.importorskip("shiny", reason="the app extra is not installed (pip install '.[app]')")
webdriver = pytest.importorskip("selenium.webdriver")
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

FIGURES = os.environ.get("SEMCLUSTER_APP_SCREENSHOTS")  # a folder: save a screenshot per step


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    port = _free_port()
    # the installed package (as a user runs it): its bundled models live in semcluster.models,
    # which a bare src/ on PYTHONPATH would not provide
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    log = tmp_path_factory.mktemp("app") / "server.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "semcluster", "app", "--no-browser",
                                 "--port", str(port), "--max-upload-mb", "1"],
                                stdout=out, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + 60
    while True:
        try:
            urllib.request.urlopen(url, timeout=2).read()
            break
        except OSError:
            if proc.poll() is not None or time.time() > deadline:
                proc.kill()
                pytest.fail("the app did not start: " + log.read_text())
            time.sleep(0.3)
    yield url, proc, log
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture(scope="module")
def browser():
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu",
              "--disable-background-networking", "--disable-component-update",
              "--disable-sync", "--no-first-run", "--window-size=1280,1000",
              "--lang=en-US"):
        opts.add_argument(a)
    drv = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    yield drv
    drv.quit()


@pytest.fixture(scope="module")
def reference():
    import semcluster

    return semcluster.fit("h1_h5")


def wait(drv, cond, timeout=30, what="the page"):
    from selenium.common.exceptions import StaleElementReferenceException

    # Shiny re-renders outputs while we read them: a vanished element is read again
    return WebDriverWait(drv, timeout, poll_frequency=0.2,
                         ignored_exceptions=(StaleElementReferenceException,)).until(
        lambda d: cond(d), message=f"waited {timeout} s for {what}")


def text_of(drv, css) -> str:
    from selenium.common.exceptions import StaleElementReferenceException

    for _ in range(5):
        els = drv.find_elements(By.CSS_SELECTOR, css)
        try:
            return els[0].text if els else ""
        except StaleElementReferenceException:
            continue                  # re-rendered between find and read: find it again
    return ""


def click(drv, id_):
    """Click a button by id (scrolled into view; found again if Shiny re-rendered it)."""
    click_css(drv, f"#{id_}")


def click_css(drv, css):
    """Click the element matching ``css``: scrolled into view, found again if Shiny re-rendered
    it, tried again while something (a notification, a re-rendering panel) covers it, and
    clicked by script as a last resort."""
    from selenium.common.exceptions import (ElementClickInterceptedException,
                                            StaleElementReferenceException)

    for attempt in range(5):
        try:
            el = drv.find_element(By.CSS_SELECTOR, css)
            drv.execute_script("arguments[0].scrollIntoView({block: 'center'});", el)
            el.click()
            return
        except (StaleElementReferenceException, ElementClickInterceptedException):
            time.sleep(0.3)
    drv.execute_script("document.querySelector(arguments[0]).click();", css)


def tab(drv, value):
    drv.execute_script("window.scrollTo(0, 0);")
    click_css(drv, f'a[data-value="{value}"]')


def shot(drv, name):
    if FIGURES:
        time.sleep(0.5)
        drv.save_screenshot(str(Path(FIGURES) / f"app_{name}.png"))


def upload(drv, path):
    drv.find_element(By.ID, "upload").send_keys(str(path))


def table_rows(drv, css):
    """Rows of an HTML table as dictionaries (header → cell text)."""
    table = drv.find_element(By.CSS_SELECTOR, css)
    head = [th.text for th in table.find_elements(By.CSS_SELECTOR, "thead th")]
    return [dict(zip(head, [td.text for td in tr.find_elements(By.TAG_NAME, "td")]))
            for tr in table.find_elements(By.CSS_SELECTOR, "tbody tr")]


# A real browser against a live server: a re-render can race a read now and then; a failed
# run is tried again (twice at most) before it counts, and every retry is reported by pytest.
@pytest.mark.flaky(reruns=2)
def test_app_workflow(server, browser, reference, tmp_path):
    url, proc, log = server
    drv = browser
    t0 = time.time()
    drv.get(url)
    wait(drv, lambda d: "No data yet" in text_of(d, "#data_message"), what="the page")

    # a damaged file and an over-limit file: a message in the page each
    damaged = tmp_path / "damaged.xlsx"
    damaged.write_bytes(b"PK\x03\x04 this is not a workbook" * 10)
    upload(drv, damaged)
    wait(drv, lambda d: "damaged.xlsx" in text_of(d, "#data_error"), what="the damaged-file error")
    big = tmp_path / "big.csv"
    big.write_text("ca1,ca2\n" + "1,2\n" * 400_000)          # 1.6 MB, limit 1 MB
    upload(drv, big)
    wait(drv, lambda d: "limit is 1 MB" in text_of(d, "#data_error"),
         what="the over-limit message")
    assert proc.poll() is None

    # the bundled CSV: the file is reported on its own (no model chosen yet)
    upload(drv, CSV)
    wait(drv, lambda d: "paper_synthetic.csv" in text_of(d, "#data_ok"), what="the upload")
    wait(drv, lambda d: d.find_elements(By.CSS_SELECTOR, "#file_summary_table td"),
         what="the file's own report")
    summary = {r[""]: r["value"] for r in table_rows(drv, "#file_summary_table table")}
    assert summary["rows"] == "160"
    assert drv.find_elements(By.ID, "no_model")
    assert not drv.find_elements(By.ID, "data_error")
    shot(drv, "1_data")

    # items -> constructs: nothing suggested before a model is chosen
    tab(drv, "items")
    wait(drv, lambda d: d.find_elements(By.ID, "map_item_0"))
    values = [drv.find_element(By.ID, f"map_item_{i}").get_attribute("value") for i in range(4)]
    assert values == ["", "", "", ""]

    # model: h1_h5 chosen, conceptual diagram
    tab(drv, "model")
    wait(drv, lambda d: d.find_elements(By.ID, "model_none"), what="no model yet")
    Select(drv.find_element(By.ID, "model_name")).select_by_value("h1_h5")
    wait(drv, lambda d: "6 latent variables" in text_of(d, "#model_ok"))
    wait(drv, lambda d: d.find_elements(By.ID, "conceptual_img"), what="the conceptual diagram")
    shot(drv, "3_model")

    # now the items are matched: the model's data report and the suggestions
    tab(drv, "data")
    wait(drv, lambda d: d.find_elements(By.CSS_SELECTOR, "#data_report_table td"),
         what="the model's data report")
    report = {r[""]: r["value"] for r in table_rows(drv, "#data_report_table table")}
    assert report["rows read"] == "160" and report["rows used"] == "160"
    tab(drv, "items")
    wait(drv, lambda d: drv.find_element(By.ID, "map_item_2").get_attribute("value") == "ca1",
         what="the suggestions for the chosen model")
    values = [drv.find_element(By.ID, f"map_item_{i}").get_attribute("value") for i in range(4)]
    assert values == ["", "", "ca1", "ca2"]          # id, firm_type, ca1, ca2
    shot(drv, "2_items")

    # fit, cancel, fit again
    tab(drv, "fit")
    click(drv, "fit")
    click(drv, "cancel")
    wait(drv, lambda d: "Cancelled" in text_of(d, "#fit_status"), what="cancel")
    click(drv, "fit")
    wait(drv, lambda d: "Working" in text_of(d, "#fit_status") or
         d.find_elements(By.CSS_SELECTOR, "#fit_table td"), what="progress")
    shot(drv, "4_fit")
    wait(drv, lambda d: d.find_elements(By.CSS_SELECTOR, "#fit_table td"), timeout=90,
         what="the fit")
    fm = {r["measure"]: r["estimate"] for r in table_rows(drv, "#fit_table table")}
    assert fm["cfi"] == f"{reference.fit_measures['cfi']:.3f}"
    assert fm["rmsea"] == f"{reference.fit_measures['rmsea']:.3f}"
    paths = {r["label"]: r["std_all"] for r in table_rows(drv, "#paths_table table")}
    ref = reference.paths().set_index("label")["std_all"]
    for h in ("h1", "h2", "h3", "h4", "h5"):
        assert paths[h] == f"{ref[h]:.3f}", h
    verdicts = table_rows(drv, "#hypotheses_table table")
    assert [v["hypothesis"] for v in verdicts] == ["H1", "H2", "H3", "H4", "H5"]
    assert drv.find_elements(By.ID, "tested_img") and drv.find_elements(By.ID, "measurement_img")
    shot(drv, "5_results")

    # the report zip
    click(drv, "build_report")
    wait(drv, lambda d: d.find_elements(By.ID, "dl_report"), timeout=120, what="the report")
    # the button is drawn first and Shiny binds its download address a moment later (on a busy
    # machine the test read the empty href in between: "unknown url type: ''")
    wait(drv, lambda d: d.find_element(By.ID, "dl_report").get_attribute("href"), timeout=30,
         what="the report's download address")
    href = drv.find_element(By.ID, "dl_report").get_attribute("href")
    data = urllib.request.urlopen(href, timeout=30).read()
    names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    for f in ("report/report.html", "report/results.json", "report/figures/figure2_tested.png",
              "report/tables/h1_h5_verdicts.csv"):
        assert f in names, f

    # a syntax error shows its line and column as you type
    tab(drv, "model")
    area = drv.find_element(By.ID, "model_text")
    typo = "\nIN ~ CA PA"                              # a missing '+'
    area.send_keys(Keys.CONTROL, Keys.END)
    area.send_keys(typo)
    line = area.get_attribute("value").count("\n") + 1
    wait(drv, lambda d: "Line" in text_of(d, "#model_error"), what="the syntax error")
    msg = text_of(drv, "#model_error")
    assert msg.startswith(f"Line {line}, column 9: unexpected 'PA'"), msg
    shot(drv, "3_model_error")
    for _ in typo:
        area.send_keys(Keys.BACKSPACE)
    wait(drv, lambda d: d.find_elements(By.ID, "model_ok"), what="the model read again")

    # Chinese: texts and diagrams follow
    tab(drv, "results")
    before = drv.find_element(By.ID, "tested_img").get_attribute("src")
    drv.execute_script("window.scrollTo(0, 0);")
    click_css(drv, 'input[name="lang"][value="zh"]')
    wait(drv, lambda d: "第 5 步" in d.find_element(By.TAG_NAME, "body").text, what="Chinese")
    wait(drv, lambda d: d.find_elements(By.ID, "tested_img") and
         d.find_element(By.ID, "tested_img").get_attribute("src") != before,
         what="the Chinese diagram")
    assert "支持" in text_of(drv, "#hypotheses_table")
    shot(drv, "6_chinese")
    assert proc.poll() is None, log.read_text()
    assert time.time() - t0 < 150


OWN = ROOT / "tests" / "fixtures" / "own_studies"


@pytest.mark.flaky(reruns=2)
def test_app_report_for_an_own_survey(server, browser, tmp_path):
    """A user's own survey and model (the corpus's mediation study, with its labels file):
    the upload is reported on its own, the model typed, and the report zip holds the report
    builder's report of that model, with the user's construct labels and title."""
    import inspect

    from semcluster.output.report import build_report

    # until the report builder for any model (and its corpus) is merged, there is nothing to
    # check here; once merged, both exist and this test runs
    if "model" not in inspect.signature(build_report).parameters or not OWN.is_dir():
        pytest.skip("the report builder for any model and its corpus are not merged yet")
    url, proc, log = server
    drv = browser
    drv.get(url)
    wait(drv, lambda d: "No data yet" in text_of(d, "#data_message"), what="the page")
    upload(drv, OWN / "mediation.csv")
    wait(drv, lambda d: d.find_elements(By.CSS_SELECTOR, "#file_summary_table td"),
         what="the file's own report")

    tab(drv, "model")
    Select(drv.find_element(By.ID, "model_name")).select_by_value("(custom)")
    area = drv.find_element(By.ID, "model_text")
    area.send_keys((OWN / "mediation.lav").read_text(encoding="utf-8"))
    wait(drv, lambda d: "3 latent variables" in text_of(d, "#model_ok"), what="the model")
    drv.find_element(By.ID, "labels_file").send_keys(str(OWN / "mediation_labels.yaml"))
    wait(drv, lambda d: "mediation_labels.yaml" in text_of(d, "#inputs_message"),
         what="the labels file")
    wait(drv, lambda d: d.find_elements(By.ID, "conceptual_img"), what="the diagram")

    tab(drv, "data")
    wait(drv, lambda d: d.find_elements(By.CSS_SELECTOR, "#data_report_table td"),
         what="the model's data report")
    tab(drv, "fit")
    box = drv.find_element(By.ID, "n_boot")
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys("50")                          # the report's bootstrap: kept small here
    tab(drv, "results")
    click(drv, "build_report")
    wait(drv, lambda d: d.find_elements(By.ID, "dl_report") or
         "error" in (d.find_element(By.ID, "report_status").get_attribute("innerHTML")
                     if d.find_elements(By.ID, "report_status") else ""),
         timeout=600, what="the report")
    assert drv.find_elements(By.ID, "dl_report"), text_of(drv, "#report_status")
    wait(drv, lambda d: d.find_element(By.ID, "dl_report").get_attribute("href"), timeout=30,
         what="the report's download address")
    data = urllib.request.urlopen(drv.find_element(By.ID, "dl_report").get_attribute("href"),
                                  timeout=60).read()
    z = zipfile.ZipFile(io.BytesIO(data))
    assert "report/report.html" in z.namelist(), z.namelist()
    html = z.read("report/report.html").decode("utf-8")
    for name in ("Training", "Skills", "Performance", "A mediation study"):
        assert name in html, name
    for study in ("h1_h5", "knowledge sharing", "cluster awareness"):
        assert study not in html, study
    import importlib.util

    if importlib.util.find_spec("semcluster.output.manuscript") and importlib.util.find_spec("docx"):
        docs = [n for n in z.namelist() if n.endswith(".docx")]
        assert docs, z.namelist()                  # the Word manuscript beside the html
        import docx

        text = "\n".join(p.text for p in docx.Document(io.BytesIO(z.read(docs[0]))).paragraphs)
        assert "A mediation study" in text
    assert proc.poll() is None, log.read_text()
