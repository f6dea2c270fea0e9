"""PDQ perceptual hashes: computing them from images and comparing them."""
import io

import numpy as np

from apps.core.errors import TakedownError

BITS = 256
# The largest match distance anyone may ask for: beyond it a PDQ "match" says little (Meta's own threshold
# is 31), and the multi-index search slows down sharply.
MAX_THRESHOLD = 64
# Meta's reference downsamples large images before hashing; the hash barely moves and it is much faster.
_MAX_SIDE = 512


def check_threshold(value: int, *, where: str = "PDQ threshold") -> int:
    """A PDQ match distance someone asked for, refused with a clear message when out of bounds."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_THRESHOLD:
        raise TakedownError(f"{where} {value}: must be a whole number from 0 to {MAX_THRESHOLD}")
    return value


def to_words(hex_hashes: list[str]) -> np.ndarray:
    """(n, 4) uint64 array of 64-hex-character PDQ hashes, for fast Hamming distances."""
    if not hex_hashes:
        return np.zeros((0, 4), dtype=np.uint64)
    raw = bytes.fromhex("".join(hex_hashes))
    return np.frombuffer(raw, dtype=">u8").astype(np.uint64).reshape(-1, 4)


def distances(queries: np.ndarray, corpus: np.ndarray) -> np.ndarray:
    """(m, n) Hamming distances between two word arrays from to_words()."""
    if len(queries) == 0 or len(corpus) == 0:
        return np.zeros((len(queries), len(corpus)), dtype=np.int32)
    xor = queries[:, None, :] ^ corpus[None, :, :]
    return np.bitwise_count(xor).sum(axis=2, dtype=np.int32)


def distance(a: str, b: str) -> int:
    """Hamming distance between two PDQ hex hashes."""
    return (int(a, 16) ^ int(b, 16)).bit_count()


def decode(image_bytes: bytes):
    """An encoded image as an RGB PIL image, downscaled cheaply while decoding when large.

    Raises ValueError when the bytes are not a decodable image.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(image_bytes)) as image:
            image.draft("RGB", (_MAX_SIDE, _MAX_SIDE))  # JPEG: decode at a smaller scale directly
            return image.convert("RGB")
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:
        raise ValueError(f"not a decodable image: {exc}") from None


def hash_image(rgb) -> tuple[str, int]:
    """PDQ hash (64 lowercase hex, Meta's format) and quality (0-100) of an RGB PIL image."""
    import pdqhash
    from PIL import Image

    if max(rgb.size) > _MAX_SIDE:
        rgb = rgb.copy()
        rgb.thumbnail((_MAX_SIDE, _MAX_SIDE), Image.Resampling.BILINEAR)
    bits, quality = pdqhash.compute(np.ascontiguousarray(np.asarray(rgb, dtype=np.uint8)))
    # pdqhash >= 0.2 returns the bits most significant first, in Meta's word order.
    return np.packbits(np.asarray(bits, dtype=np.uint8)).tobytes().hex(), int(quality)


def compute(image_bytes: bytes) -> tuple[str, int]:
    """PDQ hash and quality of an encoded image; ValueError when it cannot be decoded."""
    return hash_image(decode(image_bytes))
