"""The class board under a room of students, at the websocket level (issue 25).

``python -m bench.board_load --students 30 --seconds 60 --database sqlite|postgres|URL`` (``python -m bench
board_load`` runs the defaults on SQLite, then on PostgreSQL where it is installed).

One ``streamlit run app.py`` on loopback with GENLAB_DATABASE_URL at a fresh SQLite file, or at a throwaway
PostgreSQL 15 cluster started here (initdb as the postgres user, trust auth, a free port; stopped at the end).
A class is opened through ``classroom.Board``. A lecturer's session opens the board first (the process's first
visit: imports, caches), then N students join over ``--ramp`` seconds: each is a websocket session
(bench/stclient.py, no browser) on ``class_board?class=CODE`` that stays connected; its fragment timer
(``run_every``) polls as a browser's does. Phases, each measured on its own:

- join: a session has joined when its first script run finished with the class title drawn and no exception
  (join time = request to that run's end);
- idle (``--idle`` s): everyone connected, nobody posts: the server's CPU per poll of an unchanged board;
- posting (``--seconds``): each student posts a run at random (exponential) intervals, mean ``--post-every`` s,
  under a name of its own. Posts go through ``Board.post`` from THIS process: the server's share of a post is
  its database write (its page code is not involved), so the server sees the posts only as a changed board.
  Refresh latency = from a post's commit (``Board.post`` returned) to the moment EACH connected session received
  a message holding that author's name (every session watches every post); then ``--drain`` s for the last ones.

Also: the health endpoint's latency, polled every 0.25 s from a process of its own (this process's event loop
and GIL would delay it); the server's RSS at the end; the server's and the database's CPU seconds
(/proc/<pid>/stat, utime + stime; PostgreSQL: the postmaster, its live backends and its reaped ones), from which
the per-session cost of a poll and of a board redraw, and a paper estimate of what bigger servers hold.
Writes JSON to test-artifacts/board-load-<database>.json (or --json PATH). ``--prefill 400`` starts from a board
late in a class (redraws cost more); ``--cold --ramp 0`` has the students be a fresh server's first visitors.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import math
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

BENCH = "board_load"
PG_BIN = Path("/usr/lib/postgresql/15/bin")
ROOT = Path(__file__).resolve().parent.parent
CLK_TCK = os.sysconf("SC_CLK_TCK")
CORE_BUDGET = 0.7  # the share of a core a server process may spend on script runs and stay responsive
PAGE = "class_board"


@dataclass
class Config:
    students: int = 30  # simulated students: one websocket session each, all on the board
    seconds: float = 60.0  # the posting phase
    database: str = "sqlite"  # "sqlite" (a fresh file), "postgres" (a throwaway cluster) or a SQLAlchemy URL
    ramp: float = 10.0  # students join spread over this many seconds (0: all at once)
    idle: float = 15.0  # all connected, nobody posts: polling alone
    post_every: float = 20.0  # mean seconds between one student's posts (exponential intervals)
    drain: float = 8.0  # after the posting phase, how long the last posts may take to reach every session
    join_timeout: float = 90.0  # seconds a session may take to join
    prefill: int = 0  # runs on the board before anyone joins (a board late in a class: redraws cost more)
    cold: bool = False  # students arrive at a fresh server (no lecturer's visit first, no settling)
    json: str | None = None  # where the JSON goes (default test-artifacts/board-load-<database>.json)


# --- processes: CPU, memory, the health probe, PostgreSQL ----------------------------------------------------


def _stat(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def cpu_seconds(pid: int, children: bool = False) -> float:
    """utime + stime of a process (all its threads), with its reaped children's when ``children``."""
    try:
        f = _stat(pid)
    except OSError:
        return float("nan")
    ticks = int(f[11]) + int(f[12]) + ((int(f[13]) + int(f[14])) if children else 0)
    return ticks / CLK_TCK


def tree_cpu_seconds(root: int) -> float:
    """CPU of a process, its reaped children and its live children (PostgreSQL's postmaster and backends)."""
    total = cpu_seconds(root, children=True)
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if int(_stat(int(proc.name))[1]) == root:
                total += cpu_seconds(int(proc.name))
        except (OSError, ValueError, IndexError):
            pass
    return total


PROBE = """
import sys, time, urllib.request
url, out = sys.argv[1], sys.argv[2]
with open(out, "w", buffering=1) as f:
    while True:
        start = time.time()
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                ok = r.read().strip() == b"ok"
            f.write(f"{start} {time.time() - start} {'ok' if ok else 'not-ok'}\\n")
        except OSError as e:
            f.write(f"{start} {time.time() - start} {type(e).__name__}\\n")
        time.sleep(0.25)
"""


@contextmanager
def health_probe(url: str, out: Path):
    """/_stcore/health polled every 0.25 s from a child process; yields a function reading (start, s, status)."""
    proc = subprocess.Popen([sys.executable, "-c", PROBE, f"{url}/_stcore/health", str(out)])

    def polls() -> list[tuple[float, float, str]]:
        rows = [line.split() for line in out.read_text().splitlines() if line.count(" ") == 2]
        return [(float(t), float(s), status) for t, s, status in rows]

    try:
        yield polls
    finally:
        proc.terminate()
        proc.wait(5)


@contextmanager
def postgres():
    """A throwaway PostgreSQL 15 cluster on a free loopback port (trust auth); yields (url, postmaster pid)."""
    from tests.browser import free_port

    if not (PG_BIN / "initdb").exists():
        raise RuntimeError(f"no PostgreSQL at {PG_BIN} (Debian: apt-get install postgresql-15)")
    root = Path(tempfile.mkdtemp(prefix="genlab-pg-"))
    as_pg = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []  # initdb refuses to run as root
    if as_pg:
        shutil.chown(root, "postgres", "postgres")
    data, port = root / "data", free_port()
    pg_ctl = [*as_pg, str(PG_BIN / "pg_ctl"), "-D", str(data)]
    try:
        subprocess.run([*as_pg, str(PG_BIN / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres",
                        "-E", "UTF8"], check=True, capture_output=True)
        subprocess.run([*pg_ctl, "-l", str(root / "log"), "-w", "-o",
                        f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c max_connections=200", "start"],
                       check=True, capture_output=True)
        subprocess.run([*as_pg, str(PG_BIN / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres",
                        "genlab"], check=True, capture_output=True)
        postmaster = int((data / "postmaster.pid").read_text().split()[0])
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/genlab", postmaster
    finally:
        subprocess.run([*pg_ctl, "-m", "fast", "stop"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def database(choice: str):
    """(url, pid of the database's server or None, label) for ``--database``."""
    if choice == "sqlite":
        with tempfile.TemporaryDirectory(prefix="genlab-board-") as d:
            yield f"sqlite:///{d}/board.sqlite", None, "sqlite"
    elif choice == "postgres":
        with postgres() as (url, pid):
            yield url, pid, "postgres"
    else:
        yield choice, None, choice.split(":", 1)[0].split("+", 1)[0]


# --- figures ---------------------------------------------------------------------------------------------------


def pct(values: list[float], q: float) -> float:
    """The q-th percentile (linear interpolation), NaN for no values."""
    if not values:
        return float("nan")
    v = sorted(values)
    k = (len(v) - 1) * q / 100
    lo, hi = math.floor(k), math.ceil(k)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


def _fmt(x: float, unit: str = "s", digits: int = 2) -> str:
    return "n/a" if x != x else f"{x:.{digits}f} {unit}".rstrip()


@dataclass
class Snapshot:
    t: float
    server_cpu: float
    db_cpu: float
    client_cpu: float
    polls: int  # fragment runs finished, over all sessions (cut short by st.rerun() included)
    redraws: int  # full script runs finished, over all sessions
    received_mb: float


def snapshot(server_pid: int, db_pid: int | None, sessions) -> Snapshot:
    t = os.times()
    return Snapshot(
        t=time.time(), server_cpu=cpu_seconds(server_pid),
        db_cpu=tree_cpu_seconds(db_pid) if db_pid else 0.0, client_cpu=t.user + t.system,
        polls=sum(s.fragment_runs + s.early_reruns for s in sessions), redraws=sum(s.full_runs for s in sessions),
        received_mb=sum(s.received_bytes for s in sessions) / 1e6,
    )


def delta(a: Snapshot, b: Snapshot) -> dict:
    return {k: getattr(b, k) - getattr(a, k) for k in asdict(a)}


# --- the class ---------------------------------------------------------------------------------------------------


async def _join(session, code: str, title: str, timeout: float) -> float | None:
    """Seconds until the session's first run finished with the board drawn; None when it did not join."""
    try:
        await session.open(PAGE, f"class={code}")
        seconds = await session.wait_finished(timeout)
    except (OSError, TimeoutError, ConnectionError):
        return None
    ok = session.last_status == 0 and not session.exceptions() and title in session.text()
    return seconds if ok else None


async def _settle(pid: int, quiet_s: int = 3, timeout: float = 60.0) -> float:
    """Wait until the server's CPU stays under 5 % of a core for ``quiet_s`` seconds in a row (its background
    work after a first visit done: app.py imports torch a second later), so that none of it is counted as the
    students'; returns the seconds waited."""
    start, quiet = time.time(), 0
    before = cpu_seconds(pid)
    while time.time() - start < timeout and quiet < quiet_s:
        await asyncio.sleep(1.0)
        now = cpu_seconds(pid)
        quiet = quiet + 1 if now - before < 0.05 else 0
        before = now
    return time.time() - start


async def _student(i: int, cfg: Config, board, code: str, watchers, pool, end: float, out: dict) -> None:
    """Post runs at random intervals until ``end``; every session watches for each new author name."""
    from classroom import MAX_POSTS_PER_SESSION, BoardError

    loop = asyncio.get_running_loop()
    rng = random.Random(i)
    for k in range(MAX_POSTS_PER_SESSION):
        wait = rng.expovariate(1 / cfg.post_every)
        if time.time() + wait >= end:
            return  # its next post would fall after the phase: the phase ends on time
        await asyncio.sleep(wait)
        author = f"student-{i:03d}-{k:02d}-{rng.getrandbits(24):06x}"  # unique, and no prefix of another
        for s in watchers:
            s.watch(author)
        beta = round(rng.uniform(0.1, 4.0), 2)
        recon, kl = rng.uniform(20, 40), rng.uniform(1, 10)
        post = functools.partial(
            board.post, code, author=author, session=f"load-{i}", page="ELBO & β",
            settings={"beta": beta, "latent_dim": rng.choice([2, 4, 8])}, seed=i,
            metrics={"elbo": -(recon + kl), "recon": recon, "kl": kl, "active_units": rng.randint(1, 8),
                     "mutual_information": rng.uniform(0, 3), "steps": 1000})
        start = time.time()
        try:
            await loop.run_in_executor(pool, post)
        except BoardError as e:
            out["refused"].append(str(e))
            return
        except Exception as e:  # the database failed the write: counted, and this student goes on
            out["failed"].append(f"{type(e).__name__}: {str(e)[:200]}")
            continue
        out["posts"].append((author, start, time.time()))


async def measure(cfg: Config, url: str, server, db_pid: int | None) -> dict:
    from bench.stclient import Session
    from classroom import Board

    board = Board(url)
    title = f"Load test {time.strftime('%H:%M:%S')}"
    code, _lecturer_key = board.open_class(title)
    rng = random.Random(-1)
    for k in range(cfg.prefill):  # 10 posts per made-up session: each session may hold MAX_POSTS_PER_SESSION
        recon, kl = rng.uniform(20, 40), rng.uniform(1, 10)
        board.post(code, author=f"earlier-{k:03d}", session=f"prefill-{k // 10}", page="ELBO & β",
                   settings={"beta": round(rng.uniform(0.1, 4.0), 2), "latent_dim": 2}, seed=k,
                   metrics={"elbo": -(recon + kl), "recon": recon, "kl": kl, "active_units": 2,
                            "mutual_information": 1.0, "steps": 1000})
    marks = {"start": time.time()}

    lecturer = Session(server.url, keep_messages=False)
    cold, settled = None, 0.0
    if not cfg.cold:
        cold = await _join(lecturer, code, title, cfg.join_timeout)
        if cold is None:
            await lecturer.close()
            raise RuntimeError(f"the board did not open: status {lecturer.last_status}, exceptions "
                               f"{lecturer.exceptions()[:1]}, page_not_found {lecturer.page_not_found}; server "
                               f"log: {server.log_path}")
        settled = await _settle(server.proc.pid)  # app.py preloads torch in the background after a first visit
    students = [Session(server.url, keep_messages=False) for _ in range(cfg.students)]
    everyone = [lecturer, *students]
    snaps = {"start": snapshot(server.proc.pid, db_pid, everyone)}

    async def arrive(i, s):
        await asyncio.sleep(cfg.ramp * i / max(1, cfg.students))
        return await _join(s, code, title, cfg.join_timeout)

    marks["join"] = time.time()
    joins = await asyncio.gather(*(arrive(i, s) for i, s in enumerate(students)))
    joined = [s for s, j in zip(students, joins, strict=True) if j is not None]
    if cfg.cold:  # the lecturer joins now, after the burst, to watch the board like the rest
        cold = await _join(lecturer, code, title, cfg.join_timeout)
    snaps["joined"] = snapshot(server.proc.pid, db_pid, everyone)

    marks["idle"] = time.time()
    await asyncio.sleep(cfg.idle)
    snaps["idle"] = snapshot(server.proc.pid, db_pid, everyone)

    marks["posting"] = time.time()
    watchers = [lecturer, *joined] if cold is not None else joined
    out = {"posts": [], "refused": [], "failed": []}
    end = time.time() + cfg.seconds
    with ThreadPoolExecutor(4) as pool:
        tasks = [asyncio.create_task(_student(i, cfg, board, code, watchers, pool, end, out))
                 for i, _ in enumerate(joined)]
        await asyncio.sleep(max(0.0, end - time.time()))
        await asyncio.gather(*tasks)
    snaps["posted"] = snapshot(server.proc.pid, db_pid, everyone)
    marks["drain"] = time.time()
    await asyncio.sleep(cfg.drain)
    marks["end"] = time.time()

    latencies, missed = [], 0
    for author, _start, committed in out["posts"]:
        for s in watchers:
            seen = s.watches.get(author.encode())
            if seen is None:
                missed += 1
            else:
                latencies.append(max(0.0, seen - committed))  # a poll between commit and return: ~0
    intervals = sorted({i for s in watchers for i in s.auto_reruns.values()})
    posts_on_board = len(board.posts(code))
    for s in everyone:
        await s.close()
    board.dispose()
    return dict(
        code=code, marks=marks, snaps={k: asdict(v) for k, v in snaps.items()}, cold_open_s=cold, settle_s=settled,
        join_s=[j for j in joins if j is not None], joined=len(joined), posts=out["posts"], refused=out["refused"],
        failed=out["failed"],
        latencies=latencies, missed=missed, watchers=len(watchers), poll_intervals=intervals,
        posts_on_board=posts_on_board, db_separate=db_pid is not None,
        post_write_s=[c - s for _, s, c in out["posts"]],
    )


def estimate(cfg: Config, r: dict) -> dict:
    """Per-session server cost from the idle and posting phases, and what it predicts for bigger servers."""
    s = {k: Snapshot(**v) for k, v in r["snaps"].items()}
    idle, post = delta(s["joined"], s["idle"]), delta(s["idle"], s["posted"])
    n = r["watchers"]
    c_poll = idle["server_cpu"] / idle["polls"] if idle["polls"] else float("nan")
    db_poll = idle["db_cpu"] / idle["polls"] if idle["polls"] else float("nan")
    tick_per_poll = 1 / CLK_TCK / idle["polls"] if idle["polls"] else float("nan")  # CPU times count in ticks
    redraw_cpu = post["server_cpu"] - post["polls"] * c_poll
    c_redraw = redraw_cpu / post["redraws"] if post["redraws"] else float("nan")
    db_redraw = (post["db_cpu"] - post["polls"] * db_poll) / post["redraws"] if post["redraws"] else float("nan")
    period = r["poll_intervals"][0] if r["poll_intervals"] else float("nan")
    q = post["redraws"] / post["polls"] if post["polls"] else float("nan")  # share of polls that found a change
    per_session = post["server_cpu"] / post["t"] / n  # core-seconds per second per connected session, measured
    worst = (c_poll + c_redraw) / period  # every poll finds a change (a busy class: q -> 1)
    db_worst = (db_poll + db_redraw) / period
    per_process = CORE_BUDGET / worst  # one Streamlit process: its script runs hold the GIL, ~1 core at most
    return dict(
        sessions=n, db_separate=r["db_separate"], poll_interval_s=period, cpu_per_poll_s=c_poll,
        cpu_per_redraw_s=c_redraw, db_cpu_per_poll_s=db_poll, db_cpu_per_redraw_s=db_redraw,
        cpu_tick_per_poll_s=tick_per_poll, share_of_polls_redrawing=q,
        measured_core_per_session=per_session, worst_core_per_session=worst, db_worst_core_per_session=db_worst,
        join_cpu_per_session_s=delta(s["start"], s["joined"])["server_cpu"] / max(1, r["joined"]),
        sessions_per_process=per_process,
        sessions_2_core=per_process * 2, sessions_16_core=per_process * 16,
        db_sessions_per_core=CORE_BUDGET / db_worst if db_worst > 0 else float("inf"),
        posts_on_board=r["posts_on_board"], core_budget=CORE_BUDGET,
        kb_per_redraw=post["received_mb"] * 1e3 / post["redraws"] if post["redraws"] else float("nan"),
        client_cpu_share=(post["client_cpu"] / post["t"]),
        idle=idle, posting=post,
    )


def figures(cfg: Config, label: str, r: dict, health: list, rss: float, e: dict) -> list[dict]:
    marks = r["marks"]

    def phase(a, b):
        return [sec for t, sec, _ in health if marks[a] <= t < marks[b]]

    failures = [f"{status} after {sec:.1f} s" for _, sec, status in health if status != "ok"]
    posted_s = marks["drain"] - marks["posting"]
    bench = f"{BENCH} ({label})"
    row = functools.partial(dict, bench=bench)
    hp = {name: phase(a, b) for name, a, b in (("join", "join", "idle"), ("idle", "idle", "posting"),
                                               ("posting", "posting", "end"))}
    allh = [sec for _, sec, _ in health]
    n_pairs = len(r["posts"]) * r["watchers"]
    db_poll = (_fmt(e["db_cpu_per_poll_s"] * 1e3, "ms", 2) if e["db_cpu_per_poll_s"] > 0  # below one clock tick:
               else f"< {e['cpu_tick_per_poll_s'] * 1e3:.2f} ms")  # an upper bound
    return [
        row(figure="sessions joined", value=f"{r['joined']} / {cfg.students}",
            note=f"first run finished with the board drawn; ramp {cfg.ramp:.0f} s; " + (
                f"--cold: the students were the server's first visitors; the lecturer joined after them in "
                f"{_fmt(r['cold_open_s'] or float('nan'))}" if cfg.cold else
                f"+1 lecturer session opened first in {_fmt(r['cold_open_s'])} (the process's first visit; then "
                f"{r['settle_s']:.0f} s for the server to go quiet)")),
        row(figure="join time p50 / p95", value=f"{_fmt(pct(r['join_s'], 50))} / {_fmt(pct(r['join_s'], 95))}",
            note="websocket open + rerun request -> first script run finished"),
        row(figure="runs posted", value=f"{len(r['posts']) / posted_s:.2f} /s",
            note=f"{len(r['posts'])} in {posted_s:.0f} s ({len(r['refused'])} refused, {len(r['failed'])} failed; mean "
                 f"{cfg.post_every:.0f} s per student); Board.post from the load test: the server's cost of a post "
                 f"is its DB write, p50 {_fmt(pct(r['post_write_s'], 50) * 1e3, 'ms', 1)}"),
        row(figure="board refresh p50 / p95",
            value=f"{_fmt(pct(r['latencies'], 50))} / {_fmt(pct(r['latencies'], 95))}",
            note=f"post committed -> EACH session got a message with its author ({len(r['latencies'])} of "
                 f"{n_pairs} post x session pairs; {r['missed']} not seen within {cfg.drain:.0f} s; max "
                 f"{_fmt(max(r['latencies'], default=float('nan')))}); poll every {r['poll_intervals']} s"),
        row(figure="health p50 / p95", value=f"{_fmt(pct(allh, 50), 's', 3)} / {_fmt(pct(allh, 95), 's', 3)}",
            note="p95 join / idle / posting: " + " / ".join(_fmt(pct(v, 95), "s", 3) for v in hp.values()) +
                 f"; max {_fmt(max(allh, default=float('nan')), 's', 3)}; {len(allh)} polls from a separate "
                 f"process, failures {failures[:3]}"),
        row(figure="server RSS at the end", value=f"{rss:.0f} MB", note=f"{r['watchers']} sessions connected"),
        row(figure="server CPU per poll / per redraw",
            value=f"{_fmt(e['cpu_per_poll_s'] * 1e3, 'ms', 1)} / {_fmt(e['cpu_per_redraw_s'] * 1e3, 'ms', 1)}",
            note=f"per session; idle phase {e['idle']['polls']} polls; posting phase {e['posting']['polls']} polls, "
                 f"{e['posting']['redraws']} redraws ({e['share_of_polls_redrawing']:.0%} of polls), board of "
                 f"{e['posts_on_board']} posts at the end, {e['kb_per_redraw']:.0f} kB sent per redraw; " + (
                     f"DB server {db_poll} / {_fmt(e['db_cpu_per_redraw_s'] * 1e3, 'ms', 2)} (its redraws' "
                     f"share holds the posts' writes)" if e["db_separate"]
                     else "the database runs inside the server process (counted in its CPU)")),
        row(figure="server core per session", value=f"{e['measured_core_per_session'] * 1e3:.1f} millicore",
            note=f"measured while posting (a join cost {_fmt(e['join_cpu_per_session_s'] * 1e3, 'ms', 0)}); worst "
                 f"case (every poll redraws) {e['worst_core_per_session'] * 1e3:.1f} millicore"
                 f" = (poll + redraw) / {e['poll_interval_s']} s; load-test client used "
                 f"{e['client_cpu_share']:.2f} core"),
        row(figure="paper: sessions per server process", value=f"{e['sessions_per_process']:.0f}",
            note=f"{CORE_BUDGET} core / worst case per session (one process: the GIL, ~1 core); one replica per "
                 f"core behind a sticky balancer: 2 cores ~{e['sessions_2_core']:.0f}, 16 cores "
                 f"~{e['sessions_16_core']:.0f}, N replicas ~N x {e['sessions_per_process']:.0f}" + (
                     f"; DB: ~{e['db_sessions_per_core']:.0f} sessions per DB core" if e["db_separate"] else "")),
    ]


def run_one(cfg: Config) -> list[dict]:
    from bench.pages import rss_mb
    from tests.browser import ARTIFACTS, AppServer

    ARTIFACTS.mkdir(exist_ok=True)
    with database(cfg.database) as (url, db_pid, label):
        env = {"GENLAB_DATABASE_URL": url, "OMP_NUM_THREADS": "1"}
        with AppServer(env) as server, health_probe(server.url, ARTIFACTS / f"board-load-health-{label}.txt") as hp:
            result = asyncio.run(measure(cfg, url, server, db_pid))
            rss = rss_mb(server.proc.pid)
            health = hp()
    e = estimate(cfg, result)
    rows = figures(cfg, label, result, health, rss, e)
    path = Path(cfg.json) if cfg.json else ARTIFACTS / f"board-load-{label}.json"
    summary = {k: v for k, v in result.items() if k not in ("posts", "latencies", "join_s", "post_write_s")}
    path.write_text(json.dumps({
        "config": asdict(cfg), "database": label, "rows": rows, "estimate": e, "rss_mb": rss, "result": summary,
        "latency_s": {"p50": pct(result["latencies"], 50), "p95": pct(result["latencies"], 95),
                      "max": max(result["latencies"], default=None), "n": len(result["latencies"])},
        "join_s": result["join_s"], "health_s": [sec for _, sec, _ in health],
        "cpu_count": os.cpu_count(), "load_avg": os.getloadavg(),
    }, indent=1, default=str))
    sys.stderr.write(f"  JSON: {path}\n")
    return rows


def run() -> list[dict]:
    """``python -m bench board_load``: the defaults on SQLite, then on PostgreSQL where it is installed."""
    rows = run_one(Config(database="sqlite"))
    if (PG_BIN / "initdb").exists():
        rows += run_one(Config(database="postgres"))
    else:
        rows.append({"bench": BENCH, "figure": "postgres", "value": "skipped", "note": f"no {PG_BIN}/initdb"})
    return rows


def main(argv=None) -> None:
    from bench import table

    defaults = Config()
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--students", type=int, default=defaults.students)
    p.add_argument("--seconds", type=float, default=defaults.seconds, help="the posting phase")
    p.add_argument("--database", default=defaults.database, help="sqlite | postgres | a SQLAlchemy URL")
    p.add_argument("--ramp", type=float, default=defaults.ramp, help="students join over this many seconds")
    p.add_argument("--idle", type=float, default=defaults.idle, help="seconds connected before anyone posts")
    p.add_argument("--post-every", type=float, default=defaults.post_every,
                   help="mean seconds between one student's posts")
    p.add_argument("--drain", type=float, default=defaults.drain)
    p.add_argument("--prefill", type=int, default=defaults.prefill, help="runs on the board before anyone joins")
    p.add_argument("--cold", action="store_true", help="students are the fresh server's first visitors")
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    cfg = Config(students=args.students, seconds=args.seconds, database=args.database, ramp=args.ramp,
                 idle=args.idle, post_every=args.post_every, drain=args.drain, prefill=args.prefill,
                 cold=args.cold, json=args.json)
    print(table(run_one(cfg)))


if __name__ == "__main__":
    main()
