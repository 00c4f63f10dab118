#!/usr/bin/env python3
"""Small-server footprint of `nudge serve` (README, Deployment → Footprint).

    python3 benches/footprint.py [path/to/nudge] [leads]

Seeds a throwaway data dir with `nudge dev seed --leads N` (default 10000),
then starts `nudge serve` RUNS times with NOTIFY_SOCKET pointing at a Unix
datagram socket of ours: cold start to ready is the time from spawn to its
READY=1; idle RSS is VmRSS after 5 s of idling. Prints the binary size too.
"""
import os, shutil, signal, socket, statistics, subprocess, sys, tempfile, time

RUNS = 3
binary = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "target/release/nudge")
leads = int(sys.argv[2]) if len(sys.argv) > 2 else 10000

tmp = tempfile.mkdtemp(prefix="nudge-footprint-")
try:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NUDGE_")}
    env.update(NUDGE_DATA_DIR=f"{tmp}/data", NUDGE_CONFIG=f"{tmp}/config.toml")
    with open(f"{tmp}/config.toml", "w") as f:
        f.write('[server]\nlisten = "127.0.0.1:0"\n')
    subprocess.run([binary, "dev", "seed", "--leads", str(leads)], env=env, check=True,
                   stdout=subprocess.DEVNULL)
    starts, rss = [], []
    for _ in range(RUNS):
        path = f"{tmp}/notify.sock"
        if os.path.exists(path):
            os.unlink(path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(path)
        sock.settimeout(60)
        t0 = time.monotonic()
        serve = subprocess.Popen([binary, "serve"], env={**env, "NOTIFY_SOCKET": path},
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while b"READY=1" not in sock.recv(4096):
            pass
        starts.append((time.monotonic() - t0) * 1000)
        time.sleep(5)
        with open(f"/proc/{serve.pid}/status") as f:
            kb = next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))
        rss.append(kb / 1024)
        serve.send_signal(signal.SIGTERM)
        serve.wait(timeout=60)
        sock.close()
    size = os.path.getsize(binary)
    print(f"binary: {size} bytes ({size / 2**20:.1f} MiB)")
    print(f"leads: {leads}")
    print(f"cold start to READY=1: median {statistics.median(starts):.0f} ms "
          f"({', '.join(f'{s:.0f}' for s in starts)})")
    print(f"idle RSS after 5 s: median {statistics.median(rss):.1f} MiB "
          f"({', '.join(f'{r:.1f}' for r in rss)})")
finally:
    shutil.rmtree(tmp, ignore_errors=True)
