"""kafka-python computes a CRC-32C over every record batch it writes and checks one over every
batch it reads; the project installs ``crc32c`` so that is C, not a pure-Python loop (8 MB/s)."""

from kafka.record import util
from kafka.record._crc32c import crc as pure_python_crc


def test_record_batch_crc_is_computed_in_c():
    assert util.crc32c_c is not None, "crc32c is not installed: kafka-python falls back to Python"
    batch = bytes(range(256)) * 40
    assert util.calc_crc32c(batch) == pure_python_crc(batch)
