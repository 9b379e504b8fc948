"""Line echo server, and a client that sends a line every 10 ms and prints its longest wait for the answer (ms)."""
import socket
import sys
import threading
import time

mode, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
if mode == 'server':
    srv = socket.create_server((host, port))

    def serve(conn):
        with conn:
            f = conn.makefile('rwb', buffering=0)
            for line in f:
                f.write(line)

    while True:
        c, _ = srv.accept()
        threading.Thread(target=serve, args=(c,), daemon=True).start()
else:
    seconds = float(sys.argv[4])
    s = socket.create_connection((host, port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    f = s.makefile('rwb', buffering=0)
    longest = 0.0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        t = time.monotonic()
        f.write(b'PING\n')
        f.readline()
        longest = max(longest, time.monotonic() - t)
        time.sleep(0.01)
    print(round(longest * 1000))
