"""doctor on the interpreter, numpy and GPUs, fed fake device data.

No GPU here: these tests check what doctor says about GPUs and CUDA
libraries it is told about; they prove nothing about a real GPU run.
"""
import sys

import pytest

from d2l_cnn import compat, doctor, gpus

pytestmark = pytest.mark.smoke

CU112 = ('mxnet-cu112', 'cu112')


def rows(report):
    return dict(report.rows)


@pytest.mark.parametrize('gpu, cap', [
    ('Tesla T4', '7.5'), ('Tesla V100-SXM2-16GB', '7.0'),
    ('NVIDIA A100-SXM4-40GB', '8.0'), ('NVIDIA GeForce RTX 3090', '8.6'),
    ('NVIDIA L4', '8.9'), ('Tesla M60', '5.2'), ('Tesla P100', '6.0')])
def test_gpus_the_cuda_wheels_can_run(gpu, cap):
    report = doctor.Report()
    doctor.check_gpu_kernels(report, [(gpu, cap)], CU112)
    assert report.ok and not report.problems
    assert rows(report)['GPU kernels'] == (
        'gpu(0) %s (sm_%s): mxnet-cu112 has kernels for it'
        % (gpu, cap.replace('.', '')))


@pytest.mark.parametrize('gpu, cap', [
    ('NVIDIA H100 80GB HBM3', '9.0'), ('NVIDIA H200', '9.0'),
    ('NVIDIA B200', '10.0'), ('Tesla K80', '3.7')])
def test_gpus_without_kernels_are_a_failure_with_the_way_on(gpu, cap):
    report = doctor.Report()
    doctor.check_gpu_kernels(report, [('Tesla T4', '7.5'), (gpu, cap)],
                             CU112)
    assert not report.ok
    fail, = report.problems
    assert fail.what.startswith('gpu(1) %s has compute capability %s'
                                % (gpu, cap))
    assert 'sm_50, sm_60, sm_70, sm_80, sm_86 without PTX' in fail.what
    assert 'no kernel image' in fail.what
    assert 'T4' in fail.fix and 'MXNET_CUDA_ARCH' in fail.fix
    assert '--ctx cpu' in fail.fix
    lines = rows(report)['GPU kernels'].splitlines()
    assert lines[0].endswith('has kernels for it')
    assert lines[1] == 'gpu(1) %s (sm_%s): NO kernels in mxnet-cu112' % (
        gpu, cap.replace('.', ''))


def test_cuda_11_0_wheel_has_no_ampere_consumer_kernels():
    report = doctor.Report()
    doctor.check_gpu_kernels(report, [('NVIDIA A10', '8.6')],
                             ('mxnet-cu110', 'cu110'))
    assert report.ok  # sm_80 code runs on sm_86
    assert not gpus.has_kernels('8.6', ('9.0',))
    assert gpus.has_kernels('8.6', ('8.0',))
    assert not gpus.has_kernels('8.0', ('8.6',))


def test_cpu_build_with_a_gpu_says_so():
    report = doctor.Report()
    doctor.check_gpu_kernels(report, [('NVIDIA H100', '9.0')],
                             ('mxnet', None))
    assert rows(report)['GPU kernels'] == \
        'NVIDIA H100 (sm_90): mxnet is the CPU build'


def test_no_gpu_no_row():
    report = doctor.Report()
    doctor.check_gpu_kernels(report, [], CU112)
    assert report.rows == [] and report.ok


def test_this_machine_has_the_cpu_wheel():
    assert gpus.mxnet_wheel() == ('mxnet', None)


def test_missing_cuda_libraries_name_their_pip_packages():
    report = doctor.Report()
    doctor.check_cuda_libraries(report, CU112,
                                missing=['libcudnn.so.8', 'libnccl.so.2'])
    assert rows(report)['CUDA libs'] == \
        'missing: libcudnn.so.8, libnccl.so.2'
    fail, = report.problems
    assert fail.what == ('MXNet cannot load: libcudnn.so.8, libnccl.so.2 '
                         'are missing')
    assert "pip install 'nvidia-cudnn-cu11<9'" in fail.fix
    assert 'pip install nvidia-nccl-cu11' in fail.fix
    assert 'LD_LIBRARY_PATH' in fail.fix


def test_cuda_libraries_found():
    report = doctor.Report()
    doctor.check_cuda_libraries(report, CU112, missing=[])
    assert rows(report)['CUDA libs'] == \
        'all that mxnet-cu112 needs are found' and report.ok
    report = doctor.Report()
    doctor.check_cuda_libraries(report, ('mxnet', None))
    assert report.rows == []


def test_python_support_texts():
    assert doctor.python_support((3, 11)).startswith('supported, the ref')
    assert doctor.python_support((3, 13)) == 'supported'
    assert doctor.python_support((3, 8)).startswith('NOT supported: d2l_')


@pytest.mark.parametrize('version, level', [
    ('1.23.5', None), ('1.26.4', None), ('2.0.2', 'warn'),
    ('2.2.6', 'warn'), ('1.15.0', 'fail')])
def test_numpy_support(version, level):
    report = doctor.Report()
    doctor.check_numpy(report, version, ['bool', 'PZERO'])
    text = rows(report)['numpy']
    assert text.startswith(version + ' (')
    assert [p.level for p in report.problems] == ([level] if level else [])
    if level == 'warn':
        assert 'pip check flags it' in report.problems[0].what
    if level != 'fail':
        assert 'restored for MXNet: np.bool, np.PZERO' in text


def test_pins_follow_the_markers():
    here = '%d.%d' % sys.version_info[:2]
    assert doctor.applies_here('tqdm>=4.66') == 'tqdm>=4.66'
    assert doctor.applies_here(
        'numpy==1.0; python_version == "%s"' % here) == 'numpy==1.0'
    assert doctor.applies_here(
        'numpy==1.0; python_version != "%s"' % here) is None
    pins = doctor.pinned_requirements()
    numpy_pin, = [p for p in pins if p.startswith('numpy==')]
    assert numpy_pin == 'numpy==' + compat.NUMPY_FOR_PYTHON[
        tuple(sys.version_info[:2])]
    assert not any(';' in p for p in pins)
