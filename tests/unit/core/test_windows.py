import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.windows import assign_owners, plan_windows


def test_short_sequence_is_one_window():
    assert plan_windows(5, 10, 3) == [(0, 5)]
    assert plan_windows(0, 10, 3) == [(0, 0)]


def test_windows_overlap_by_stride_and_cover_the_end():
    assert plan_windows(25, 10, 4) == [(0, 10), (6, 16), (12, 22), (18, 25)]


def test_capacity_must_be_positive():
    with pytest.raises(ValueError):
        plan_windows(3, 0, 0)


def test_owner_is_window_with_most_context():
    windows = [(0, 10), (6, 16)]
    owner, position = assign_owners(16, windows)
    # tokens 6..9 are in both; token 6 has context min(6,3)=3 in w0 and 0 in w1 -> w0
    assert owner.tolist() == [0] * 8 + [1] * 8
    assert position[8] == 2 and position[7] == 7


@given(n=st.integers(1, 400), capacity=st.integers(2, 64), stride=st.integers(0, 40))
def test_every_token_covered_once_from_a_window_containing_it(n, capacity, stride):
    windows = plan_windows(n, capacity, stride)
    assert windows[0][0] == 0 and windows[-1][1] == n
    assert all(e - s <= capacity for s, e in windows)
    owner, position = assign_owners(n, windows)
    starts = np.array([windows[w][0] for w in owner])
    assert np.array_equal(starts + position, np.arange(n))
    for i in range(n):
        s, e = windows[owner[i]]
        best = max(min(i - a, b - 1 - i) for a, b in windows if a <= i < b)
        assert min(i - s, e - 1 - i) == best
