import numpy as np
from PIL import Image

from apps.datasets.ingest import member_key, unpad


def _picture(width, height, seed=0):
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 200, (height, width, 3), dtype=np.uint8))


def _bordered(original_size, picture, side=256):
    square = Image.new("RGB", (side, side), (255, 255, 255))
    left, top = (side - picture.width) // 2, (side - picture.height) // 2
    square.paste(picture, (left, top))
    return square, (left, top, left + picture.width, top + picture.height)


def test_it_cuts_img2dataset_white_padding_using_the_original_size():
    inner = _picture(256, 160)
    square, box = _bordered((640, 400), inner)
    assert unpad(square, (640, 400)).size == (256, 160)
    assert unpad(square, (640, 400)).getbbox() == inner.getbbox()
    assert box == (0, 48, 256, 208)


def test_it_leaves_unpadded_images_alone():
    cropped = _picture(256, 256)  # center_crop output: the square is all picture
    assert unpad(cropped, (640, 400)) is cropped
    assert unpad(cropped, None) is cropped
    assert unpad(cropped, (500, 500)) is cropped
    keep_ratio = _picture(256, 160)  # keep_ratio output is not square
    assert unpad(keep_ratio, (640, 400)) is keep_ratio


def test_it_keeps_a_white_background_picture_whole_when_the_strips_are_not_all_white():
    inner = Image.new("RGB", (256, 160), (255, 255, 255))
    square = Image.new("RGB", (256, 256), (255, 255, 255))
    square.paste(_picture(256, 256), (0, 0))  # picture content reaching into where padding would be
    square.paste(inner, (0, 48))
    assert unpad(square, (640, 400)) is square


def test_it_reads_webdataset_member_keys():
    assert member_key("000010005.jpg") == ("000010005", ".jpg")
    assert member_key("shard/000010005.JSON") == ("000010005", ".json")
    assert member_key("a.b.tar.gz") == ("a", ".b.tar.gz")
    assert member_key("README") == ("README", "")
