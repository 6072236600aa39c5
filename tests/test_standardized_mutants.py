"""placeholder"""


def test_placeholder():
    pass
