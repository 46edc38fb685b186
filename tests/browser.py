"""Headless Chromium through selenium for the explorer's tests and scripts/bench.py."""
from __future__ import annotations

import shutil
from pathlib import Path


def chromium_missing() -> str | None:
    """Why the browser cannot run here (None when it can)."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return 'selenium is not installed: pip install -e ".[test]"'
    for exe in ("chromium", "chromedriver"):
        if shutil.which(exe) is None:
            return f"{exe} is not installed: apt-get install chromium chromium-driver (.ci/run does)"
    return None


def chrome(width: int = 1400, height: int = 900):
    """A headless Chromium session that keeps the console log (the caller quits it)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                f"--window-size={width},{height}"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)


def open_page(driver, path: Path) -> float:
    """Open ``path`` from disk; milliseconds from navigation until the explorer had drawn."""
    driver.get(Path(path).resolve().as_uri())
    return float(driver.execute_script("return document.body.dataset.ready"))


def errors(driver) -> list[str]:
    """Console messages of level SEVERE since the last call."""
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]
