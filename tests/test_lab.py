"""make lab: JupyterLab 4 with the jupytext extension, only known LAB_ARGS, never public; and a
notebook run in a live lab session (driven through the server's REST and kernel websocket API)
writes to the scratch folder, while saving it keeps outputs out of the committed .ipynb."""
from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import jupytext
import nbformat
import pytest

from lib import lab, provenance, runtime
from lib.params import ConfigError

JUPYTER = Path(sys.executable).with_name("jupyter")


def test_lab_is_rooted_at_the_repository_opens_notebooks_and_listens_on_localhost():
    argv = lab.command("--port 9999 --no-browser", is_root=True)
    assert argv[1] == "lab" and f"--ServerApp.root_dir={runtime.REPO_ROOT}" in argv
    assert "--ServerApp.ip=127.0.0.1" in argv and "--LabApp.default_url=/lab/tree/notebooks" in argv
    assert "--allow-root" in argv and argv[-2:] == ["--ServerApp.port=9999", "--ServerApp.open_browser=False"]
    assert "--FileContentsManager.pre_save_hook=lib.lab.strip_outputs_hook" in argv
    assert "--allow-root" not in lab.command("", is_root=False)
    figures = runtime.REPO_ROOT / "notebooks"
    assert f"--ServerApp.root_dir={figures}" in lab.command(f"--notebook-dir={figures}", is_root=False)


@pytest.mark.parametrize("extra,message", [
    ("--config=evil.py", "'--config=evil.py' is not allowed"),
    ("--ServerApp.ip=0.0.0.0 --IdentityProvider.token=", "'--ServerApp.ip=0.0.0.0' is not allowed"),
    ("--ip 0.0.0.0", "'--ip' is not allowed"),
    ("--ServerApp.token=", "is not allowed"),
    ("--port 99999", "port must be a number from 1 to 65535"),
    ("--port", "--port needs a value"),
    ("--notebook-dir /no/such/dir", "is not a directory"),
    ("--no-browser=yes", "takes no value"),
    ("`touch x`; rm", "'`touch' is not allowed"),
    ("'--port 1", "cannot split LAB_ARGS"),
])
def test_lab_args_outside_the_known_options_are_refused(extra, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace("[", r"\[")):
        lab.command(extra, is_root=False)


def test_the_lab_resolves_relative_study_folders_before_its_kernels_start_in_notebooks(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ADV_FIGURES_DIR", "relfigs")
    monkeypatch.setenv("ADV_DRY_RUN", "1")
    assert lab.main([]) == 0
    assert os.environ["ADV_FIGURES_DIR"] == str(tmp_path / "relfigs")
    monkeypatch.setenv("ADV_DEVICE", "foo")
    assert lab.main([]) == 2, "an unusable setting is refused before the lab starts"


def test_make_lab_refuses_a_config_file_without_a_traceback(tmp_path):
    marker = tmp_path / "ran"
    evil = tmp_path / "evil.py"
    evil.write_text(f"open({str(marker)!r}, 'w').write('x')\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ADV_")}
    proc = subprocess.run(["make", "-s", "lab", f"LAB_ARGS=--config={evil}"], cwd=runtime.REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and "is not allowed" in proc.stderr and "Traceback" not in proc.stderr
    assert not marker.exists()


def test_the_jupytext_lab_extension_is_enabled_in_jupyterlab_4():
    from packaging.version import Version

    proc = subprocess.run([str(JUPYTER), "labextension", "list"], capture_output=True, text=True, timeout=120)
    listing = proc.stdout + proc.stderr
    assert "JupyterLab v4." in listing, listing
    assert Version(listing.split("JupyterLab v")[1].split()[0]) >= Version("4.4.9")
    line = next((ln for ln in listing.splitlines() if "jupyterlab-jupytext" in ln), "")
    assert "enabled" in line and "OK" in line, listing


def test_the_pre_save_hook_strips_outputs_of_notebooks_only_under_notebooks(tmp_path):
    def model():
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1", execution_count=3, outputs=[
            nbformat.v4.new_output("execute_result", data={"text/plain": "1"}, execution_count=3)])])
        return {"type": "notebook", "content": json.loads(nbformat.writes(nb))}

    class Manager:
        root_dir = str(tmp_path)

    kept, stripped = model(), model()
    lab.strip_outputs_hook(kept, "figures/smoke/r.failed.ipynb", contents_manager=Manager())
    lab.strip_outputs_hook(stripped, "notebooks/r.ipynb", contents_manager=Manager())
    assert kept["content"]["cells"][0]["outputs"]
    cell = stripped["content"]["cells"][0]
    assert cell["outputs"] == [] and cell["execution_count"] is None


# --------------------------------------------------------------------------- a live session
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Lab:
    """A JupyterLab server started with lab.command(), spoken to over HTTP and websockets."""

    def __init__(self, root: Path, env: dict):
        self.port, self.token = _free_port(), secrets.token_hex(16)
        argv = lab.command(f"--port {self.port} --no-browser --notebook-dir {root}") + [
            f"--IdentityProvider.token={self.token}"]
        self.log = open(root / "lab.log", "w")  # noqa: SIM115 (closed in stop)
        self.proc = subprocess.Popen(argv, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 90
        while time.time() < deadline:
            try:
                self.get("/api/status")
                return
            except OSError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.5)
        self.stop()
        pytest.fail("JupyterLab did not start: " + (root / "lab.log").read_text()[-2000:])

    def request(self, method: str, path: str, body=None):
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", method=method,
                                     data=None if body is None else json.dumps(body).encode(),
                                     headers={"Authorization": f"token {self.token}",
                                              "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=60) as resp:
            text = resp.read().decode()
        return json.loads(text) if text else None

    def get(self, path):
        return self.request("GET", path)

    def run_cells(self, kernel_id: str, sources: list[str]) -> list[list[dict]]:
        """Execute each source in the kernel over its websocket; the outputs of each, as nbformat dicts."""
        import websocket

        ws = websocket.create_connection(f"ws://127.0.0.1:{self.port}/api/kernels/{kernel_id}/channels",
                                         header=[f"Authorization: token {self.token}"], timeout=300)
        try:
            return [self._run(ws, src) for src in sources]
        finally:
            ws.close()

    @staticmethod
    def _run(ws, source: str) -> list[dict]:
        msg_id = uuid.uuid4().hex
        ws.send(json.dumps({"header": {"msg_id": msg_id, "username": "test", "session": uuid.uuid4().hex,
                                       "msg_type": "execute_request", "version": "5.3"},
                            "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
                            "content": {"code": source, "silent": False, "store_history": True,
                                        "user_expressions": {}, "allow_stdin": False, "stop_on_error": True}}))
        outputs, done, idle = [], False, False
        while not (done and idle):
            msg = json.loads(ws.recv())
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind, content = msg["msg_type"], msg["content"]
            if kind in ("stream", "display_data", "execute_result", "error"):
                outputs.append(nbformat.v4.output_from_msg(msg))
            done |= kind == "execute_reply"
            idle |= kind == "status" and content.get("execution_state") == "idle"
        return outputs

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


@pytest.mark.notebook
def test_a_notebook_run_in_jupyterlab_writes_to_the_scratch_folder_and_saves_without_outputs(tmp_path):
    pytest.importorskip("websocket")
    root = tmp_path / "repo"
    (root / "notebooks").mkdir(parents=True)
    for suffix in (".py", ".ipynb"):
        name = f"library_tour{suffix}"
        shutil.copyfile(runtime.REPO_ROOT / "notebooks" / name, root / "notebooks" / name)
    figures = tmp_path / "figures"
    env = dict(os.environ, ADV_FIGURES_DIR=str(figures), ADV_PROGRESS="0", JUPYTER_RUNTIME_DIR=str(tmp_path / "rt"))
    for key in ("ADV_OUTPUT_DIR", provenance.RUN_ID_ENV, provenance.LAUNCHER_ENV):
        env.pop(key, None)
    server = Lab(root, env)
    try:
        names = {e.get("name"): e for e in server.get("/lab/api/extensions")}
        assert names.get("jupyterlab-jupytext", {}).get("enabled"), "the jupytext lab extension is enabled"
        assert server.get("/api/contents/notebooks/library_tour.py")["type"] == "notebook", "jupytext opens the .py"
        session = server.request("POST", "/api/sessions", {"path": "notebooks/library_tour.ipynb", "type": "notebook",
                                                           "name": "", "kernel": {"name": "adversarial-study"}})
        nb = nbformat.from_dict(server.get("/api/contents/notebooks/library_tour.ipynb")["content"])
        code = [c for c in nb.cells if c.cell_type == "code"]
        sources = ['profile = "smoke"\noverrides = {"n_cw": 10, "cw_steps": 10}' if "parameters" in c.metadata.get(
            "tags", []) else c.source for c in code]
        outputs = server.run_cells(session["kernel"]["id"], sources)
        errors = [o for out in outputs for o in out if o["output_type"] == "error"]
        assert not errors, errors[0]["evalue"] if errors else ""
        scratch = figures / "smoke" / "lab" / "library_tour"
        assert (scratch / "robust_accuracy.csv").is_file() and (scratch / "accuracy_vs_eps.png").is_file()
        stamp = provenance.read(scratch)
        assert stamp and stamp["launched_by"].startswith("interactive") and stamp["parameters"]["n_cw"] == 10
        assert not (figures / "smoke" / "library_tour").exists(), "nothing in what make reproduce owns"
        shown = [o for out in outputs for o in out if o.get("metadata", {}).get(provenance.KEY)]
        assert shown and shown[0]["metadata"][provenance.KEY]["run_id"] == stamp["run_id"], "the stamp is shown"

        for cell, out in zip(code, outputs):  # save it as the lab would, outputs and all
            cell.outputs = out
        server.request("PUT", "/api/contents/notebooks/library_tour.ipynb",  # sources as strings, as the lab sends
                       {"type": "notebook", "format": "json", "content": json.loads(json.dumps(nb))})
        saved = nbformat.read(root / "notebooks" / "library_tour.ipynb", as_version=4)
        assert all(not c.get("outputs") for c in saved.cells if c.cell_type == "code"), "no outputs on disk"
        twin = jupytext.read(root / "notebooks" / "library_tour.py")
        assert [c.source.strip() for c in twin.cells] == [c.source.strip() for c in saved.cells], "still paired"
        server.request("DELETE", f"/api/sessions/{session['id']}")
    finally:
        server.stop()
