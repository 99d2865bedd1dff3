import os
import signal
import sys

_MESSAGE = "interrupted; results already written are intact"

try:  # a Ctrl-C while the heavy modules load ends like one during the run
    from benchmark.cli import EXIT_INTERRUPTED, main
except KeyboardInterrupt:
    print(_MESSAGE, file=sys.stderr)
    raise SystemExit(130) from None

_code = main()
# The work is over and its tables are written: a Ctrl-C from now on must not turn the exit
# into a death by SIGINT (status -2, no message), which it would during interpreter
# finalisation, where Python restores SIGINT's default action (but leaves an ignored one).
signal.signal(signal.SIGINT, signal.SIG_IGN)
if _code == EXIT_INTERRUPTED:
    # Leave at once: a run stopped by Ctrl-C was seen, rarely, to end by SIGINT (status -2)
    # during interpreter shutdown after the message; os._exit keeps the status 130.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(_code)
raise SystemExit(_code)
