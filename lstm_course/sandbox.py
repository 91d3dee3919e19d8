"""The trust boundary: a student's kernel runs in a bubblewrap sandbox, where the reference is not.

Each submission gets a fresh IPython kernel started by :class:`SandboxedKernelManager`:

* **bubblewrap** (Debian's ``bubblewrap``): a new root holding only read-only system
  folders, the Python installation and the assignment's grading environment; its own
  process, network (none), IPC and host-name namespaces; a private ``/tmp`` of limited
  size as home and working folder. Nothing of the course's folders is there: not
  ``solutions/``, not the gradebook, not other submissions, not the course secret.
* **an unprivileged user**: when the grader runs as root the kernel drops to a user id of
  its own, leased for the kernel's life so that no other sandbox on the machine holds it
  at the same time (a fork bomb in one cannot starve another, whichever grader runs it);
  otherwise it runs as the grader's user inside a user namespace.
* **limits** (``prlimit``): address space, CPU time, processes, file size, open files.
* **a grading environment** per assignment (:func:`grading_environment`): a virtual
  environment holding only what the notebook imports (NumPy and matplotlib; PyTorch too
  for a4), hard-linked from this installation, and the small client
  ``lstm_course.client``; not ``lstm_ref``, not the rest of ``lstm_course``.

The kernel talks to the grader over Unix sockets in a folder of its own, which is
made read-only as soon as the kernel is up. Without bubblewrap the grader refuses to
run unless the instructor allows it explicitly (the kernel then runs unconfined, in the
same grading environment, and the grades say so).
"""

import fcntl
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from importlib import metadata
from pathlib import Path

import zmq
from jupyter_client.manager import AsyncKernelManager
from packaging.requirements import Requirement
from traitlets import Any

# What each grading environment holds besides the client: distributions and their dependencies.
ENVIRONMENTS = {
    "numpy": ("numpy", "matplotlib", "ipykernel"),
    "torch": ("numpy", "matplotlib", "ipykernel", "torch"),
}
ENVIRONMENT_OF = {"a4_weather_lab": "torch"}  # every other assignment: "numpy"
CLIENT = ("__init__.py", "client.py")  # the files of lstm_course a grading kernel gets

LIMITS = {"as": 2 << 30, "cpu": 900, "fsize": 64 << 20, "nofile": 256, "core": 0}
PROCESSES = 256  # processes and threads of one sandbox
TMP_BYTES = 256 << 20
MESSAGE_BYTES = 64 << 20  # the largest message the grader accepts from a kernel
FIRST_UID = 61000  # sandbox user ids when grading as root: FIRST_UID + slot, or the next free one
USER_IDS = 1000  # how many there are
# Where the graders of one machine say which user ids their live sandboxes hold.
LEASES = Path("/run/lock" if os.path.isdir("/run/lock") else tempfile.gettempdir()) / "lstm-course-sandbox-users"


def _closure(names):
    """The installed distributions that ``names`` need, themselves included (no extras)."""
    found, todo = {}, list(names)
    while todo:
        name = todo.pop()
        key = name.lower().replace("_", "-")
        if key in found:
            continue
        dist = metadata.distribution(name)
        found[key] = dist
        for text in dist.requires or ():
            requirement = Requirement(text)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(requirement.name)
    return found


def _site_packages(prefix):
    relative = os.path.relpath(sysconfig.get_paths()["purelib"], sys.prefix)
    return Path(prefix) / relative


def _link(source, target):
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def grading_environment(name, root):
    """The grading environment ``name`` under ``root`` (built, or rebuilt when stale); its folder.

    A virtual environment without pip whose site-packages holds the files of exactly the
    distributions of ``ENVIRONMENTS[name]`` and their dependencies, linked from this
    installation (seconds, no download), and the client files of ``lstm_course``.
    """
    distributions = _closure(ENVIRONMENTS[name])
    here = Path(__file__).resolve().parent
    manifest = {"python": sys.version, "distributions": {k: d.version for k, d in sorted(distributions.items())},
                "client": {f: (here / f).read_text(encoding="utf-8") for f in CLIENT}}
    folder = Path(root) / name
    Path(root).mkdir(parents=True, exist_ok=True)
    with open(Path(root) / f".{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one builder at a time, across graders
        recorded = folder / "manifest.json"
        if not (recorded.exists() and json.loads(recorded.read_text(encoding="utf-8")) == manifest):
            _build(folder, distributions, manifest)
    return folder


def _build(folder, distributions, manifest):
    here = Path(__file__).resolve().parent
    name, root = folder.name, folder.parent
    building = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=root))
    os.chmod(building, 0o755)  # mkdtemp's 0700 would shut the sandbox's user out
    subprocess.run([sys._base_executable, "-m", "venv", "--without-pip", str(building)], check=True)
    site = _site_packages(building)
    for dist in distributions.values():
        base = Path(dist.locate_file(""))
        for file in dist.files or ():
            source = Path(dist.locate_file(file)).resolve()
            if source.is_file() and source.is_relative_to(base.resolve()):
                _link(source, site / source.relative_to(base.resolve()))
    for file in CLIENT:
        _link(here / file, site / "lstm_course" / file)
    (building / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    # Rebuilt under a new name, then swapped in: a concurrent grader never sees half of one.
    old = folder.with_name(f".{name}-old-{os.getpid()}")
    if folder.exists():
        folder.rename(old)
    building.rename(folder)
    shutil.rmtree(old, ignore_errors=True)


def bubblewrap_problem(bubblewrap="bwrap"):
    """None if bubblewrap (the executable ``bubblewrap``) can start a sandbox here, else one line why not."""
    if shutil.which(bubblewrap) is None:
        return f"bubblewrap ({bubblewrap}) is not installed (Debian/Ubuntu: apt-get install bubblewrap)"
    trial = [bubblewrap, "--ro-bind", "/", "/", "--unshare-pid", "--unshare-net", "--proc", "/proc",
             "--dev", "/dev"] + ([] if os.geteuid() == 0 else ["--unshare-user"]) + ["true"]
    result = subprocess.run(trial, capture_output=True, text=True)
    if result.returncode != 0:
        return f"bubblewrap cannot start a sandbox here: {result.stderr.strip()[:200]}"
    return None


class Sandbox:
    """How one kernel is confined: its environment, its runtime folder, its user and its limits."""

    def __init__(self, environment, slot=0, confined=True, bubblewrap="bwrap"):
        self.environment = Path(environment)
        self.confined, self.bubblewrap = confined, bubblewrap
        self.as_root = os.geteuid() == 0
        self._lease = None
        if self.as_root and confined:
            self.uid, self._lease = lease_user_id(FIRST_UID + slot)
        else:
            self.uid = os.getuid()
        self.runtime = Path(tempfile.mkdtemp(prefix="lstm-kernel-"))
        os.chmod(self.runtime, 0o777 if self.as_root else 0o700)

    @property
    def isolation(self):
        """What the grades and the log say about this kernel's confinement."""
        if not self.confined:
            return "none (unsandboxed: allowed by the instructor)"
        user = f"user {self.uid}" if self.as_root else "the grader's user in a user namespace"
        return f"bubblewrap ({user}, no network, limits)"

    def command(self, kernel_argv):
        """The command line that starts ``kernel_argv`` (python -m ipykernel_launcher …) confined."""
        if not self.confined:
            return kernel_argv
        limits = [f"--{name}={value}" for name, value in LIMITS.items()]
        limits.append(f"--nproc={PROCESSES if self.as_root else _processes_of(os.getuid()) + PROCESSES}")
        base = Path(sys.base_prefix).resolve()
        binds = []
        for folder in ("/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin"):
            if os.path.islink(folder):
                binds += ["--symlink", os.readlink(folder), folder]
            elif os.path.isdir(folder):
                binds += ["--ro-bind", folder, folder]
        binds += ["--perms", "0755", "--dir", "/etc"]
        for file in ("/etc/ld.so.cache", "/etc/passwd", "/etc/group", "/etc/localtime", "/etc/nsswitch.conf",
                     "/etc/fonts"):
            if os.path.exists(file):
                binds += ["--ro-bind", file, file]
        for source, writable in ((base, False), (self.environment, False), (self.runtime, True)):
            # bwrap makes missing parent folders 0700: make them 0755 first, or the user cannot enter.
            for parent in reversed(Path(source).parents[:-1]):
                if str(parent) not in ("/usr", "/tmp"):
                    binds += ["--perms", "0755", "--dir", str(parent)]
            binds += ["--bind" if writable else "--ro-bind", str(source), str(source)]
        environment = {"PATH": "/usr/bin:/bin", "HOME": "/tmp", "LANG": "C.UTF-8",
                       "MPLCONFIGDIR": "/tmp/.matplotlib", "IPYTHONDIR": "/tmp/.ipython",
                       "JUPYTER_RUNTIME_DIR": "/tmp/.jupyter", "OMP_NUM_THREADS": "1",
                       "LSTM_COURSE_SANDBOX": "1"}
        setenv = [word for key, value in environment.items() for word in ("--setenv", key, value)]
        drop = ([] if not self.as_root else
                ["setpriv", f"--reuid={self.uid}", f"--regid={self.uid}", "--clear-groups", "--no-new-privs",
                 "--inh-caps=-all", "--bounding-set=-all"])
        return (["prlimit", *limits, "--",
                 self.bubblewrap, "--die-with-parent", "--new-session", "--unshare-pid", "--unshare-net",
                 "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
                 *([] if self.as_root else ["--unshare-user"]), "--hostname", "sandbox",
                 "--proc", "/proc", "--dev", "/dev", "--perms", "1777", "--size", str(TMP_BYTES),
                 "--tmpfs", "/tmp", *binds, "--chdir", "/tmp", "--clearenv", *setenv,
                 *drop, *kernel_argv])

    def seal(self):
        """Once the kernel is up: no new files in its runtime folder (its sockets exist by then)."""
        if self.as_root:
            os.chmod(self.runtime, 0o555)

    def remove(self):
        os.chmod(self.runtime, 0o700)
        shutil.rmtree(self.runtime, ignore_errors=True)
        if self._lease is not None:
            os.close(self._lease)  # the user id is free again
            self._lease = None


def lease_user_id(preferred):
    """A sandbox user id that no other live sandbox on this machine holds, from ``preferred`` on,
    and the open lock file that holds it until it is closed.

    Two graders at once (two autograde runs, or test suites side by side) must not share an
    id: RLIMIT_NPROC counts every process of a user, so a fork bomb under one id would keep
    another grader's kernel under the same id from starting. An id that still has processes
    (a sandbox that is ending) is passed over too.
    """
    LEASES.mkdir(mode=0o700, exist_ok=True)
    last = FIRST_UID + USER_IDS
    for uid in [*range(preferred, last), *range(FIRST_UID, preferred)]:
        descriptor = os.open(LEASES / str(uid), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(descriptor)
            continue
        if _processes_of(uid) == 0:
            return uid, descriptor
        os.close(descriptor)
    raise RuntimeError(f"every sandbox user id from {FIRST_UID} to {last - 1} is in use")


def _processes_of(uid):
    """How many processes and threads ``uid`` runs now (RLIMIT_NPROC counts them all)."""
    count = 0
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                if entry.stat().st_uid == uid:
                    count += len(os.listdir(f"/proc/{entry.name}/task"))
            except OSError:
                continue
    return count


class SandboxedKernelManager(AsyncKernelManager):
    """A kernel manager whose kernel starts inside ``sandbox`` and talks over Unix sockets."""

    sandbox = Any()

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        # No message from the kernel larger than this reaches the grader's memory.
        self.context.setsockopt(zmq.MAXMSGSIZE, MESSAGE_BYTES)
        self.transport = "ipc"
        self.ip = str(self.sandbox.runtime / "kernel")
        self.connection_file = str(self.sandbox.runtime / "kernel.json")

    def write_connection_file(self, **kwargs):
        super().write_connection_file(**kwargs)
        if self.sandbox.confined and self.sandbox.as_root:
            os.chown(self.connection_file, self.sandbox.uid, self.sandbox.uid)

    async def _async_launch_kernel(self, kernel_cmd, **kw):
        # What the kernel prints outside cells goes nowhere (not into the grader's log).
        kw.update(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        await super()._async_launch_kernel(kernel_cmd, **kw)

    def format_kernel_cmd(self, extra_arguments=None):
        self.kernel_spec.interrupt_mode = "message"  # bubblewrap does not pass signals on to the kernel
        python = str(self.sandbox.environment / "bin" / "python")
        argv = [python, "-I", "-m", "ipykernel_launcher", "-f", self.connection_file, *(extra_arguments or [])]
        return self.sandbox.command(argv)
