"""Open MPI's ``mpirun`` for ``d2l_cnn.launch --launcher mpi``.

``mpirun_command`` is the command line that starts NUM copies of a
program with the job's environment; ``RankLines`` turns the output that
``mpirun`` merges from all its ranks back into each rank's whole lines.
"""
import re
import shlex

# ``mpirun --tag-output`` starts every piece of a rank's output with
# ``[JOB,RANK]<stdout>:`` (Open MPI 4; 5 adds a space, left in the line)
MPI_TAG = re.compile(r'\[\d+,(\d+)\]<std(?:out|err|diag)>:')


def mpirun_command(mpirun, num, env, argv):
    """``mpirun -np NUM -x NAME=VALUE ... ARGV``: NUM copies of ARGV.

    ``--tag-output`` marks whose output each piece is: ``mpirun`` merges
    the ranks' pipes, so a line one rank writes in two pieces (Python
    under ``PYTHONUNBUFFERED``: the text, then the newline) can arrive
    with another rank's line in between; ``RankLines`` puts them back.
    """
    flags = ['--tag-output']
    for key, value in sorted(env.items()):
        flags += ['-x', '%s=%s' % (key, value)]
    return shlex.split(mpirun) + ['-np', str(num)] + flags + list(argv)


class RankLines:
    """Whole lines per rank from ``mpirun --tag-output``'s merged lines.

    ``feed(text)`` takes what ``mpirun`` wrote up to a newline and returns
    ``(rank, line)`` for each line a rank completed; ``rank`` is None for
    ``mpirun``'s own untagged messages. ``close()`` returns the pieces
    left without a newline when the pipe ends.
    """

    def __init__(self):
        self.pending = {}  # rank -> the start of its unfinished line

    def feed(self, text):
        pieces = MPI_TAG.split(text)
        done = []
        if pieces[0]:
            done.append((None, pieces[0].rstrip('\r\n')))
        for rank, piece in zip(pieces[1::2], pieces[2::2]):
            rank = int(rank)
            lines = (self.pending.pop(rank, '') + piece).split('\n')
            if lines[-1]:
                self.pending[rank] = lines[-1]
            done += [(rank, line.rstrip('\r')) for line in lines[:-1]]
        return done

    def close(self):
        done = sorted(self.pending.items())
        self.pending.clear()
        return done
