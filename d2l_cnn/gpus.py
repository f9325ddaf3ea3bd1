"""Which GPUs an installed MXNet can run on.

The NVIDIA GPUs the driver reports (``nvidia-smi``), their compute
capabilities, the installed ``mxnet``/``mxnet-cuXXX`` wheel and the
architectures its kernels were built for. ``python -m d2l_cnn.doctor``
turns them into advice; nothing here needs a GPU to run.
"""
import importlib.metadata
import re
import shutil
import subprocess


def _smi(query):
    """Lines of ``nvidia-smi --query-gpu=QUERY`` (empty without one)."""
    smi = shutil.which('nvidia-smi')
    if not smi:
        return []
    try:
        out = subprocess.run([smi, '--query-gpu=' + query,
                              '--format=csv,noheader'], capture_output=True,
                             text=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.strip() for line in out.splitlines() if line.strip()]


def nvidia_gpus():
    """Names of the NVIDIA GPUs the driver reports (empty without one)."""
    return _smi('name')


# 1.9.1's CUDA wheels (config/distribution/linux_cu*.cmake): SASS only,
# no PTX, so a GPU of another major architecture has no kernel image
CUDA_ARCHS = {'cu110': ('5.0', '6.0', '7.0', '8.0')}
CUDA_ARCHS_DEFAULT = ('5.0', '6.0', '7.0', '8.0', '8.6')
NO_KERNELS_FIX = ('use a GPU of compute capability 5.0-8.9 (Maxwell to '
                  'Ada: a T4, V100, A100, A10, L4, RTX 20xx-40xx; Colab\'s '
                  'T4 works), or an MXNet built from source for this GPU '
                  '(cmake -DMXNET_CUDA_ARCH=<its capability>), or train on '
                  'the CPU (--ctx cpu)')


def mxnet_wheel():
    """(distribution name, CUDA tag or None) of the installed mxnet."""
    for dist in importlib.metadata.distributions():
        name = (dist.metadata['Name'] or '').lower()
        m = re.match(r'mxnet(?:-(cu\d+)\w*)?$', name)
        if m:
            return name, m.group(1)
    return None, None


def has_kernels(capability, archs):
    """Whether SASS built for ``archs`` runs on a GPU of ``capability``:
    same major version, minor at most the GPU's (no PTX to JIT)."""
    major, minor = (int(v) for v in capability.split('.'))
    return any(int(a.split('.')[0]) == major and
               int(a.split('.')[1]) <= minor for a in archs)


def gpu_capabilities():
    """[(name, 'X.Y')] of the NVIDIA GPUs the driver reports."""
    gpus = []
    for line in _smi('name,compute_cap'):
        name, _, cap = line.rpartition(',')
        if re.match(r'\s*\d+\.\d+\s*$', cap):
            gpus.append((name.strip(), cap.strip()))
    return gpus
