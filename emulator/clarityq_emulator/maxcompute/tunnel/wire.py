"""The record stream's wire primitives: CRC32C, varints, zigzag, tags, bounded reads."""

from __future__ import annotations

import google_crc32c

# Field numbers of the stream's own items (ProtoWireConstants in the SDKs).
END_RECORD = 33553408
META_COUNT = 33554430
META_CHECKSUM = 33554431

WIRE_VARINT = 0
WIRE_FIXED64 = 1
WIRE_BYTES = 2
WIRE_FIXED32 = 5

MASK32 = 0xFFFFFFFF
MASK64 = (1 << 64) - 1


# ---------------------------------------------------------------------------------------------
# CRC32C (Castagnoli), computed by google-crc32c
# ---------------------------------------------------------------------------------------------


def crc32c(data: bytes, crc: int = 0) -> int:
    """CRC32C of ``data``; pass a previous result as ``crc`` to continue over more data."""
    return int(google_crc32c.extend(crc, data))


# ---------------------------------------------------------------------------------------------
# Varints
# ---------------------------------------------------------------------------------------------


def varint(value: int) -> bytes:
    if value < 0:
        raise ValueError(f"varint of negative value {value}")
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def zigzag(value: int, bits: int = 64) -> int:
    return ((value << 1) ^ (value >> (bits - 1))) & ((1 << bits) - 1)


def unzigzag(value: int) -> int:
    return (value >> 1) ^ -(value & 1)


def tag(field: int, wire_type: int) -> bytes:
    return varint((field << 3) | wire_type)


END_RECORD_TAG = tag(END_RECORD, WIRE_VARINT)
COUNT_TAG = tag(META_COUNT, WIRE_VARINT)
CHECKSUM_TAG = tag(META_CHECKSUM, WIRE_VARINT)


def read_varint(body: bytes, pos: int) -> tuple[int, int]:
    """Unsigned varint of up to 10 bytes (sign-extended 32-bit checksums use all ten)."""
    result = shift = 0
    for index in range(pos, min(pos + 10, len(body))):
        byte = body[index]
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result & MASK64, index + 1
        shift += 7
    raise ValueError("truncated or overlong varint in the record stream")


def read_bytes(body: bytes, pos: int, size: int) -> tuple[bytes, int]:
    if size < 0 or pos + size > len(body):
        raise ValueError("truncated value in the record stream")
    return body[pos : pos + size], pos + size
