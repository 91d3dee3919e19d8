"""Autograding a submission: its cells run in a sandboxed kernel, its parts are graded outside it.

:class:`SandboxRun` executes a sanitized submission cell by cell in a kernel started by
:class:`lstm_course.sandbox.SandboxedKernelManager`. A student's cell runs as written.
A test cell does not: in its place the grader draws the part's cases from the seed
(course secret, assignment, student, part), sends the inputs into the kernel, reads back
the arrays the student's function returned, and writes the verdict into the test cell's
outputs itself. nbgrader then scores the cell from those outputs (an error output scores
0), so nothing the kernel prints, raises or writes decides a score.

:class:`GradeInSandbox` is the nbgrader preprocessor that does this during
``nbgrader autograde``, in parallel worker processes for a large class: the first
submission it sees starts a pool that grades the submissions the command will come to
(sanitized as nbgrader will sanitize them), and each later call takes its result from
the pool, so that the gradebook is still written by nbgrader alone, in order.
"""

import hashlib
import json
import os
import re
import secrets
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import DeadKernelError
from nbgrader import utils
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Bool, Integer, Unicode

from lstm_course import grading, sandbox
from lstm_course.client import REPLY_MIMETYPE
from lstm_course.parts import part_of_cell

KERNEL_DIED = "KernelDied"
NOT_RUN = "NotRun"
TIMEOUT = "CellTimeoutError"
GRADER_FAULT = "GraderFault"  # the grader itself failed on a part: reported, never a silent 0
OUTPUT_BYTES = 2 << 20  # what one cell may print before the rest is dropped


def error_output(name, message):
    return nbformat.v4.new_output("error", ename=name, evalue=message, traceback=[f"{name}: {message}"])


def _size(output):
    return len(json.dumps(output, default=str))


class SandboxRun(NotebookClient):
    """Run one submission in a sandboxed kernel; grade each test cell's part outside the kernel."""

    def __init__(self, nb, assignment, student, secret, environment_root, *, slot=0, confined=True,
                 bubblewrap="bwrap", timeout=60, **kwargs):
        super().__init__(nb, timeout=timeout, allow_errors=True, interrupt_on_timeout=True,
                         error_on_timeout={"ename": TIMEOUT, "evalue": f"the cell ran for more than {timeout} s",
                                           "traceback": [f"{TIMEOUT}: the cell ran for more than {timeout} s"]},
                         extra_arguments=["--HistoryManager.hist_file=:memory:"], **kwargs)
        self.assignment, self.student, self.secret = assignment, student, secret
        environment = sandbox.grading_environment(sandbox.ENVIRONMENT_OF.get(assignment, "numpy"),
                                                  environment_root)
        self.box = sandbox.Sandbox(environment, slot=slot, confined=confined, bubblewrap=bubblewrap)
        self.seeds = {}
        self._stopped = None  # why the kernel is gone, once it is
        self._timed_out = False
        self._cell_bytes = 0

    # The kernel reaches the grader only through the outputs of the cell it runs:
    # no display updates of other cells, no widget comms, and a cap on what a cell prints.
    def create_kernel_manager(self):
        self.km = sandbox.SandboxedKernelManager(sandbox=self.box, kernel_name="python3")
        return self.km

    def _update_display_id(self, display_id, msg):
        return None

    def handle_comm_msg(self, outs, msg, cell_index):
        return None

    def output(self, outs, msg, display_id, cell_index):
        out = super().output(outs, msg, None, cell_index)
        if out is not None:
            self._cell_bytes += _size(out)
            if self._cell_bytes > OUTPUT_BYTES:
                outs.pop()
                if not outs or outs[-1].get("text") != "... output truncated ...\n":
                    outs.append(nbformat.v4.new_output("stream", name="stdout", text="... output truncated ...\n"))
        return out

    async def _responds(self, seconds=5):
        """Whether the kernel answers a kernel_info request within ``seconds`` (after an interrupt)."""
        msg_id = self.kc.kernel_info()
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                reply = await self.kc.shell_channel.get_msg(timeout=max(deadline - time.monotonic(), 0.01))
            except Exception:
                return False
            if reply.get("parent_header", {}).get("msg_id") == msg_id:
                return True
        return False

    def on_cell_executed(self, **kwargs):
        """Record an error that the kernel reported but did not print (a timeout, for one)."""
        cell, reply = kwargs["cell"], kwargs["execute_reply"]
        content = reply.get("content", {})
        if content.get("ename") == TIMEOUT:
            self._timed_out = True
        if content.get("status") == "error" and not any(
                o.output_type == "error" and o.ename == content.get("ename") for o in cell.outputs):
            cell.outputs.append(error_output(content.get("ename", "Error"), content.get("evalue", "")))

    def run(self):
        """Execute every cell; returns the notebook with its test cells' verdicts."""
        try:
            self.execute()
        finally:
            self.box.remove()
        return self.nb

    async def async_start_new_kernel_client(self):
        client = await super().async_start_new_kernel_client()
        self.box.seal()  # the kernel's sockets exist: no new files in its folder from now on
        return client

    async def async_execute_cell(self, cell, cell_index, execution_count=None, store_history=True):
        if cell.cell_type != "code":
            return cell
        if self._timed_out and self._stopped is None:
            self._timed_out = False
            if not await self._responds():
                self._stopped = "the kernel did not stop when a cell ran past its time limit, and was ended"
                await self.km.shutdown_kernel(now=True)
        part = part_of_cell(cell.metadata.get("nbgrader", {}).get("grade_id", "")) if utils.is_grade(cell) else None
        if self._stopped is not None:
            cell.outputs = [error_output(NOT_RUN, f"not run: {self._stopped}")]
            return cell
        if utils.is_grade(cell):
            cell.outputs = await self._grade(cell, cell_index, part)
            return cell
        self._cell_bytes = 0
        try:
            return await super().async_execute_cell(cell, cell_index, execution_count, store_history)
        except DeadKernelError:
            self._stopped = f"the kernel died in cell {cell_index + 1}"
            cell.outputs.append(error_output(KERNEL_DIED, "the kernel died while this cell ran (os._exit, a "
                                                          "crash or out of memory); the cells after it were not run"))
            return cell

    async def _grade(self, cell, cell_index, part):
        """The outputs of a test cell: the verdict on its part, decided here from what the kernel sent."""
        if part is None or part.assignment != self.assignment:
            return [error_output("GradingError", "this test cell has no hidden test (not a cell of this assignment)")]
        seed = grading.part_seed(self.secret, self.assignment, self.student, part.name)
        self.seeds[part.name] = seed
        cases = grading.part_cases(part.name, seed)
        request = nbformat.v4.new_code_cell(grading.kernel_request(part.name, cases))
        self._cell_bytes = 0
        try:
            await super().async_execute_cell(request, cell_index, store_history=False)
        except DeadKernelError:
            self._stopped = f"the kernel died in cell {cell_index + 1}"
            return [error_output(KERNEL_DIED, f"the kernel died while {part.name} was called on the hidden "
                                              f"cases; the cells after it were not run")]
        finally:
            self.nb.cells[cell_index] = cell
            self.clear_display_id_mapping(cell_index)
        replies = [o.data[REPLY_MIMETYPE] for o in request.outputs
                   if o.output_type == "display_data" and REPLY_MIMETYPE in o.get("data", {})]
        if any(o.output_type == "error" and o.ename == TIMEOUT for o in request.outputs):
            return [error_output("GradingError", f"{part.name} did not finish on the hidden cases within "
                                                 f"{self.timeout} s: look for a loop that never ends")]
        if len(replies) != 1:
            return [error_output("GradingError", f"{part.name} could not be called on the hidden cases "
                                                 f"(the kernel sent {len(replies)} answers, not one)")]
        try:
            results = grading.parse_reply(replies[0], cases)
        except ValueError as error:
            return [error_output("GradingError", f"{part.name}: the kernel's answer was not readable ({error})")]
        try:
            message = grading.verdict(part.name, cases, results, seed=seed)
        except Exception as error:  # a fault of the grader's: this part gets no points, and it shows
            self.log.exception("grading %s failed", part.name)
            return [error_output(GRADER_FAULT, f"{part.name} could not be graded (a fault in the grader, "
                                               f"not in your code: {type(error).__name__}: {error})")]
        if message is None:
            text = f"{part.name}: right on all {len(cases)} hidden cases (seed {seed}).\n"
            return [nbformat.v4.new_output("stream", name="stdout", text=text)]
        if results[0].status == "not answered":
            return [error_output("NotImplementedError", message)]
        return [error_output("GradingError", message)]


def grade_notebook(nb_text, assignment, student, settings, slot=0):
    """Grade one sanitized notebook (JSON text); returns (graded JSON text, isolation, seeds)."""
    nb = nbformat.reads(nb_text, as_version=4)
    run = SandboxRun(nb, assignment, student, bytes.fromhex(settings["secret"]), settings["environments"],
                     slot=slot, confined=settings["confined"], bubblewrap=settings["bubblewrap"],
                     timeout=settings["timeout"])
    run.run()
    return nbformat.writes(run.nb), run.box.isolation, run.seeds


# --- nbgrader's side: the preprocessor, and grading ahead in parallel -----------------------------

_SLOT = 0


def _take_slot(slots):
    global _SLOT
    _SLOT = slots.get()


def _grade_in_worker(nb_text, assignment, student, settings):
    return grade_notebook(nb_text, assignment, student, settings, slot=_SLOT)


def fingerprint(nb):
    """What must be equal for a result graded ahead to belong to this sanitized notebook."""
    cells = [(c.cell_type, c.source, json.dumps(c.metadata.get("nbgrader", {}), sort_keys=True)) for c in nb.cells]
    return hashlib.sha256(json.dumps(cells).encode()).hexdigest()


def read_secret(path):
    """The course secret (hex text), made on first use: it stays with the instructor, out of git."""
    if not os.path.exists(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as stream:
            stream.write(secrets.token_hex(32))
    with open(path, encoding="ascii") as stream:
        return stream.read().strip()


class GradeInSandbox(NbGraderPreprocessor):
    """nbgrader's autograde step: run the submission sandboxed, grade every part outside the kernel."""

    workers = Integer(0, help="parallel graders; 0 means one per CPU core").tag(config=True)
    timeout = Integer(60, help="seconds one cell (or one part's hidden cases) may run").tag(config=True)
    allow_unsandboxed = Bool(False, help="grade without bubblewrap where it is missing (marked in "
                                         "the grades); refused otherwise").tag(config=True)
    secret_file = Unicode("", help="the course secret that seeds the hidden cases").tag(config=True)
    environments = Unicode("", help="where the grading environments are built").tag(config=True)
    bubblewrap = Unicode("bwrap", help="the bubblewrap executable").tag(config=True)

    _ahead = None  # shared by the instances of one nbgrader run: {key: (fingerprint, future)}
    _pool = None
    _progress = None

    def settings(self):
        problem = sandbox.bubblewrap_problem(self.bubblewrap)
        if problem and not self.allow_unsandboxed:
            raise RuntimeError(f"refusing to grade without a sandbox: {problem}. To grade anyway, "
                               f"unconfined, pass --GradeInSandbox.allow_unsandboxed=True")
        return {"secret": read_secret(self.secret_file), "environments": self.environments,
                "confined": problem is None, "bubblewrap": self.bubblewrap, "timeout": self.timeout}

    def preprocess(self, nb, resources):
        names = resources["nbgrader"]
        settings = self.settings()
        key = (names["student"], names["assignment"], names["notebook"])
        ahead = GradeInSandbox._ahead
        if ahead is None:
            ahead = GradeInSandbox._ahead = self._grade_ahead(settings, key, nb)
        text = nbformat.writes(nb)
        found = ahead.pop(key, None)
        started = time.monotonic()
        if found is not None and found[0] == fingerprint(nb):
            graded, isolation, seeds = found[1].result()
        else:
            graded, isolation, seeds = grade_notebook(text, names["assignment"], names["student"], settings)
        if GradeInSandbox._progress is not None:
            GradeInSandbox._progress.done(key, time.monotonic() - started, self.log)
        resources["lstm_course"] = {"isolation": isolation, "seeds": seeds}
        self.log.info("%s/%s graded in a sandbox: %s", names["student"], names["assignment"], isolation)
        return nbformat.reads(graded, as_version=4), resources

    def _grade_ahead(self, settings, current, nb):
        """Start grading, in worker processes, the submissions this autograde run will come to.

        ``current`` (the submission being graded now, sanitized as ``nb``) goes first; each
        later one is handed to the pool as soon as it is sanitized.
        """
        workers = self.workers or os.cpu_count() or 1
        keys = _upcoming_keys(self)
        GradeInSandbox._progress = Progress(len({current, *keys}))
        if workers < 2 or len(keys) < 2:
            return {}
        for assignment in {key[1] for key in keys}:  # built once here, not by every worker
            sandbox.grading_environment(sandbox.ENVIRONMENT_OF.get(assignment, "numpy"), self.environments)
        context = get_context("spawn")
        slots = context.Queue()
        for slot in range(1, workers + 1):
            slots.put(slot)
        pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_take_slot, initargs=(slots,))
        GradeInSandbox._pool = pool
        from lstm_course.plugins import sanitized_copy  # (plugins imports this module)
        ahead = {}
        converter = self.parent.parent
        for key in [current] + [key for key in keys if key != current]:
            student, assignment, notebook = key
            sanitized = nb if key == current else sanitized_copy(converter, keys[key], assignment, student, notebook)
            if sanitized is not None:
                future = pool.submit(_grade_in_worker, nbformat.writes(sanitized), assignment, student, settings)
                ahead[key] = (fingerprint(sanitized), future)
        self.log.info("grading %d submissions ahead in %d sandboxed workers", len(ahead), workers)
        return ahead


class Progress:
    """One line per graded submission, with an estimate of the time left."""

    def __init__(self, total):
        self.total, self.count, self.start = total, 0, time.monotonic()

    def done(self, key, seconds, log):
        self.count += 1
        elapsed = time.monotonic() - self.start
        left = elapsed / self.count * max(self.total - self.count, 0)
        log.info("[%d/%d] %s/%s done (%.1f s waited); about %d s left", self.count, self.total,
                 key[0], key[1], seconds, round(left))


def _upcoming_keys(preprocessor):
    """{(student, assignment, notebook): path} of every submission the running autograde will grade."""
    converter = getattr(getattr(preprocessor, "parent", None), "parent", None)
    assignments = getattr(converter, "assignments", None)
    if not assignments:
        return {}
    coursedir = converter.coursedir
    pattern = coursedir.format_path(coursedir.submitted_directory, "(?P<student_id>.*)",
                                    "(?P<assignment_id>.*)", escape=True)
    keys = {}
    for folder in sorted(assignments):
        match = re.match(pattern, folder)
        if match is None:
            continue
        assignment, student = match.group("assignment_id"), match.group("student_id")
        for path in sorted(assignments[folder]):
            notebook = os.path.splitext(os.path.basename(path))[0]
            if _will_grade(converter, assignment, student, notebook):
                keys[(student, assignment, notebook)] = path
    return keys


def _will_grade(converter, assignment, student, notebook):
    """What nbgrader's init_destination will decide, without its side effects."""
    coursedir = converter.coursedir
    if student in (coursedir.student_id_exclude or "").split(","):
        return False
    destination = coursedir.format_path(coursedir.autograded_directory, student, assignment)
    if converter.force or not os.path.exists(os.path.join(destination, f"{notebook}.ipynb")):
        return True
    new = coursedir.get_existing_timestamp(coursedir.format_path(coursedir.submitted_directory, student, assignment))
    old = coursedir.get_existing_timestamp(destination)
    return new is not None and old is not None and new > old

