"""The MTCNN person-presence detector: weights, cascade, packaged directory."""

from __future__ import annotations

import importlib.util
import io
import json

import numpy as np
import pytest
import torch
from PIL import Image

from apps.ml.engine import faces
from apps.ml.engine.checksum import directory_checksum
from apps.ml.engine.faces import (
    CascadeSettings,
    MTCNNNets,
    batched_nms,
    build_packaged_face_detector,
    detect_faces,
    load_packaged_nets,
    nms,
    packaged_weight_paths,
)
from apps.ml.engine.modeldir import PICKLE_SUFFIXES
from apps.ml.engine.results import ModelLoadError
from apps.ml.engine.vision import VisionModel

from .conftest import flat_image, gradient_image, pil_photo

pytestmark = pytest.mark.model

# Where Eileen Collins's face is in scikit-image's astronaut photo (512 x 512), as fractions.
ASTRONAUT_FACE = (0.33, 0.08, 0.55, 0.36)
# What facenet-pytorch 2.6.0's own MTCNN(keep_all=True).detect() returns for the two photos
# with a face (pixels, probability), recorded with a stand-in for torchvision's batched_nms.
FACENET_PYTORCH_FACES = {
    "astronaut.png": ((181.0514, 62.1561, 267.7473, 172.0502), 0.9999977),
    "camera.png": ((199.2163, 118.9257, 254.2662, 192.2698), 0.9991001),
}


def _inside(box: tuple[float, ...], region: tuple[float, ...]) -> bool:
    x0, y0, x1, y1 = box
    return region[0] <= x0 < x1 <= region[2] and region[1] <= y0 < y1 <= region[3]


def _stages(nets: MTCNNNets) -> tuple:
    return nets.pnet, nets.rnet, nets.onet


def _jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=92)
    return buffer.getvalue()


def test_packaged_weights_fill_every_tensor_of_the_three_nets():
    files = {
        name: torch.load(path, map_location="cpu", weights_only=True)
        for name, path in packaged_weight_paths().items()
    }

    nets = load_packaged_nets()

    for name, state_dict in files.items():
        loaded = getattr(nets, name).state_dict()
        assert loaded.keys() == state_dict.keys()
        for key, tensor in state_dict.items():
            assert torch.equal(loaded[key], tensor), f"{name}.{key}"


def test_a_state_dict_with_a_missing_layer_does_not_load():
    nets = MTCNNNets()
    state_dict = load_packaged_nets().pnet.state_dict()
    del state_dict["prelu3.weight"]

    with pytest.raises(RuntimeError, match=r"prelu3\.weight"):
        nets.pnet.load_state_dict(state_dict, strict=True)


def test_astronaut_is_found_as_a_person_with_a_box_around_her_face(face_model, photos):
    detections = face_model.predict([pil_photo(photos, "astronaut.png")])[0]

    assert len(detections) >= 1
    best = detections[0]
    assert (best.label, best.source_label) == ("person", "face")
    assert best.score >= 0.9
    assert _inside(best.box, ASTRONAUT_FACE)


@pytest.mark.parametrize("name", FACENET_PYTORCH_FACES)
def test_cascade_finds_the_face_facenet_pytorch_finds(face_model, photos, name):
    image = pil_photo(photos, name)
    expected_box, expected_score = FACENET_PYTORCH_FACES[name]
    width, height = image.size

    detections = face_model.predict([image])[0]

    assert len(detections) == 1
    x0, y0, x1, y1 = detections[0].box
    assert (x0 * width, y0 * height, x1 * width, y1 * height) == pytest.approx(
        expected_box, abs=0.01
    )
    assert detections[0].score == pytest.approx(expected_score, abs=1e-6)


@pytest.mark.parametrize("image", [flat_image(), gradient_image()], ids=["flat", "gradient"])
def test_an_image_without_a_face_has_no_person(face_model, image):
    assert face_model.predict([image]) == [[]]


def test_batch_of_mixed_sizes_finds_what_each_image_finds_alone(face_model, photos):
    astronaut = pil_photo(photos, "astronaut.png")
    images = [
        astronaut,
        flat_image((640, 480)),
        astronaut.resize((300, 300)),
        pil_photo(photos, "coffee.png"),
        astronaut,
    ]

    together = face_model.predict(images)

    alone = [face_model.predict([image])[0] for image in images]
    assert [len(found) for found in together] == [len(found) for found in alone]
    assert [len(found) for found in together][:2] == [1, 0]
    for batch, single in zip(together, alone, strict=True):
        for a, b in zip(batch, single, strict=True):
            assert a.box == pytest.approx(b.box, abs=1e-4)
            assert a.score == pytest.approx(b.score, abs=1e-5)


def test_stacking_same_size_frames_for_pnet_finds_the_same_faces(photos):
    # The GPU path stacks frames of one size into each PNet call; the CPU path does not.
    nets = load_packaged_nets()
    names = ("astronaut.png", "camera.png", "astronaut.png", "coffee.png")
    pixels = [
        torch.from_numpy(np.array(pil_photo(photos, name))).permute(2, 0, 1).float()
        for name in names
    ]

    with torch.inference_mode():
        stacked = detect_faces(pixels, CascadeSettings(), *_stages(nets), pnet_batch_pixels=10**8)
        alone = detect_faces(pixels, CascadeSettings(), *_stages(nets), pnet_batch_pixels=0)

    assert [len(faces) for faces in stacked] == [1, 1, 1, 0]
    for a, b in zip(stacked, alone, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-3)


def test_box_is_a_fraction_of_the_original_image_whatever_size_it_was_decoded_to(
    face_model, photos
):
    astronaut = pil_photo(photos, "astronaut.png")
    # 2048 px is above the model's input_side (1280), so predict decodes it smaller.
    large = _jpeg(astronaut.resize((2048, 2048), Image.Resampling.BICUBIC))

    small_box = face_model.predict([astronaut])[0][0].box
    large_box = face_model.predict([large])[0][0].box

    assert large_box == pytest.approx(small_box, abs=0.02)


def test_a_face_below_the_minimum_face_size_is_not_found(face_model, photos):
    # At 48 px the astronaut's face is about 8 px wide. The pyramid starts at 20 px faces and
    # box regression stretches that to about 10 px (found at 64 px), but not to 8.
    tiny = pil_photo(photos, "astronaut.png").resize((48, 48), Image.Resampling.BILINEAR)

    assert face_model.predict([tiny]) == [[]]


def test_packaged_face_detector_loads_with_its_checksum(face_model_dir):
    model = VisionModel.load(
        face_model_dir, expected_checksum=directory_checksum(face_model_dir), device="cpu"
    )

    assert (model.kind, model.categories, model.input_side) == ("detection", ("person",), 1280)


def test_packaged_face_detector_dir_holds_safetensors_config_and_label_map(face_model_dir):
    names = {path.name for path in face_model_dir.iterdir()}
    config = json.loads((face_model_dir / "config.json").read_text())
    label_map = json.loads((face_model_dir / "label_map.json").read_text())

    assert names == {"config.json", "model.safetensors", "label_map.json"}
    assert not {n for n in names if any(n.endswith(s) for s in PICKLE_SUFFIXES)}
    assert config["model_type"] == "smartcampus-mtcnn"
    assert label_map["categories"] == {"person": ["face"]}


def test_rebuilding_the_packaged_face_detector_gives_the_same_checksum(face_model_dir, tmp_path):
    rebuilt = build_packaged_face_detector(tmp_path / "again")

    assert directory_checksum(rebuilt) == directory_checksum(face_model_dir)


def test_building_without_facenet_pytorch_says_what_to_install(tmp_path, monkeypatch):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == faces.WEIGHTS_PACKAGE else real_find_spec(name, *a),
    )

    with pytest.raises(ModelLoadError, match="facenet-pytorch"):
        build_packaged_face_detector(tmp_path / "faces")

    assert not (tmp_path / "faces").exists()


def test_an_invalid_cascade_setting_is_refused_on_load(face_model_dir, tmp_path):
    model_dir = tmp_path / "copy"
    model_dir.mkdir()
    for path in face_model_dir.iterdir():
        (model_dir / path.name).write_bytes(path.read_bytes())
    config = json.loads((model_dir / "config.json").read_text())
    (model_dir / "config.json").write_text(json.dumps({**config, "min_face_size": 4}))

    with pytest.raises(ModelLoadError, match="min_face_size"):
        VisionModel.load(model_dir, device="cpu")


def test_pyramid_starts_at_the_minimum_face_size_and_stops_at_the_window_size():
    scales = CascadeSettings(min_face_size=24, factor=0.5).scales(height=480, width=640)

    # 480 px * 12/24 = 240, then halved while the short side stays >= PNet's 12 px window.
    assert scales == pytest.approx([0.5, 0.25, 0.125, 0.0625, 0.03125])


def test_nms_keeps_the_best_of_overlapping_boxes_and_never_compares_across_groups():
    boxes = torch.tensor([[0, 0, 10, 10], [1, 1, 11, 11], [0, 0, 10, 10], [50, 50, 60, 60.0]])
    scores = torch.tensor([0.8, 0.9, 0.7, 0.6])
    groups = torch.tensor([0, 0, 1, 0])

    kept = batched_nms(boxes, scores, groups, 0.5)

    assert kept.tolist() == [1, 2, 3]


def _greedy_nms(boxes: list[list[float]], scores: list[float], threshold: float) -> list[int]:
    """Textbook greedy NMS, one box at a time, as the reference for the matrix version."""
    order = sorted(range(len(boxes)), key=lambda i: -scores[i])
    kept: list[int] = []
    for i in order:
        x0, y0, x1, y1 = boxes[i]
        for k in kept:
            a0, b0, a1, b1 = boxes[k]
            inter = max(0.0, min(x1, a1) - max(x0, a0)) * max(0.0, min(y1, b1) - max(y0, b0))
            union = (x1 - x0) * (y1 - y0) + (a1 - a0) * (b1 - b0) - inter
            if inter / union > threshold:
                break
        else:
            kept.append(i)
    return kept


def test_nms_keeps_exactly_what_one_box_at_a_time_greedy_nms_keeps():
    generator = torch.Generator().manual_seed(0)
    for _ in range(50):
        corners = torch.rand(60, 2, generator=generator) * 100
        sizes = 5 + torch.rand(60, 2, generator=generator) * 40
        boxes = torch.cat([corners, corners + sizes], dim=1)
        scores = torch.rand(60, generator=generator)

        kept = nms(boxes, scores, 0.4)

        assert kept.tolist() == _greedy_nms(boxes.tolist(), scores.tolist(), 0.4)


def test_min_overlap_nms_removes_a_box_inside_a_larger_one():
    boxes = torch.tensor([[0, 0, 40, 40], [10, 10, 20, 20.0]])
    scores = torch.tensor([0.9, 0.95])
    groups = torch.zeros(2, dtype=torch.long)

    assert batched_nms(boxes, scores, groups, 0.7).tolist() == [1, 0]
    assert batched_nms(boxes, scores, groups, 0.7, overlap="min").tolist() == [1]


@pytest.mark.gpu
def test_cuda_finds_the_same_faces_as_the_cpu(face_model_dir, face_model, photos):
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    images = [pil_photo(photos, "astronaut.png"), flat_image(), pil_photo(photos, "coffee.png")]

    on_gpu = VisionModel.load(face_model_dir, device="cuda").predict(images)

    for gpu, cpu in zip(on_gpu, face_model.predict(images), strict=True):
        assert [d.label for d in gpu] == [d.label for d in cpu]
        for a, b in zip(gpu, cpu, strict=True):
            assert a.box == pytest.approx(b.box, abs=0.01)
