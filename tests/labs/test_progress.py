"""The labs' progress bars: drawn in a notebook a person runs, absent from an executed one.

A person's front end (JupyterLab, Colab) sends every cell with ``allow_stdin``; the book's
build runs the chapters through nbclient, which does not. The same cells run both ways.
"""

import nbformat
import pytest
from jupyter_client.manager import start_new_kernel
from nbclient import NotebookClient

WIDGET = "application/vnd.jupyter.widget-view+json"
# A bar counted by hand, and the tiny lab (which trains through the labs' own loop and
# prints a line per run on a terminal).
CELLS = [
    "from lstm_labs import progress_bar\n"
    "from lstm_labs.recall import run_recall",
    "with progress_bar(5, 'counted') as bar:\n"
    "    for _ in range(5):\n"
    "        bar.update(1)",
    "results = run_recall('tiny', models=('LSTM',), device='cpu', ratios=False)",
]


def test_an_executed_notebook_keeps_no_trace_of_a_bar():
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in CELLS])
    NotebookClient(notebook, kernel_name="python3", timeout=120).execute()
    outputs = {cell.source.splitlines()[0]: cell.outputs for cell in notebook.cells if cell.outputs}
    # The lab says once which device it runs on; nothing else may stay.
    assert outputs.pop(CELLS[-1], None) == [nbformat.v4.new_output("stream", name="stdout",
                                                                   text="Device: cpu (asked for)\n")]
    assert not outputs, f"cells that left output in an executed notebook: {outputs}"


@pytest.fixture(scope="module")
def attended_kernel():
    manager, client = start_new_kernel(kernel_name="python3")
    yield client
    client.stop_channels()
    manager.shutdown_kernel(now=True)


def run_as_a_person(client, source):
    """Run ``source`` as JupyterLab does (``allow_stdin``); return the messages it published."""
    messages = []
    reply = client.execute_interactive(source, allow_stdin=True, output_hook=messages.append, timeout=120)
    assert reply["content"]["status"] == "ok", reply["content"]
    return messages


@pytest.mark.parametrize("source", CELLS[1:], ids=["progress_bar", "run_recall"])
def test_a_notebook_a_person_runs_draws_a_notebook_bar(attended_kernel, source):
    run_as_a_person(attended_kernel, CELLS[0])
    messages = run_as_a_person(attended_kernel, source)
    widgets = [m for m in messages if m["msg_type"] == "display_data" and WIDGET in m["content"]["data"]]
    assert widgets, f"no widget was displayed; messages: {[m['msg_type'] for m in messages]}"
    streams = [m["content"]["text"] for m in messages if m["msg_type"] == "stream"]
    assert not any("it/s" in text or "%|" in text for text in streams), f"a text bar was printed: {streams}"
