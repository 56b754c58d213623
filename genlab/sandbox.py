"""The sandbox a submission's kernel runs in while it is graded.

Autograding runs a student's notebook as code on the instructor's machine. Here that
code runs in a kernel started through bubblewrap (`bwrap`, Debian's `bubblewrap`
package), the tool Flatpak uses to isolate applications:

- no network (a network namespace of its own, with nothing in it);
- a read-only view of the system (`/usr`, a few files of `/etc`) and of the Python
  environment, and nothing else of the machine: no `source/`, no `gradebook.db`, no
  exchange, no home folder, no other student's files;
- writes only in the submission's own grading folder and a private `/tmp`;
- as an unprivileged user (`nobody` when grading as root), with its own process and
  IPC namespaces, in a session of its own (no terminal to type into);
- limits set inside the sandbox: CPU time, memory per process (`RLIMIT_DATA`), number
  of processes and threads, size of any file written, open files; and a watchdog that
  stops the whole kernel when its processes together hold more memory than allowed.

The kernel talks to the grader over Unix sockets in a private folder (ZeroMQ's `ipc`
transport), since it has no network to open TCP ports on. Interrupts go as messages,
because the kernel is not a child the grader can signal directly.

Grading as root, bwrap makes the mounts as root and the kernel then drops to `nobody`
(setpriv) in a user namespace of its own (unshare), so that the process limit counts this
kernel's processes only; grading as anyone else, bwrap runs unprivileged.
"""

from __future__ import annotations

import functools
import os
import shutil
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

from jupyter_client.manager import AsyncKernelManager
from traitlets import Integer, Unicode

__all__ = ["Limits", "SandboxMissing", "SandboxedKernelManager", "bwrap_path"]

INSTALL_HINT = (
    "Grading runs every submission in a sandbox made with bubblewrap, which is not "
    "installed. Install it with `sudo apt-get install bubblewrap` (Debian, Ubuntu), "
    "`sudo dnf install bubblewrap` (Fedora) or your system's package of that name. "
    "Only if every submission comes from someone you trust, you may grade without "
    "it: set c.GradingExecute.run_submissions_unsandboxed = True in nbgrader_config.py."
)

# /etc entries a Python kernel reads; the rest of /etc (shadow, ssh keys, ...) stays hidden.
_ETC = [
    "alternatives",
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "localtime",
    "fonts",
    "passwd",
    "group",
    "nsswitch.conf",
    "mime.types",
    "matplotlibrc",
]
# Environment passed through to the kernel; everything else is cleared.
_KEEP_ENV = [
    "LANG",
    "LC_ALL",
    "TZ",
    "NBGRADER_EXECUTION",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
]
NOBODY = 65534


class SandboxMissing(RuntimeError):
    """bubblewrap is not installed, and grading unsandboxed was not asked for."""


def bwrap_path() -> str | None:
    return shutil.which("bwrap")


@dataclass
class Limits:
    """What one submission's kernel may use. Memory is per kernel, all its processes."""

    memory_mb: int = 2048
    cpu_seconds: int = 900
    processes: int = 256
    file_mb: int = 64
    tmp_mb: int = 256
    open_files: int = 1024


def python_folders() -> list[str]:
    """The folders the kernel's Python needs: the environment, its base, genlab."""
    import genlab

    folders = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    folders.add(str(Path(os.path.realpath(sys.executable)).parent.parent))
    folders.add(str(Path(genlab.__file__).resolve().parent))
    folders |= _installed_genlab()
    for entry in sys.path:  # site-packages outside the prefix (the user's own, say)
        if entry.endswith(("site-packages", "dist-packages")) and not entry.startswith("/usr"):
            folders.add(os.path.realpath(entry))
    # keep the outermost folders only
    ordered = sorted(folders, key=len)
    kept: list[str] = []
    for folder in ordered:
        if not any(folder == k or folder.startswith(k.rstrip("/") + "/") for k in kept):
            kept.append(folder)
    return kept


def _installed_genlab() -> set[str]:
    """Where a kernel outside the course folder finds genlab (an editable install, say)."""
    import importlib.machinery

    path = [p for p in sys.path if p not in ("", os.getcwd())]
    found = set()
    for finder in sys.meta_path:
        try:
            if finder is importlib.machinery.PathFinder:
                spec = finder.find_spec("genlab", path)
            elif hasattr(finder, "find_spec"):
                spec = finder.find_spec("genlab", None)
            else:
                continue
        except (ImportError, TypeError, ValueError):
            continue
        if spec is not None and spec.origin:
            found.add(str(Path(spec.origin).resolve().parent))
    return found


def _ancestors(paths: list[str]) -> list[str]:
    """Every folder above `paths`, outermost first: bwrap would make them mode 0700."""
    seen: list[str] = []
    for path in paths:
        for parent in reversed(Path(path).parents):
            if str(parent) != "/" and str(parent) not in seen and str(parent) not in paths:
                seen.append(str(parent))
    return seen


def sandbox_command(
    kernel: list[str], cwd: str, writable: list[str], limits: Limits, env: dict
) -> list[str]:
    """The command that runs `kernel` in bwrap, in `cwd`, with `writable` folders."""
    bwrap = bwrap_path()
    if bwrap is None:
        raise SandboxMissing(INSTALL_HINT)
    as_root = os.getuid() == 0
    readonly = list(_readonly_view())
    args = [bwrap]
    if as_root:  # privileged bwrap: mounts as root, then the kernel drops to nobody
        args += ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts"]
        args += ["--unshare-cgroup-try"]
    else:
        args += ["--unshare-all"]
    args += ["--die-with-parent", "--new-session", "--proc", "/proc", "--dev", "/dev"]
    for tmp in ("/tmp", "/dev/shm"):
        args += ["--perms", "1777", "--size", str(limits.tmp_mb * 2**20), "--tmpfs", tmp]
    for folder in _ancestors(readonly + writable):
        args += ["--perms", "0755", "--dir", folder]
    for path in readonly:
        args += ["--ro-bind", path, path]
    for path in writable:
        args += ["--bind", path, path]
    for name in ("bin", "lib", "lib64", "sbin", "lib32"):  # merged /usr: links
        link = Path("/") / name
        if link.is_symlink():
            args += ["--symlink", os.readlink(link), str(link)]
    args += ["--chdir", cwd, "--clearenv"]
    for key, value in env.items():
        args += ["--setenv", key, value]
    args.append("--")
    if as_root:
        args += [
            "/usr/bin/setpriv",
            f"--reuid={NOBODY}",
            f"--regid={NOBODY}",
            "--clear-groups",
            "--inh-caps=-all",
            "--bounding-set=-all",
            "--no-new-privs",
            "--",
            # a user namespace of its own, so that the process limit counts this kernel only
            "/usr/bin/unshare",
            "--user",
            "--",
        ]
    args += [
        "/usr/bin/prlimit",
        f"--cpu={limits.cpu_seconds}",
        f"--data={limits.memory_mb * 2**20}",
        f"--nproc={limits.processes}",
        f"--fsize={limits.file_mb * 2**20}",
        f"--nofile={limits.open_files}",
        "--core=0",
        "--",
    ]
    return args + kernel


@functools.cache
def _readonly_view() -> tuple[str, ...]:
    """What every kernel sees read-only; the same for every submission of a grading run."""
    shown = ["/usr"] + [f"/etc/{name}" for name in _ETC] + python_folders()
    return tuple(path for path in shown if os.path.exists(path))


def _hand_over(path: str, uid: int) -> None:
    """Give `path` and everything in it to `uid` (grading as root: the sandbox's user)."""
    for root, dirs, files in os.walk(path):
        for name in [*dirs, *files]:
            os.lchown(os.path.join(root, name), uid, uid)
    os.chown(path, uid, uid)


class SandboxedKernelManager(AsyncKernelManager):
    """An ipykernel in bubblewrap; see the module's docstring.

    `private` is a folder of the grader's, for the connection file and the sockets;
    the kernel runs in the `cwd` given to `start_kernel` (the submission's folder).
    """

    private = Unicode(help="A private folder for the connection file and sockets.").tag(config=True)
    memory_mb = Integer(Limits.memory_mb, help="Memory of the kernel, MB (all processes).").tag(
        config=True
    )
    cpu_seconds = Integer(Limits.cpu_seconds, help="CPU time of any one process, seconds.").tag(
        config=True
    )
    processes = Integer(Limits.processes, help="Processes and threads in the sandbox.").tag(
        config=True
    )
    file_mb = Integer(Limits.file_mb, help="Size of any file the kernel writes, MB.").tag(
        config=True
    )

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.transport = "ipc"
        self.death_reason: str | None = None
        self._workdir: str | None = None
        self._watchdog: threading.Thread | None = None

    @property
    def limits(self) -> Limits:
        return Limits(
            memory_mb=self.memory_mb,
            cpu_seconds=self.cpu_seconds,
            processes=self.processes,
            file_mb=self.file_mb,
        )

    async def start_kernel(self, **kw):
        private = Path(self.private)
        (private / "home").mkdir(parents=True, exist_ok=True)
        self.ip = str(private / "kernel")
        self.connection_file = str(private / "kernel.json")
        cwd = os.path.abspath(kw.pop("cwd", None) or os.getcwd())
        self._workdir = cwd
        if os.getuid() == 0:
            _hand_over(cwd, NOBODY)
            _hand_over(str(private), NOBODY)
        env = {key: os.environ[key] for key in _KEEP_ENV if key in os.environ}
        env.update(
            PATH=f"{Path(sys.executable).parent}:/usr/bin:/bin",
            HOME=str(private / "home"),
            TMPDIR="/tmp",
            MPLCONFIGDIR="/tmp",
            IPYTHONDIR="/tmp/ipython",
            PYTHONDONTWRITEBYTECODE="1",
        )
        self._command = sandbox_command(
            [sys.executable, "-m", "ipykernel_launcher", "-f", self.connection_file],
            cwd,
            [cwd, str(private)],
            self.limits,
            env,
        )
        log = open(private / "kernel.log", "ab")  # the kernel's own stdout and stderr
        kw.update(stdout=log, stderr=log, cwd=str(private))
        self.death_reason = None
        await super().start_kernel(**kw)
        log.close()
        self._watchdog = threading.Thread(target=self._watch, daemon=True)
        self._watchdog.start()

    def write_connection_file(self, **kwargs):
        super().write_connection_file(**kwargs)
        if os.getuid() == 0:  # the kernel, as nobody, reads it
            os.chown(self.connection_file, NOBODY, NOBODY)

    def format_kernel_cmd(self, extra_arguments=None):
        return [*self._command, *(extra_arguments or [])]

    async def interrupt_kernel(self):
        # The kernel is a grandchild in its own session: ask it by message.
        msg = self.session.msg("interrupt_request", content={})
        self._connect_control_socket()
        self.session.send(self._control_socket, msg)

    def _watch(self) -> None:
        """Stop the kernel when its processes together hold more than the memory limit."""
        import time

        import psutil

        provisioner = self.provisioner
        process = getattr(provisioner, "process", None)
        if process is None:
            return
        try:
            root = psutil.Process(process.pid)
        except psutil.Error:
            return
        limit = self.memory_mb * 2**20
        while True:
            time.sleep(0.25)
            try:
                tree = [root, *root.children(recursive=True)]
                used = sum(p.memory_info().rss for p in tree)
                if len(tree) > self.processes + 8:
                    self.death_reason = f"it started more than {self.processes} processes"
                elif used > limit:
                    self.death_reason = f"it used more than {self.memory_mb} MB of memory"
                else:
                    continue
                for p in reversed(tree):
                    p.kill()
                return
            except psutil.Error:
                return

    async def _async_cleanup_resources(self, restart: bool = False) -> None:
        await super()._async_cleanup_resources(restart=restart)
        if os.getuid() == 0 and self._workdir and os.path.isdir(self._workdir):
            _hand_over(self._workdir, 0)  # back to the grader

    cleanup_resources = _async_cleanup_resources
