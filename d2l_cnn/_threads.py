"""Give MXNet's OpenMP kernels every physical core (must run before import).

MXNet 1.9.1 starts half as many OpenMP threads as there are cores; on a
2-core machine that halves convolution throughput. Unless the user has
set ``OMP_NUM_THREADS`` we set it to the number of physical cores this
process may use, and ``OMP_WAIT_POLICY`` to ``PASSIVE``: with spinning
threads, a second busy process on the machine (a notebook kernel, a
test run) made LeNet's training step 10 to 20 times slower here.
Importing ``mxnet`` first makes this a no-op.
"""
import os


def physical_cores():
    """Number of physical cores available to this process (at least 1)."""
    try:
        usable = os.sched_getaffinity(0)
    except AttributeError:  # not Linux
        return max(1, (os.cpu_count() or 2) // 2)
    cores = set()
    try:
        with open('/proc/cpuinfo') as f:
            cpu = phys = None
            for line in f:
                key, _, value = line.partition(':')
                key, value = key.strip(), value.strip()
                if key == 'processor':
                    cpu, phys = int(value), None
                elif key == 'physical id':
                    phys = value
                elif key == 'core id' and cpu in usable:
                    cores.add((phys, value))
    except (OSError, ValueError):
        cores = set()
    return max(1, len(cores) or len(usable))


def set_default_threads():
    """Set OMP_NUM_THREADS to the physical cores unless the user did."""
    if 'OMP_NUM_THREADS' not in os.environ:
        os.environ['OMP_NUM_THREADS'] = str(physical_cores())
    os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')
    return int(os.environ['OMP_NUM_THREADS'])
