import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread(_fixed_threads):
    torch.set_num_threads(1)      # see tests/prune/conftest.py
