"""Progress output that suits where it goes: live bars on a terminal, plain lines elsewhere.

tqdm redraws its bar with carriage returns. Written to a file or a pipe (a CI log, or
`python -m hclm_ref.demo > log.txt`) every redraw stays: thousands of frames an epoch, hundreds
of kB a run. So bars are drawn only on a terminal (or in a Jupyter kernel), and the one-line
summaries that training prints after each epoch go everywhere.
"""

import sys

from tqdm.auto import tqdm


def interactive():
    """Whether progress bars can redraw in place: stderr is a terminal, or we run in Jupyter."""
    return sys.stderr.isatty() or "ipykernel" in sys.modules


def progress_bar(iterable=None, *, enabled=True, **kwargs):
    """tqdm(iterable, **kwargs), drawn only when enabled and interactive()."""
    return tqdm(iterable, disable=not (enabled and interactive()), **kwargs)


def say(line):
    """Print one line (to stdout, flushed) without breaking a live bar."""
    tqdm.write(line)
    sys.stdout.flush()
