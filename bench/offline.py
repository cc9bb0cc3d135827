"""Benchmark: the built site renders its math with no network at all.

Builds the book into a temporary folder, serves ``_build/html`` with ``python -m http.server`` on
127.0.0.1 and loads one page with math in headless Chromium, whose host resolver fails every name
but 127.0.0.1, so any fetch from a CDN fails. The page passes when its DOM holds MathJax's rendered
``mjx-container`` elements and it asked no other host. Chromium's net log lists every request
it started; requests to other hosts are reported apart for the page (initiated by the local
site) and for Chromium's own services (no initiator: clock sync, account checks), which no flag
fully silences. Needs ``/usr/bin/chromium`` (Debian: ``apt-get install chromium``); without it
the benchmark records that it was skipped. Writes ``bench/results/offline.json``.
"""

import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

from bench import build_book, save

CHROMIUM = Path("/usr/bin/chromium")
PAGE = "chapters/01-transformers/scores-to-probabilities.html"
LOCAL_HOSTS = {"127.0.0.1", "localhost"}


def serve(html_dir, access_log):
    """Start ``http.server`` on a free port of 127.0.0.1, logging to ``access_log``; return it and its port."""
    server = subprocess.Popen([sys.executable, "-u", "-m", "http.server", "0", "--bind", "127.0.0.1",
                               "--directory", str(html_dir)], stdout=subprocess.PIPE, stderr=access_log, text=True)
    line = server.stdout.readline()  # "Serving HTTP on 127.0.0.1 port 41234 (http://127.0.0.1:41234/) ..."
    match = re.search(r"port (\d+)", line)
    if not match:
        server.kill()
        raise RuntimeError(f"http.server did not start: {line!r}")
    return server, int(match.group(1))


def dump_dom(url, tmp):
    """The DOM of ``url`` after its scripts ran in headless Chromium, and the requests it started."""
    net_log = tmp / "netlog.json"
    command = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run",
               f"--user-data-dir={tempfile.mkdtemp(dir=tmp)}", "--virtual-time-budget=8000",
               "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1", f"--log-net-log={net_log}",
               "--dump-dom", url]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    if result.returncode:
        raise RuntimeError(f"chromium failed ({result.returncode}):\n{result.stderr[-4000:]}")
    return result.stdout, requests(json.loads(net_log.read_text()))


def requests(net_log):
    """``(url, initiator)`` of every URL request in a Chromium net log."""
    start_job = net_log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    return [(e["params"]["url"], e["params"].get("initiator", "")) for e in net_log["events"]
            if e["type"] == start_job and "url" in e.get("params", {})]


def run():
    if not CHROMIUM.exists():
        return {"benchmark": "offline math rendering", "skipped": f"{CHROMIUM} not found (apt-get install chromium)",
                "within_target": True}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        build_book(tmp)
        with open(tmp / "access.log", "w") as access_log:
            server, port = serve(tmp / "_build" / "html", access_log)
            try:
                dom, started = dump_dom(f"http://127.0.0.1:{port}/{PAGE}", tmp)
            finally:
                server.kill()
                server.wait()
        served = (tmp / "access.log").read_text()
    remote = [(url, initiator) for url, initiator in started if urlsplit(url).hostname not in LOCAL_HOSTS]
    from_page = [url for url, initiator in remote if urlsplit(initiator).hostname in LOCAL_HOSTS]
    n_math = dom.count("<mjx-container")
    return {
        "benchmark": "offline math rendering",
        "page": PAGE,
        "mjx_containers": n_math,
        "mathjax_served_locally": "/_static/mathjax/" in served,
        "requests": len(started),
        "remote_requests_from_page": from_page,
        "remote_hosts_of_chromium": sorted({urlsplit(url).hostname for url, _ in remote if url not in from_page}),
        "within_target": n_math > 0 and not from_page,
    }


if __name__ == "__main__":
    result = run()
    save("offline", result)
    sys.exit(0 if result["within_target"] else 1)
