"""The sandbox a kernel runs in while a submission is graded: the student's, and the judge's.

Autograding runs a student's notebook as code on the instructor's machine. Here that
code runs in a kernel started through bubblewrap (`bwrap`, Debian's `bubblewrap`
package), the tool Flatpak uses to isolate applications:

- no network (a network namespace of its own, with nothing in it);
- a read-only view of the system (`/usr`, a few files of `/etc`) and of the Python
  environment, and nothing else of the machine: no `source/`, no `gradebook.db`, no
  exchange, no home folder, no other student's files;
- writes only in the folders it is given (the submission's own grading folder, its
  private folder) and a private, size-capped `/tmp`;
- as an unprivileged user (`nobody` when grading as root), with its own process and
  IPC namespaces, in a session of its own (no terminal to type into);
- limits set inside the sandbox: CPU time, memory per process (`RLIMIT_DATA`), number
  of processes and threads, size of any file written, open files;
- all its processes in a memory cgroup of their own where the machine lets the grader
  make one (root, cgroup v1 or v2 with the memory controller): the kernel counts
  everything there, socket buffers, pipes and `/tmp` included, and stops the sandbox at
  the limit. Elsewhere a watchdog adds up the processes' resident memory, which misses
  what the kernel holds for them.

The kernel's Python starts isolated (`-I`): nothing in the folder it runs in is imported
before its sockets are bound. The grader then opens each of those sockets by its inode
(`O_PATH | O_NOFOLLOW`, refusing anything but a socket) and connects through that file
descriptor from the first connection on, so a link the kernel's code puts in their place
later is never followed. When the kernel stops, every process of the sandbox is gone before anything
else happens (the cgroup is emptied, or the sandbox's first process is waited for, which
the kernel makes outlive all others of its namespace). Then the folders it could write are
given back to the grader (owner and mode) and swept: anything that is not a regular file
or a folder (a link, a FIFO, a socket) is removed and reported in `swept`.

The sandbox plugs into jupyter_client through its public extension points: a kernel
provisioner (`SandboxProvisioner`, registered in pyproject.toml's entry points as
`genlab-sandbox`) launches the kernel, pins its sockets and cleans up after it, and the
kernel spec that `SandboxedKernelManager` gives its kernels names that provisioner and asks
for interrupts by message (the kernel is a grandchild of the process the provisioner starts,
so a signal would not reach it). The manager holds the settings (folders, limits).

Grading as root, bwrap makes the mounts as root and the kernel then drops to `nobody`
(setpriv) in a user namespace of its own (unshare), so that the process limit counts this
kernel's processes only; grading as anyone else, bwrap runs unprivileged.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import signal
import stat
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from jupyter_client.kernelspec import KernelSpec
from jupyter_client.manager import AsyncKernelManager
from jupyter_client.provisioning import LocalProvisioner
from traitlets import Integer, List, Unicode

__all__ = [
    "Limits",
    "MemoryCgroup",
    "SandboxMissing",
    "SandboxedKernelManager",
    "SandboxProvisioner",
    "PROVISIONER",
    "bwrap_path",
    "lock_and_sweep",
]

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
# The provisioner's name among jupyter_client's kernel provisioners (pyproject.toml).
PROVISIONER = "genlab-sandbox"


class SandboxMissing(RuntimeError):
    """bubblewrap is not installed, and grading unsandboxed was not asked for."""


def bwrap_path() -> str | None:
    return shutil.which("bwrap")


@dataclass
class Limits:
    """What one kernel may use. Memory is per kernel, all its processes."""

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
    kernel: list[str],
    cwd: str,
    writable: list[str],
    limits: Limits,
    env: dict,
    readonly: list[str] = (),
) -> list[str]:
    """The command that runs `kernel` in bwrap, in `cwd`, with `writable` folders and the
    `readonly` ones besides the system's."""
    bwrap = bwrap_path()
    if bwrap is None:
        raise SandboxMissing(INSTALL_HINT)
    as_root = os.getuid() == 0
    shown = list(_readonly_view()) + list(readonly)
    args = [bwrap]
    if as_root:  # privileged bwrap: mounts as root, then the kernel drops to nobody
        args += ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts"]
        args += ["--unshare-cgroup-try"]
    else:
        args += ["--unshare-all"]
    args += ["--die-with-parent", "--new-session", "--proc", "/proc", "--dev", "/dev"]
    for tmp in ("/tmp", "/dev/shm"):
        args += ["--perms", "1777", "--size", str(limits.tmp_mb * 2**20), "--tmpfs", tmp]
    for folder in _ancestors(shown + writable):
        args += ["--perms", "0755", "--dir", folder]
    for path in shown:
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


# ---------------------------------------------------------------------------
# After the sandbox: the folders it wrote


_KINDS = {
    stat.S_IFLNK: "a symbolic link",
    stat.S_IFIFO: "a FIFO",
    stat.S_IFSOCK: "a socket",
    stat.S_IFCHR: "a device",
    stat.S_IFBLK: "a device",
}


def lock_and_sweep(folder: str) -> list[str]:
    """Give `folder` back to the grader and remove what is not a file or a folder in it.

    Call it only when no process can write there any more (the sandbox is gone). Owner
    (when the grader is root) and mode come back to the grader's: folders 0755, files
    0644, top down, never through a link. Returns what was removed, as "<path> (<kind>)",
    paths relative to `folder`; `folder` itself must be a real folder, not a link.
    """
    uid, gid = os.getuid(), os.getgid()
    removed: list[str] = []
    top = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        if os.fstat(top).st_uid != uid:
            os.fchown(top, uid, gid)
        os.fchmod(top, 0o755)
        walk = os.fwalk(".", dir_fd=top, follow_symlinks=False)
        for dirpath, dirnames, filenames, dirfd in walk:
            for name in [*dirnames, *filenames]:
                mode = os.stat(name, dir_fd=dirfd, follow_symlinks=False).st_mode
                if stat.S_ISDIR(mode) or stat.S_ISREG(mode):
                    if uid == 0:
                        os.chown(name, uid, gid, dir_fd=dirfd, follow_symlinks=False)
                    # (a folder or a file, as just seen, and nothing left to swap it)
                    os.chmod(name, 0o755 if stat.S_ISDIR(mode) else 0o644, dir_fd=dirfd)
                else:
                    os.unlink(name, dir_fd=dirfd)
                    kind = _KINDS.get(stat.S_IFMT(mode), "a special file")
                    removed.append(f"{os.path.normpath(os.path.join(dirpath, name))} ({kind})")
    finally:
        os.close(top)
    return removed


# ---------------------------------------------------------------------------
# Memory: a cgroup of the sandbox's own


class MemoryCgroup:
    """A memory cgroup that holds every process of one sandbox (cgroup v2 or v1).

    `create` returns None where the grader may not make one (not root, no memory
    controller): the caller falls back to the watchdog.
    """

    def __init__(self, path: Path, version: int):
        self.path, self.version = path, version

    @classmethod
    def create(cls, memory_mb: int) -> MemoryCgroup | None:
        base = _cgroup_base()
        if base is None:
            return None
        path, version = base[0] / f"genlab-{os.getpid()}-{uuid.uuid4().hex[:8]}", base[1]
        try:
            path.mkdir()
            limit = str(memory_mb * 2**20)
            if version == 2:
                (path / "memory.max").write_text(limit)
                with contextlib.suppress(OSError):
                    (path / "memory.swap.max").write_text("0")
            else:
                (path / "memory.limit_in_bytes").write_text(limit)
                with contextlib.suppress(OSError):  # only with swap accounting
                    (path / "memory.memsw.limit_in_bytes").write_text(limit)
        except OSError:
            with contextlib.suppress(OSError):
                path.rmdir()
            return None
        return cls(path, version)

    def join_command(self) -> list[str]:
        """A prefix that puts the command it runs (and all it starts) into this cgroup."""
        return ["/bin/sh", "-c", 'echo $$ > "$0" && exec "$@"', str(self.path / "cgroup.procs")]

    def pids(self) -> list[int]:
        try:
            return [int(p) for p in (self.path / "cgroup.procs").read_text().split()]
        except OSError:
            return []

    def out_of_memory(self) -> bool:
        """Whether the kernel killed a process here for passing the limit."""
        name = "memory.events" if self.version == 2 else "memory.oom_control"
        with contextlib.suppress(OSError, ValueError):
            for line in (self.path / name).read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill" and int(value) > 0:
                    return True
        return False

    def peak_mb(self) -> float | None:
        name = "memory.peak" if self.version == 2 else "memory.max_usage_in_bytes"
        with contextlib.suppress(OSError, ValueError):
            return int((self.path / name).read_text()) / 2**20
        return None

    def usage_mb(self) -> float | None:
        name = "memory.current" if self.version == 2 else "memory.usage_in_bytes"
        with contextlib.suppress(OSError, ValueError):
            return int((self.path / name).read_text()) / 2**20
        return None

    def reset_peak(self) -> None:
        """Start counting the peak again from now: cgroup v1 only (v2's `memory.peak` resets
        only for the reader that wrote it), so on v2 it is the peak since the cgroup began."""
        if self.version == 1:
            with contextlib.suppress(OSError):
                (self.path / "memory.max_usage_in_bytes").write_text("0")

    def empty(self, timeout: float = 10.0) -> bool:
        """Kill every process here and wait until none is left."""
        if self.version == 2:
            with contextlib.suppress(OSError):
                (self.path / "cgroup.kill").write_text("1")
        deadline = time.monotonic() + timeout
        while True:
            pids = self.pids()
            if not pids:
                return True
            if time.monotonic() > deadline:
                return False
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.02)

    def remove(self) -> None:
        for _ in range(50):
            try:
                self.path.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError:
                time.sleep(0.02)


@functools.cache
def _cgroup_base() -> tuple[Path, int] | None:
    """Where this process may make memory cgroups, and the version (None: nowhere)."""
    if os.getuid() != 0:
        return None
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    root = Path("/sys/fs/cgroup")
    controllers = root / "cgroup.controllers"
    if controllers.exists() and "memory" in controllers.read_text().split():
        # cgroup v2: children of the root may hold processes and enable controllers
        base = root / "genlab-grading"
        try:
            base.mkdir(exist_ok=True)
            (base / "cgroup.subtree_control").write_text("+memory")
        except OSError:
            return None
        return base, 2
    for line in lines:  # cgroup v1: "<id>:memory:/path"
        _, controllers_, path = line.split(":", 2)
        if "memory" in controllers_.split(",") and (root / "memory").is_dir():
            base = root / "memory" / path.lstrip("/")
            if os.access(base, os.W_OK):
                return base, 1
    return None


def memory_accounting() -> str:
    """How a sandbox's memory is limited on this machine, in words (for docs and logs)."""
    base = _cgroup_base()
    if base is None:
        return "a watchdog adds up the resident memory of the sandbox's processes"
    return f"a memory cgroup (v{base[1]}) counts all the sandbox's memory"


# ---------------------------------------------------------------------------
# The kernel manager


# How long an interrupt may wait for the kernel to say it has acted on it.
INTERRUPT_REPLY_SECONDS = 10.0


class SandboxedKernelManager(AsyncKernelManager):
    """An ipykernel in bubblewrap; see the module's docstring.

    `private` is a folder of the grader's, for the connection file and the sockets; the
    kernel runs in the `cwd` given to `start_kernel`, which it may write, as it may the
    folders in `writable`; it sees the folders in `readonly` besides the system's.
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
    readonly = List(Unicode(), help="More folders the kernel sees, read-only.")
    writable = List(Unicode(), help="More folders the kernel may write.")

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.transport = "ipc"
        self.swept: list[str] = []
        self.peak_mb: float | None = None  # all its processes together, where a cgroup counts
        self.cgroup: MemoryCgroup | None = None
        self._death_reason: str | None = None
        self._workdir: str | None = None
        self._first: tuple[int, float] | None = None  # pid, start time of the sandbox's first
        self._pins: list[int] = []
        self._pin_folder: str | None = None
        self._watchdog: threading.Thread | None = None
        self._stopped = True  # (until a kernel starts)
        self._sandbox_spec: KernelSpec | None = None
        self.interrupt_unanswered = False  # the last interrupt got no reply: replace the kernel

    @property
    def kernel_spec(self) -> KernelSpec:
        """The kernel's spec, launched by the sandbox's provisioner and interrupted by message."""
        if self._sandbox_spec is None:
            spec = super().kernel_spec
            fields = spec.to_dict()
            fields["interrupt_mode"] = "message"
            fields["metadata"] = dict(
                fields.get("metadata") or {}, kernel_provisioner={"provisioner_name": PROVISIONER}
            )
            self._sandbox_spec = KernelSpec(
                resource_dir=spec.resource_dir, name=spec.name, **fields
            )
        return self._sandbox_spec

    @property
    def limits(self) -> Limits:
        return Limits(
            memory_mb=self.memory_mb,
            cpu_seconds=self.cpu_seconds,
            processes=self.processes,
            file_mb=self.file_mb,
        )

    def output(self, chars: int = 2000) -> str:
        """The end of what the kernel wrote to its stdout and stderr (the submission's code
        may write there too: read it as text, never as anything else)."""
        log = Path(self.private).parent / f"{Path(self.private).name}.log"
        try:
            with open(log, "rb") as file:
                file.seek(max(0, log.stat().st_size - chars))
                return file.read().decode(errors="replace")
        except OSError:
            return ""

    @property
    def death_reason(self) -> str | None:
        if self._death_reason is None and self.cgroup is not None and self.cgroup.out_of_memory():
            self._death_reason = f"it used more than {self.memory_mb} MB of memory"
        return self._death_reason

    async def start_kernel(self, **kw):
        private = Path(self.private)
        private.mkdir(parents=True, exist_ok=True)
        self.ip = str(private / "kernel")
        self.connection_file = str(private / "kernel.json")
        cwd = os.path.abspath(kw.pop("cwd", None) or os.getcwd())
        self._workdir = cwd
        writable = [cwd, str(private), *self.writable]
        if os.getuid() == 0:
            for folder in writable:
                _hand_over(folder, NOBODY)
        env = {key: os.environ[key] for key in _KEEP_ENV if key in os.environ}
        env.update(
            PATH=f"{Path(sys.executable).parent}:/usr/bin:/bin",
            HOME="/tmp",
            TMPDIR="/tmp",
            MPLCONFIGDIR="/tmp",
            IPYTHONDIR="/tmp/ipython",
        )
        # -I: nothing of the folder it runs in is imported before its sockets are bound
        kernel = [sys.executable, "-I", "-B", "-m", "ipykernel_launcher", "-f"]
        self._command = sandbox_command(
            [*kernel, self.connection_file],
            cwd,
            writable,
            self.limits,
            env,
            readonly=list(self.readonly),
        )
        self.cgroup = MemoryCgroup.create(self.memory_mb)
        if self.cgroup is not None:
            self._command = [*self.cgroup.join_command(), *self._command]
        log = open(private.parent / f"{private.name}.log", "ab")  # the kernel's own output
        kw.update(stdout=log, stderr=log, cwd=str(private))
        self._death_reason = None
        self._stopped = False
        try:
            await super().start_kernel(**kw)  # SandboxProvisioner launches and pins it
        finally:
            log.close()
        if self.cgroup is None:
            self._watchdog = threading.Thread(target=self._watch, daemon=True)
            self._watchdog.start()

    async def interrupt_kernel(self) -> None:
        """Interrupt the kernel, and return only once it has acted on it.

        jupyter_client sends a message-mode interrupt and returns at once; the kernel's
        control thread may take it up much later on a loaded machine, after the cell it
        was meant for has finished and the next has begun, which it then breaks with a
        KeyboardInterrupt. ipykernel sends itself SIGINT before it replies, and ignores
        SIGINT between cells, so once the reply is here no interrupt is left in flight.
        """
        self.interrupt_unanswered = False
        if self.kernel_spec.interrupt_mode != "message" or not self.has_kernel:
            await super().interrupt_kernel()
            return
        control = self.connect_control()
        try:
            request = self.session.msg("interrupt_request", content={})
            self.session.send(control, request)
            deadline = time.monotonic() + INTERRUPT_REPLY_SECONDS
            while (left := deadline - time.monotonic()) > 0:
                if not await control.poll(timeout=1000 * min(left, 0.5)):
                    if not await self.is_alive():
                        return
                    continue
                try:  # the kernel runs the submission's code: what it sends may be anything
                    _, frames = self.session.feed_identities(await control.recv_multipart())
                    reply = self.session.deserialize(frames)
                    answered = reply["parent_header"].get("msg_id") == request["header"]["msg_id"]
                except (ValueError, KeyError, TypeError, AttributeError):
                    continue
                if answered:
                    return
            # it may still act on it, in any later cell: callers replace such a kernel
            self.interrupt_unanswered = True
        finally:
            control.close(linger=0)

    def write_connection_file(self, **kwargs):
        super().write_connection_file(**kwargs)
        if os.getuid() == 0 and self._pin_folder is None:  # the kernel, as nobody, reads it
            os.chown(self.connection_file, NOBODY, NOBODY)

    def format_kernel_cmd(self, extra_arguments=None):
        return [*self._command, *(extra_arguments or [])]

    def _pin_sockets(self, timeout: float = 60.0) -> None:
        """Hold each of the kernel's sockets by its inode, and connect through that from now on.

        The kernel binds them before any code of the folder it runs in can run; what is
        at those paths later (a link to another socket, say) is never followed. Called by
        the provisioner as soon as the kernel is launched, before jupyter_client connects
        to any of them.
        """
        import psutil

        process = getattr(self.provisioner, "process", None)
        deadline = time.monotonic() + timeout
        pins = {}
        while len(pins) < len(self.ports):
            for port in self.ports:
                if port in pins:
                    continue
                try:
                    fd = os.open(f"{self.ip}-{port}", os.O_PATH | os.O_NOFOLLOW)
                except FileNotFoundError:
                    continue
                pins[port] = fd
                if not stat.S_ISSOCK(os.fstat(fd).st_mode):
                    self._pins = list(pins.values())
                    raise RuntimeError(f"the kernel's socket {self.ip}-{port} is not a socket")
            if len(pins) < len(self.ports):
                if time.monotonic() > deadline or (process and process.poll() is not None):
                    self._pins = list(pins.values())
                    raise RuntimeError("the kernel stopped before its sockets were ready")
                time.sleep(0.01)
        self._pins = list(pins.values())
        self._pin_folder = tempfile.mkdtemp(prefix="pins-", dir=str(Path(self.private).parent))
        for port, fd in pins.items():
            os.symlink(f"/proc/{os.getpid()}/fd/{fd}", os.path.join(self._pin_folder, f"k-{port}"))
        self.ip = os.path.join(self._pin_folder, "k")
        # jupyter_client then removes and writes again a connection file that names another
        # address; the kernel reads its own file as it starts (ipykernel merges into it once
        # its sockets are bound), so the grader's copy is written elsewhere, never over it
        self.connection_file = os.path.join(self._pin_folder, "kernel.json")
        with contextlib.suppress(psutil.Error, IndexError, AttributeError):
            first = psutil.Process(process.pid).children()[0]  # bwrap's child: pid 1 inside
            self._first = (first.pid, first.create_time())

    def _processes(self) -> list:
        import psutil

        process = getattr(self.provisioner, "process", None)
        try:
            root = psutil.Process(process.pid)
            return [root, *root.children(recursive=True)]
        except (psutil.Error, AttributeError):
            return []

    def usage(self) -> tuple[float, float]:
        """(memory in MB, CPU seconds of its busiest process) the kernel uses now: what
        decides whether a judge is kept for the next student."""
        import psutil

        tree = self._processes()
        memory = self.cgroup.usage_mb() if self.cgroup is not None else None
        cpu = 0.0
        with contextlib.suppress(psutil.Error):
            if memory is None:
                memory = sum(p.memory_info().rss for p in tree) / 2**20
            cpu = max((sum(p.cpu_times()[:2]) for p in tree), default=0.0)
        return memory or 0.0, cpu

    def _watch(self) -> None:
        """Without a cgroup: stop the kernel when its processes together hold too much memory."""
        import psutil

        process = getattr(self.provisioner, "process", None)
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
                    self._death_reason = f"it started more than {self.processes} processes"
                elif used > limit:
                    self._death_reason = f"it used more than {self.memory_mb} MB of memory"
                else:
                    continue
                for p in reversed(tree):
                    p.kill()
                return
            except psutil.Error:
                return

    def _stop_everything(self) -> None:
        """Make sure no process of the sandbox is left, then lock and sweep what it wrote."""
        import psutil

        if self._stopped:
            return
        self._stopped = True

        if self.cgroup is not None:
            self.peak_mb = self.cgroup.peak_mb()
            if not self.cgroup.empty():
                raise RuntimeError(f"the sandbox's processes in {self.cgroup.path} did not stop")
        if self._first is not None:
            with contextlib.suppress(psutil.Error):
                first = psutil.Process(self._first[0])
                if first.create_time() == self._first[1]:
                    first.kill()  # the kernel then kills every process of its namespace
                    _gone(first, timeout=10)
        for fd in self._pins:
            os.close(fd)
        self._pins = []
        if self._pin_folder:
            shutil.rmtree(self._pin_folder, ignore_errors=True)
        for folder in [self._workdir, *self.writable]:
            if folder and os.path.isdir(folder):
                self.swept += lock_and_sweep(folder)
        if self.cgroup is not None:
            self.cgroup.remove()


class SandboxProvisioner(LocalProvisioner):
    """jupyter_client's local provisioner, for a kernel in the sandbox.

    Its parent, a `SandboxedKernelManager`, has built the sandboxed command
    (`format_kernel_cmd`). Launching, this pins the kernel's sockets before anything
    connects to them and hands jupyter_client the pinned address; cleaning up, it makes
    sure every process of the sandbox is gone, then locks and sweeps what it could write.
    """

    async def launch_kernel(self, cmd: list[str], **kwargs) -> dict:
        info = await super().launch_kernel(cmd, **kwargs)
        manager = self.parent
        if not isinstance(manager, SandboxedKernelManager):
            raise RuntimeError("the sandbox's provisioner runs kernels of SandboxedKernelManager")
        manager._pin_sockets()
        # jupyter_client writes the connection file again with the pinned address; the kernel
        # read it before binding its sockets, and none of the submission's code has run yet
        self.connection_info = dict(info, ip=manager.ip)
        return self.connection_info

    async def cleanup(self, restart: bool = False) -> None:
        await super().cleanup(restart=restart)
        manager = self.parent
        if isinstance(manager, SandboxedKernelManager):
            manager._stop_everything()


def _gone(process, timeout: float) -> None:
    """Wait until `process`, the first process of a sandbox's namespace, has exited."""
    import psutil

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            # pid 1 of a namespace becomes a zombie only once every other process of the
            # namespace has been killed and reaped (the kernel's zap_pid_ns_processes)
            if process.status() == psutil.STATUS_ZOMBIE:
                return
        except psutil.NoSuchProcess:
            return
        time.sleep(0.01)
    raise RuntimeError(f"the sandbox's first process ({process.pid}) did not stop")
