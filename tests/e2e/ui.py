"""The connection form in Airflow's React UI, driven by the system's headless Chromium through Selenium.

The browser is Debian's ``chromium`` with its ``chromium-driver``; Selenium Manager is kept offline, so
nothing is downloaded. Every run uses a fresh profile directory.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,1500",
)
CONN_TYPE_LABEL = "ClarityQ MaxCompute"
#: The labels ClarityQ's connection form must show (standard fields relabelled, then the extras).
STANDARD_LABELS = ("Endpoint", "AccessKey ID", "AccessKey Secret", "Project name")
EXTRA_LABELS = (
    "Credential source",
    "STS security token",
    "Region",
    "Role ARN (AssumeRole)",
    "OIDC provider ARN (RRSA)",
    "OIDC token file (RRSA)",
    "ECS instance RAM role",
    "ECS metadata endpoint",
    "Role session name",
    "Tunnel endpoint",
    "RAM endpoint",
    "STS endpoint",
    "Default schema",
)
#: A visibly fake token typed (and erased again) to show that the input masks it.
SAMPLE_TOKEN = "example-sts-token"


@dataclass
class FormFindings:
    """What the form showed, for the checks."""

    missing_labels: list[str] = field(default_factory=list)
    input_types: dict[str, str] = field(default_factory=dict)  # field -> the input's type attribute
    placeholders: dict[str, str] = field(default_factory=dict)
    descriptions_with_examples: list[str] = field(default_factory=list)
    screenshots: list[Path] = field(default_factory=list)
    test_icon_result: str = ""


@contextmanager
def chromium(profile: Path) -> Iterator[Any]:
    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager must not fetch a browser or a driver
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


class ConnectionForm:
    """Log in, open Admin -> Connections -> Add Connection, fill ClarityQ's form and save it."""

    def __init__(self, driver: Any, base_url: str, screenshots: Path) -> None:
        from selenium.webdriver.support.ui import WebDriverWait

        self.driver = driver
        self.base_url = base_url.rstrip("/")
        self.wait = WebDriverWait(driver, 30)
        self.screenshots = screenshots
        self.findings = FormFindings()

    # -- helpers ------------------------------------------------------------------------------------

    def _by(self) -> Any:
        from selenium.webdriver.common.by import By

        return By

    def _button(self, text: str) -> Any:
        by = self._by()
        xpath = f"//button[normalize-space(.)='{text}']"
        self.wait.until(lambda d: d.find_elements(by.XPATH, xpath))
        return self.driver.find_elements(by.XPATH, xpath)[0]

    def _shot(self, name: str) -> None:
        self.screenshots.mkdir(parents=True, exist_ok=True)
        path = self.screenshots / name
        self.driver.save_screenshot(str(path))
        self.findings.screenshots.append(path)

    def _type(self, element: Any, text: str) -> None:
        element.click()
        element.send_keys(text)

    def _erase(self, element: Any) -> None:
        """Empty a React-controlled input with keystrokes (``clear()`` bypasses React's change event)."""
        from selenium.webdriver.common.keys import Keys

        element.click()
        element.send_keys(Keys.CONTROL, "a")
        element.send_keys(Keys.BACKSPACE)

    def _dialog_text(self) -> str:
        by = self._by()
        dialogs = self.driver.find_elements(by.CSS_SELECTOR, "[role=dialog]")
        return "\n".join(d.text for d in dialogs)

    # -- steps --------------------------------------------------------------------------------------

    def log_in(self, username: str, password: str) -> None:
        by = self._by()
        self.driver.get(f"{self.base_url}/")
        self.wait.until(lambda d: d.find_elements(by.NAME, "username"))
        self._type(self.driver.find_element(by.NAME, "username"), username)
        self._type(self.driver.find_element(by.NAME, "password"), password)
        self.driver.find_element(by.CSS_SELECTOR, "button[type=submit]").click()
        self.wait.until(lambda d: d.find_elements(by.XPATH, "//*[normalize-space(text())='Admin']"))

    def open_connections(self) -> None:
        by = self._by()
        self.driver.find_element(by.XPATH, "//*[normalize-space(text())='Admin']").click()
        link = "//a[normalize-space(.)='Connections']"
        self.wait.until(lambda d: d.find_elements(by.XPATH, link))
        self.driver.find_element(by.XPATH, link).click()
        self.wait.until(lambda d: d.current_url.rstrip("/").endswith("/connections"))

    def add_clarityq_connection(self, conn_id: str, fields: dict[str, str], extras: dict[str, str]) -> FormFindings:
        """Fill the form (screenshots of both sections, empty but for the id) and save it."""
        by = self._by()
        self._button("Add Connection").click()
        self.wait.until(lambda d: d.find_elements(by.NAME, "connection_id"))
        self._type(self.driver.find_element(by.NAME, "connection_id"), conn_id)
        combo = self.driver.find_element(by.CSS_SELECTOR, "[role=dialog] input[role=combobox]")
        self._type(combo, "ClarityQ")
        option = f"//*[@role='option'][normalize-space(.)='{CONN_TYPE_LABEL}']"
        self.wait.until(lambda d: d.find_elements(by.XPATH, option))
        self.driver.find_element(by.XPATH, option).click()
        self.wait.until(lambda d: d.find_elements(by.NAME, "host"))
        time.sleep(0.5)  # let the form settle before the screenshot

        text = self._dialog_text()
        self.findings.missing_labels += [label for label in STANDARD_LABELS if label not in text]
        for name in ("host", "login", "password", "schema"):
            element = self.driver.find_element(by.NAME, name)
            self.findings.input_types[name] = element.get_attribute("type") or ""
            self.findings.placeholders[name] = element.get_attribute("placeholder") or ""
        self._shot("connection-form-standard.png")
        for name, value in fields.items():
            self._type(self.driver.find_element(by.NAME, name), value)

        self._button("Extra Fields").click()
        self.wait.until(lambda d: d.find_element(by.ID, "element_region").is_displayed())
        time.sleep(0.5)
        text = self._dialog_text()
        self.findings.missing_labels += [label for label in EXTRA_LABELS if label not in text]
        self.findings.descriptions_with_examples = [line for line in text.splitlines() if "e.g. " in line]
        token = self.driver.find_element(by.ID, "element_sts_token")
        self.findings.input_types["sts_token"] = token.get_attribute("type") or ""
        self._type(token, SAMPLE_TOKEN)
        self._shot("connection-form-extras.png")
        self._erase(token)
        for name, value in extras.items():
            self._type(self.driver.find_element(by.ID, f"element_{name}"), value)

        self._button("Save").click()
        row = f"//tr[.//*[normalize-space(text())='{conn_id}']]"
        self.wait.until(lambda d: d.find_elements(by.XPATH, row))
        return self.findings

    def click_test_icon(self, conn_id: str) -> str:
        """Press the list's Test icon for the connection and return the toast it shows."""
        by = self._by()
        row = f"//tr[.//*[normalize-space(text())='{conn_id}']]"
        self.driver.find_element(by.XPATH, f"{row}//button[@aria-label='Test Connection']").click()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            toasts = [t.text for t in self.driver.find_elements(by.CSS_SELECTOR, "[role=status], [role=alert]")]
            toasts = [t for t in toasts if "Test" in t]
            if toasts:
                self.findings.test_icon_result = " / ".join(t.replace("\n", ": ") for t in toasts)
                return self.findings.test_icon_result
            time.sleep(0.5)
        self.findings.test_icon_result = "no answer shown within 60 s"
        return self.findings.test_icon_result
