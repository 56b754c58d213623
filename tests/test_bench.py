"""The benchmark's measuring parts, on this test process (the full run is `make bench`)."""

import os
import time

import numpy as np
from course import bench_run, modules

bench = bench_run()


def test_bench_finds_every_module():
    assert bench.modules() == modules()


def test_memory_readings_see_an_allocation():
    before = bench.high_water_mark(os.getpid())
    sampler = bench.PeakMemory(os.getpid(), every=0.01)
    sampler.start()
    block = np.ones(64 * 2**20 // 8)  # 64 MB, touched
    time.sleep(0.1)
    peak = sampler.stop()
    assert block.sum() > 0
    assert peak >= 64 * 2**20
    assert bench.high_water_mark(os.getpid()) >= max(before, 64 * 2**20)
