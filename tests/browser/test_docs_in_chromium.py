"""The demo's /docs in headless Chromium: the operations render and a transfer runs via "Try it out"."""

import json
import shutil
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from demo_app import create_app
from odmantic_fastapi.settings import MongoSettings
from odmantic_fastapi.testing import serve_with_uvicorn

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


@pytest.fixture
def demo_url(mongodb_url: str, mongodb_database_name: str) -> Iterator[str]:
    app = create_app(MongoSettings(url=mongodb_url, database=mongodb_database_name))
    with serve_with_uvicorn(app) as url:
        yield url


@pytest.fixture
def browser() -> Iterator[webdriver.Chrome]:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def _setup(base: str) -> tuple[str, str, str]:
    with httpx.Client(base_url=base) as client:
        token = client.post("/owners", json={"name": "Ada"}).json()["token"]
        auth = {"Authorization": f"Bearer {token}"}
        a = client.post("/accounts", json={"currency": "EUR"}, headers=auth).json()["id"]
        b = client.post("/accounts", json={"currency": "EUR"}, headers=auth).json()["id"]
        client.post(f"/accounts/{a}/deposit", json={"amount": 500}, headers=auth)
    return token, a, b


@pytest.mark.browser
def test_docs_render_and_a_transfer_runs_through_try_it_out(
    demo_url: str, browser: webdriver.Chrome
) -> None:
    token, a, b = _setup(demo_url)
    wait = WebDriverWait(browser, 20)
    browser.get(f"{demo_url}/docs")
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, ".opblock-summary-path")))
    paths = {
        e.text.replace("\u200b", "")
        for e in browser.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")
    }
    assert {"/owners", "/accounts", "/transfers", "/transfers/{transfer_id}", "/healthz"} <= paths

    browser.find_element(By.CSS_SELECTOR, ".btn.authorize").click()
    field = wait.until(ec.visibility_of_element_located((By.CSS_SELECTOR, ".auth-container input")))
    field.send_keys(token)
    browser.find_element(By.CSS_SELECTOR, ".auth-btn-wrapper .btn.modal-btn.authorize").click()
    browser.find_element(By.CSS_SELECTOR, ".btn-done").click()

    operation = browser.find_element(By.ID, "operations-transfers-create_transfer_transfers_post")
    operation.find_element(By.CSS_SELECTOR, ".opblock-summary").click()
    wait.until(
        ec.element_to_be_clickable(
            (By.CSS_SELECTOR, "#operations-transfers-create_transfer_transfers_post .try-out__btn")
        )
    ).click()
    body = wait.until(
        ec.visibility_of_element_located(
            (
                By.CSS_SELECTOR,
                "#operations-transfers-create_transfer_transfers_post textarea.body-param__text",
            )
        )
    )
    body.clear()
    body.send_keys(json.dumps({"from_account": a, "to_account": b, "amount": 125}))
    operation.find_element(By.CSS_SELECTOR, ".btn.execute").click()
    status = wait.until(
        ec.visibility_of_element_located(
            (
                By.CSS_SELECTOR,
                "#operations-transfers-create_transfer_transfers_post .live-responses-table tbody .response-col_status",
            )
        )
    )
    assert status.text.strip().startswith("201")

    with httpx.Client(base_url=demo_url, headers={"Authorization": f"Bearer {token}"}) as client:
        balances: dict[str, Any] = {
            item["id"]: item["balance"] for item in client.get("/accounts").json()["items"]
        }
    assert balances == {a: 375, b: 125}
