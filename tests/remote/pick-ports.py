"""Prints COUNT free 127.0.0.1 ports that were not handed out before in this state folder.

    pick-ports.py LAST_PORT_FILE COUNT

The start scripts call it under their lock: a port that a killed server freed must not come back
to another test's server while a client still calls it, so ports only go up (20000-59000, then
around again), and LAST_PORT_FILE remembers the last one given.
"""

import socket
import sys

path, count = sys.argv[1], int(sys.argv[2])
try:
    last = int(open(path).read())
except (OSError, ValueError):
    last = 0
port = last + 1 if 20000 <= last < 59000 else 20000
found = []
while len(found) < count:
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
        found.append(port)
    except OSError:
        pass
    finally:
        s.close()
    port += 1
with open(path, "w") as f:
    f.write(str(found[-1]))
print(*found)
