"""The lookup API and the agents' page on two live workers (parcelwatch/service/web/): any worker
answers for any key, whichever partitioner its producer used; errors, masking, the
token, the rate bound; schemathesis against the OpenAPI document; the page in Chromium."""

import http.client
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import pytest

from parcelwatch.devtools.brokers.process import free_port
from parcelwatch.edge.partitioners import crc32_partition
from parcelwatch.service.clients import create_topics, produce
from parcelwatch.service.handlers import partition_of
from tests.support.streams import Events, tool
from tests.support.workers import assignments, collect, settings_for, start_worker

pytestmark = pytest.mark.integration

TOKEN = "correct-horse-battery-staple"
ROOT = Path(__file__).resolve().parents[2]
KEYS_MURMUR = [f"M{i}" for i in range(6)]
KEYS_CRC = ["C1", "C6", "C8", "C9", "C10", "C11"]  # where CRC32 and murmur2 disagree


def request(
    port: int,
    path: str,
    token: str | None = TOKEN,
    method: str = "GET",
    body: bytes | None = None,
    headers: dict | None = None,
    source: str = "127.0.0.1",
) -> tuple[int, dict, bytes]:
    """(status, headers, body) of one request from `source` (a loopback address of its
    own: the rate bound is per client address)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30, source_address=(source, 0))
    try:
        sent = dict(headers or {})
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        conn.request(method, path, body=body, headers=sent)
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def _events() -> Events:
    events = Events()
    for no in (*KEYS_MURMUR, *KEYS_CRC):
        events.waybill(no, promised=60)
        events.scan("PICKUP", "A-OUT", 1, no=no, event_id=f"{no}-1")
        events.scan("HUB_ARRIVAL", "A-HUB", 2, no=no, event_id=f"{no}-2")
        events.scan("HUB_DEPARTURE", "A-HUB", 3, no=no, event_id=f"{no}-3", vehicle_id="T1")
    events.scan("DAMAGE_REPORTED", "A-HUB", 2.5, no="M0", event_id="M0-d", reason="MAJOR")
    events.gps("T1", 3.2, 22.75, 114.15).gps("T1", 3.5, 22.9, 114.1)
    return events


@pytest.fixture(scope="module")
def cluster(broker, tmp_path_factory, network_file):
    """Two workers with web servers, holding parcels produced by a Java client (murmur2)
    and by a librdkafka one (CRC32). Yields (settings, {port: worker url}, tmp)."""
    tmp = tmp_path_factory.mktemp("web")
    app_id = "pw-web"
    settings = settings_for(broker, app_id)
    create_topics(settings, broker.bootstrap, embedded=True)
    ports = [free_port(), free_port()]
    web = {"web_host": "127.0.0.1", "api_token": TOKEN}
    workers = [
        # The wall clock: on the event clock, once every input is read, every deadline
        # fires (parcelwatch/service/eventtime.py, invariant 5), forgetting the vehicle's.
        start_worker(
            broker,
            tmp,
            network_file,
            app_id,
            f"w{i}.log",
            data=f"d{i}",
            clock="wall",
            web_port=port,
            **web,
        )
        for i, port in enumerate(ports)
    ]
    try:
        deadline = time.monotonic() + 90
        scans = settings.topic_scans
        while not all(
            (a := assignments(tmp / f"w{i}.log", scans)) and len(a[-1]) == 2 for i in (0, 1)
        ):
            assert time.monotonic() < deadline, "the two workers did not split the partitions"
            time.sleep(1)
        lines = _events().lines
        murmur = [x for x in lines if '"M' in x or '"vehicle_id": "T1", "event_time"' in x]
        crc = [x for x in lines if x not in murmur]
        for name, part, partitioner in (("m", murmur, "murmur2"), ("c", crc, "crc32")):
            path = tmp / f"{name}.jsonl"
            path.write_text("\n".join(part) + "\n")
            produce(settings, broker.bootstrap, path, None, partitioner=partitioner)
        records = collect(settings, broker.bootstrap, "exceptions", 1, timeout=120)
        assert any(r["type"] == "DAMAGED" for r in records), records
        # Every parcel's last scan is in: each worker holds its parcels' states.
        deadline = time.monotonic() + 60
        for no in (*KEYS_MURMUR, *KEYS_CRC):
            while True:
                status, _, body = request(ports[0], f"/waybills/{no}")
                if status == 200 and len(json.loads(body)["timeline"]) >= 3:
                    break
                assert time.monotonic() < deadline, (no, status, body[:300])
                time.sleep(0.5)
        yield settings, {p: f"http://127.0.0.1:{p}" for p in ports}, tmp
    finally:
        for worker in workers:
            worker.kill()
            worker.wait(30)


def test_the_partitioners_disagree_on_the_test_keys():
    for key in (k.encode() for k in KEYS_CRC):  # else the routing test proves less
        assert crc32_partition(key, [0, 1, 2, 3], []) != partition_of(key, 4)


def test_any_worker_answers_for_any_waybill_whichever_partitioner_placed_it(cluster):
    _, urls, _ = cluster
    routed = 0
    for no in (*KEYS_MURMUR, *KEYS_CRC):
        answers = {}
        for port, url in urls.items():
            status, headers, body = request(port, f"/waybills/{no}")
            assert status == 200, (no, port, body[:300])
            assert headers["Content-Type"].startswith("application/json")
            view = json.loads(body)
            assert view["waybill_no"] == no and view["served_by"] in urls.values()
            routed += view["served_by"] != url  # asked the worker that does not hold it
            answers[port] = view
        first, second = (
            {k: v for k, v in a.items() if k not in ("as_of", "eta")} for a in answers.values()
        )  # (read at two moments of the wall clock)
        assert first == second  # the same state, whoever was asked
        scans = [(s["scan_type"], s["facility"]["facility_id"]) for s in first["timeline"]]
        expected = [("PICKUP", "A-OUT"), ("HUB_ARRIVAL", "A-HUB"), ("HUB_DEPARTURE", "A-HUB")]
        if no == "M0":
            expected.insert(2, ("DAMAGE_REPORTED", "A-HUB"))
        assert scans == expected
        assert first["timeline"][0]["event_time"].endswith("+08:00")  # the recipient's zone
        assert (
            first["now"]["status"] == "ON_VEHICLE" and first["now"]["vehicle"]["vehicle_id"] == "T1"
        )
    assert routed == len(KEYS_MURMUR) + len(KEYS_CRC)  # each was asked once of the other


def test_an_episode_shows_its_ticket_and_message_and_the_phone_is_masked(cluster):
    settings, urls, _ = cluster
    port = next(iter(urls))
    status, _, body = request(port, "/waybills/M0")
    assert status == 200
    assert b"13800138000" not in body  # the recipient's phone, as the test orders give it
    view = json.loads(body)
    assert view["recipient"]["phone"] == "*******8000"
    (damaged,) = [e for e in view["exceptions"] if e["type"] == "DAMAGED"]
    tickets = collect(settings, settings.bootstrap_servers, "tickets", 1, timeout=30)
    (ticket,) = [t for t in tickets if t["exception_id"] == damaged["exception_id"]]
    assert damaged["status"] == "OPEN" and damaged["ticket"]["ticket_id"] == ticket["ticket_id"]
    # Which episodes' messages went out depends on the day's limit and on the order the
    # wall clock opened them in: each message shown is the one on the topic.
    notes = collect(settings, settings.bootstrap_servers, "notifications", 1, timeout=30)
    by_id = {n["notification_id"]: n for n in notes if n["waybill_no"] == "M0"}
    shown = [e["message"] for e in view["exceptions"] if e["message"]]
    assert shown and len(shown) == len(by_id)
    for message in shown:
        note = by_id[message["notification_id"]]
        assert (message["title"], message["body"]) == (note["title"], note["body"])


def test_a_vehicle_shows_its_position_and_every_parcel_on_it_from_every_worker(cluster):
    _, urls, _ = cluster
    for port in urls:
        status, _, body = request(port, "/vehicles/T1")
        assert status == 200, body[:300]
        view = json.loads(body)
        assert view["tracked"] and (view["lat"], view["lon"]) == (22.9, 114.1)
        assert view["parcels"] == sorted((*KEYS_MURMUR, *KEYS_CRC))


@pytest.mark.parametrize(
    ("path", "status", "error"),
    [
        ("/waybills/NOSUCH1", 404, "not_found"),
        ("/vehicles/NOSUCH-TRUCK", 404, "not_found"),
        ("/waybills/" + quote("bad!no"), 400, "bad_request"),
        ("/waybills/" + "X" * 41, 400, "bad_request"),
        ("/vehicles/" + quote("two words"), 400, "bad_request"),
    ],
)
def test_unknown_keys_are_404_and_malformed_ones_400_with_a_json_error(
    cluster, path, status, error
):
    _, urls, _ = cluster
    for port in urls:
        got, headers, body = request(port, path)
        assert got == status and headers["Content-Type"].startswith("application/json")
        assert json.loads(body)["error"] == error


def test_the_token_is_required_by_the_api_and_the_page(cluster):
    _, urls, _ = cluster
    port = next(iter(urls))
    for token in (None, "wrong-token"):
        status, headers, body = request(port, "/waybills/M1", token=token)
        assert status == 401 and json.loads(body)["error"] == "unauthorized"
        assert headers["WWW-Authenticate"].startswith("Bearer")
        assert b"M1" not in body
    status, _, body = request(port, "/", token=None)
    assert status == 401 and b'action="/signin"' in body and b"timeline" not in body
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    status, _, _ = request(port, "/signin", None, "POST", b"token=nope", form)
    assert status == 401
    status, headers, _ = request(port, "/signin", None, "POST", f"token={TOKEN}".encode(), form)
    assert status == 303 and headers["Location"] == "/"
    cookie = headers["Set-Cookie"].split(";")[0]
    assert "HttpOnly" in headers["Set-Cookie"] and "SameSite=Strict" in headers["Set-Cookie"]
    status, headers, body = request(port, "/", token=None, headers={"Cookie": cookie})
    assert status == 200 and b'id="search"' in body
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    status, _, _ = request(port, "/waybills/M1", token=None, headers={"Cookie": cookie})
    assert status == 200


def test_a_client_past_its_rate_is_told_to_wait_and_others_are_not(cluster):
    _, urls, _ = cluster
    port = next(iter(urls))
    statuses = []
    conn = http.client.HTTPConnection(
        "127.0.0.1", port, timeout=30, source_address=("127.0.0.2", 0)
    )
    try:
        for _ in range(400):  # far past the default burst (100) at 50 a second
            conn.request("GET", "/waybills/NOSUCH1", headers={"Authorization": f"Bearer {TOKEN}"})
            response = conn.getresponse()
            response.read()
            statuses.append(response.status)
            if response.status == 429:
                assert int(response.getheader("Retry-After")) >= 1
    finally:
        conn.close()
    assert statuses[0] == 404 and statuses.count(429) > 100
    assert request(port, "/waybills/M1", source="127.0.0.3")[0] == 200  # another client


def test_the_metrics_count_requests_by_route_and_status(cluster):
    _, urls, tmp = cluster
    log = (tmp / "w0.log").read_text(errors="replace")
    metrics_port = int(log.split("metrics on http://0.0.0.0:")[1].split("/")[0])
    request(next(iter(urls)), "/waybills/NOSUCH1")
    conn = http.client.HTTPConnection("127.0.0.1", metrics_port, timeout=10)
    conn.request("GET", "/metrics")
    text = conn.getresponse().read().decode()
    conn.close()
    line = 'parcelwatch_http_requests_total{route="/waybills/{waybill_no}",status="404"}'
    assert line in text and float(text.split(line)[1].split()[0]) >= 1


def test_schemathesis_finds_nothing_against_the_openapi_document(cluster):
    """Every documented operation, with generated keys valid and not: every answer has a
    documented status, content type and schema, and no 5xx."""
    _, urls, tmp = cluster
    port = next(iter(urls))
    st = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
    assert st, "schemathesis is a test dependency"
    report = tmp / "schemathesis.txt"
    config = tmp / "schemathesis.toml"  # half the keys generated are ones the workers hold
    config.write_text(
        f"[dictionaries.waybills]\nvalues = {json.dumps(KEYS_MURMUR + KEYS_CRC)}\n"
        '[dictionaries.vehicles]\nvalues = ["T1"]\n[parameters]\n'
        '"path.waybill_no" = { dictionary = "waybills", probability = 0.5 }\n'
        '"path.vehicle_id" = { dictionary = "vehicles", probability = 0.5 }\n'
    )
    result = subprocess.run(
        [
            st,
            "--config-file",
            str(config),
            "run",
            f"http://127.0.0.1:{port}/openapi.json",
            "--checks",
            "all",
            "--max-examples",
            "60",
            "--rate-limit",
            "40/s",
            "--mode",
            "all",
            "--header",
            f"Authorization: Bearer {TOKEN}",
            "--seed",
            "1",
            "--exclude-checks",
            "ignored_auth",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "NO_COLOR": "1"},
    )
    report.write_text(result.stdout + result.stderr)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert " passed" in result.stdout and "Missing test data" not in result.stdout


def test_the_page_looks_a_parcel_up_in_headless_chromium(cluster, tmp_path):
    """Debian's Chromium, driven by Selenium through chromium-driver: sign in, look a
    damaged parcel up, read its state in Chinese, switch to English, and on a phone's
    screen. Screenshots go to tmp_path, and to $PARCELWATCH_SCREENSHOTS if set (the
    README's: `PARCELWATCH_SCREENSHOTS=docs make test`)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    chromium, chromedriver = tool("chromium"), tool("chromedriver")
    _, urls, _ = cluster
    url = next(iter(urls.values()))
    options = Options()
    options.binary_location = chromium
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--window-size=1100,1500",
        "--lang=zh-CN",
        "--force-device-scale-factor=1",
    ):
        options.add_argument(arg)
    service = Service(chromedriver)
    driver = webdriver.Chrome(service=service, options=options)
    wait = WebDriverWait(driver, 20)
    shots = [tmp_path / "agent-page.png", tmp_path / "agent-page-en-phone.png"]
    try:
        driver.get(url + "/")
        assert driver.find_element(By.CSS_SELECTOR, "form[action='/signin']")
        driver.find_element(By.ID, "token").send_keys(TOKEN)
        driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        wait.until(lambda d: d.find_elements(By.ID, "search"))
        assert driver.title == "parcelwatch 查件"
        driver.find_element(By.ID, "no").send_keys("M0")
        driver.find_element(By.CSS_SELECTOR, "#search button").click()
        wait.until(lambda d: d.find_element(By.ID, "where").text)
        where = driver.find_element(By.ID, "where").text
        assert where.startswith("在车上运输中") and "T1" in where, where
        steps = driver.find_elements(By.CSS_SELECTOR, "#timeline li")
        assert len(steps) == 4 and steps[0].text.startswith("离开")  # the latest first
        open_ = driver.find_element(By.ID, "open").text
        view = json.loads(request(int(url.rsplit(":", 1)[1]), "/waybills/M0")[2])
        (damaged,) = [e for e in view["exceptions"] if e["type"] == "DAMAGED"]
        assert "破损" in open_ and damaged["ticket"]["ticket_id"] in open_
        for message in (e["message"] for e in view["exceptions"] if e["message"]):
            assert message["body"].splitlines()[0] in driver.find_element(By.ID, "result").text
        assert driver.find_element(By.ID, "verdict").text in (
            "可按承诺时效送达",
            "预计晚于承诺时效",
        )
        assert "*******8000" in driver.find_element(By.ID, "waybill").text
        driver.save_screenshot(str(shots[0]))

        driver.find_element(By.ID, "lang").click()
        assert driver.find_element(By.ID, "where").text.startswith("On a vehicle")
        assert "Damaged" in driver.find_element(By.ID, "open").text
        driver.set_window_size(390, 1400)  # a phone's width: nothing overflows sideways
        width = driver.execute_script("return document.documentElement.scrollWidth")
        assert width <= 390, width
        driver.save_screenshot(str(shots[1]))

        driver.find_element(By.ID, "no").clear()
        driver.find_element(By.ID, "no").send_keys("NOSUCH1")
        driver.find_element(By.CSS_SELECTOR, "#search button").click()
        wait.until(lambda d: d.find_element(By.ID, "status").text)
        assert driver.find_element(By.ID, "status").text == "No such waybill"
    finally:
        driver.quit()
    assert all(shot.stat().st_size > 10_000 for shot in shots)
    target = os.environ.get("PARCELWATCH_SCREENSHOTS")
    if target:
        for shot in shots:
            shutil.copy(shot, Path(target) / shot.name)
