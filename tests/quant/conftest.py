import pytest

from tests.quant.digits import digits_data, trained_digits


@pytest.fixture(scope="session")
def digits():
    return digits_data()


@pytest.fixture(scope="session")
def digits_model():
    return trained_digits()[0]
