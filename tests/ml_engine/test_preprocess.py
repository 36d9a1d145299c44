"""Decoding and torchvision-equivalent preprocessing of camera images."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image
from PIL.JpegImagePlugin import JpegImageFile

from apps.ml.engine.preprocess import Preprocessing, decode_image
from apps.ml.engine.results import ImageDecodeError

IDENTITY = {"mean": (0.0, 0.0, 0.0), "std": (1.0, 1.0, 1.0)}


def _encoded(image: Image.Image, fmt: str, **params) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **params)
    return buffer.getvalue()


def test_center_crop_uses_torchvision_offsets():
    # 512x256 already has a 256 px short side; torchvision crops columns 144..367.
    image = np.zeros((256, 512, 3), dtype=np.uint8)
    image[:, 256:] = 255

    batch = Preprocessing(**IDENTITY)([Image.fromarray(image)])

    row = batch[0, 0, 112]
    assert batch.shape == (1, 3, 224, 224)
    assert torch.all(row[:112] == 0) and torch.all(row[112:] == 1)


def test_short_side_becomes_256_and_the_long_side_is_truncated_before_cropping():
    # torchvision on 300x199: Resize -> (int(256 * 300 / 199), 256) = (385, 256);
    # CenterCrop offsets round((385 - 224) / 2) = 80 (half to even) and 16.
    noise = np.random.default_rng(0).integers(0, 256, (199, 300, 3), dtype=np.uint8)
    image = Image.fromarray(noise)
    expected = image.resize((385, 256), Image.Resampling.BILINEAR).crop((80, 16, 304, 240))

    batch = Preprocessing(**IDENTITY)([image])

    actual = (batch[0].permute(1, 2, 0) * 255).round().to(torch.uint8).numpy()
    assert np.array_equal(actual, np.asarray(expected))


def test_normalisation_matches_totensor_then_normalize():
    gray = Image.new("RGB", (256, 256), (128, 128, 128))
    preprocessing = Preprocessing()

    pixel = preprocessing([gray])[0, :, 0, 0]

    expected = (128 / 255 - torch.tensor(preprocessing.mean)) / torch.tensor(preprocessing.std)
    assert torch.allclose(pixel, expected, atol=1e-6)


def test_images_of_different_shapes_stack_into_one_batch():
    images = [Image.new("RGB", (640, 480)), Image.new("RGB", (240, 320))]

    batch = Preprocessing()(images)

    assert batch.shape == (2, 3, 224, 224)
    assert batch.dtype == torch.float32


@pytest.mark.parametrize("mode", ["L", "RGBA", "P", "CMYK", "LA", "I;16"])
def test_any_image_mode_decodes_to_rgb(mode):
    assert decode_image(Image.new(mode, (8, 8))).mode == "RGB"


def test_cmyk_jpeg_bytes_decode_to_rgb():
    encoded = _encoded(Image.new("CMYK", (16, 16), (0, 255, 255, 0)), "JPEG")

    image = decode_image(encoded)

    assert image.mode == "RGB"
    red, green, blue = image.getpixel((8, 8))
    assert red > 200 and green < 60 and blue < 60


def test_exif_orientation_is_applied_to_jpeg_bytes():
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    encoded = _encoded(Image.new("RGB", (40, 20)), "JPEG", exif=exif)

    assert decode_image(encoded).size == (20, 40)


def test_bytes_that_are_not_an_image_raise_image_decode_error_without_an_index():
    with pytest.raises(ImageDecodeError) as raised:
        decode_image(b"definitely not a jpeg")

    assert raised.value.index is None


def test_truncated_jpeg_raises_image_decode_error():
    encoded = _encoded(Image.new("RGB", (64, 64), (10, 20, 30)), "JPEG")

    with pytest.raises(ImageDecodeError):
        decode_image(encoded[: len(encoded) // 2])


def test_max_side_shrinks_the_longer_side_and_keeps_the_aspect_ratio():
    encoded = _encoded(Image.new("RGB", (1000, 500)), "PNG")

    assert decode_image(encoded, max_side=200).size == (200, 100)


def test_max_side_shrinks_a_pil_image_too():
    assert decode_image(Image.new("RGB", (300, 600)), max_side=150).size == (75, 150)


def test_image_within_max_side_keeps_its_size():
    encoded = _encoded(Image.new("RGB", (320, 240)), "JPEG")

    assert decode_image(encoded, max_side=640).size == (320, 240)


def test_jpeg_is_decoded_in_draft_mode_straight_to_a_reduced_size(monkeypatch):
    # 1600x1200 for 400 px: libjpeg can decode at 1/4 scale, exactly the size wanted.
    encoded = _encoded(Image.new("RGB", (1600, 1200), (200, 100, 50)), "JPEG")
    drafts = []
    original_draft = JpegImageFile.draft

    def spy(self, mode, size):
        result = original_draft(self, mode, size)
        drafts.append((size, self.size))
        return result

    monkeypatch.setattr(JpegImageFile, "draft", spy)

    image = decode_image(encoded, max_side=400)

    assert drafts == [((400, 300), (400, 300))]
    assert image.size == (400, 300)
    assert image.getpixel((200, 150)) == pytest.approx((200, 100, 50), abs=3)


def test_jpeg_without_max_side_is_decoded_at_full_size(monkeypatch):
    encoded = _encoded(Image.new("RGB", (1600, 1200)), "JPEG")
    monkeypatch.setattr(JpegImageFile, "draft", lambda self, mode, size: pytest.fail("draft"))

    assert decode_image(encoded).size == (1600, 1200)


def test_rotated_jpeg_is_upright_and_within_max_side():
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    encoded = _encoded(Image.new("RGB", (800, 400)), "JPEG", exif=exif)

    assert decode_image(encoded, max_side=200).size == (100, 200)


def test_other_input_types_are_rejected():
    with pytest.raises(TypeError):
        decode_image("photo.jpg")  # type: ignore[arg-type]
