"""The stable import paths of the data modules resolve to the objects in their real homes."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

# stable path -> {name: module that defines it}
STABLE: dict[str, dict[str, str]] = {
    "blurlib.sources": {
        "IMAGE_EXTENSIONS": "blurlib.data.images",
        "MAX_PIXELS": "blurlib.data.images",
        "PhotoRef": "blurlib.data.images",
        "load_image": "blurlib.data.images",
        "SAMPLE_PHOTOS": "blurlib.data.samples",
        "REAL_BLUR_PHOTOS": "blurlib.data.samples",
        "SamplePhoto": "blurlib.data.samples",
        "sample_images": "blurlib.data.samples",
        "real_blur_samples": "blurlib.data.samples",
        "sample_photos_markdown": "blurlib.data.samples",
        "VOC2010_TAR_URL": "blurlib.data.voc",
        "VOC2010_TAR_NAME": "blurlib.data.voc",
        "VOC2010_TAR_MD5": "blurlib.data.voc",
        "VOC2010_TAR_APPROX_BYTES": "blurlib.data.voc",
        "voc2010_images": "blurlib.data.voc",
        "fetch_voc2010": "blurlib.data.download",
        "LIST_TEST_MARKER": "blurlib.data.photos",
        "folder_images": "blurlib.data.photos",
        "iter_photos": "blurlib.data.photos",
        "list_file_refs": "blurlib.data.photos",
        "load_photos": "blurlib.data.photos",
        "photo_refs": "blurlib.data.photos",
        "read_photo_list": "blurlib.data.photos",
        "shrink_to": "blurlib.data.photos",
    },
    "blurlib.kernels": {
        "KERNEL_KINDS": "blurlib.data.kernels",
        "camera_shake_kernel": "blurlib.data.kernels",
        "kernel_from_spec": "blurlib.data.kernels",
        "kernel_moments": "blurlib.data.kernels",
        "linear_kernel": "blurlib.data.kernels",
        "random_kernel": "blurlib.data.kernels",
        "report_kernel": "blurlib.data.kernels",
        "BORDER": "blurlib.data.convolve",
        "apply_kernel": "blurlib.data.convolve",
    },
    "blurlib.patches": {
        name: "blurlib.data.patches"
        for name in (
            "grid_shape",
            "crop_to_grid",
            "to_patches",
            "from_patches",
            "upsample_labels",
            "gray_image",
            "patch_stack",
            "patch_texture",
            "textured_mask",
            "patch_contrast",
            "content_mask",
            "TEXTURE_THRESHOLD",
            "CONTENT_THRESHOLD",
        )
    },
    "blurlib.dataset": {
        name: "blurlib.data.dataset"
        for name in (
            "partially_blur",
            "generate",
            "load_labels",
            "load_metadata",
            "load_dataset",
            "Example",
            "FORMATS",
            "FORMAT_VERSION",
        )
    },
}

CASES = [(path, name, home) for path, names in STABLE.items() for name, home in names.items()]


@pytest.mark.parametrize(("path", "name", "home"), CASES)
def test_stable_name_is_the_object_of_its_home(path: str, name: str, home: str) -> None:
    stable = importlib.import_module(path)
    real = importlib.import_module(home)
    assert getattr(stable, name) is getattr(real, name)


@pytest.mark.parametrize("path", ["blurlib.sources", "blurlib.kernels"])
def test_facades_list_exactly_their_names(path: str) -> None:
    module = importlib.import_module(path)
    assert sorted(module.__all__) == sorted(STABLE[path])
    for name in module.__all__:
        home = STABLE[path][name]
        value = getattr(module, name)
        if callable(value) and hasattr(value, "__module__"):
            assert value.__module__ == home


@pytest.mark.parametrize(
    ("alias", "home"),
    [("blurlib.patches", "blurlib.data.patches"), ("blurlib.dataset", "blurlib.data.dataset")],
)
def test_alias_modules_are_the_real_modules(alias: str, home: str) -> None:
    assert importlib.import_module(alias) is importlib.import_module(home)


def test_one_kernel_kinds() -> None:
    from blurlib.data import dataset, kernels

    assert dataset.KERNEL_KINDS is kernels.KERNEL_KINDS


def test_one_patch() -> None:
    import blurlib
    from blurlib.data import patches

    assert patches.PATCH is blurlib.PATCH == 30


def test_data_package_reexports_nothing() -> None:
    import blurlib.data

    public = [n for n in vars(blurlib.data) if not n.startswith("_")]
    # submodules already imported elsewhere show up as attributes; nothing else may
    assert all(isinstance(getattr(blurlib.data, n), type(sys)) for n in public), public


def test_stable_paths_import_in_a_fresh_interpreter_without_tensorflow() -> None:
    code = (
        "import sys\n"
        "from blurlib.sources import load_image, sample_images, real_blur_samples\n"
        "from blurlib.sources import fetch_voc2010, folder_images, load_photos, photo_refs\n"
        "from blurlib.kernels import linear_kernel, apply_kernel\n"
        "from blurlib.patches import to_patches, from_patches\n"
        "from blurlib.dataset import partially_blur, generate, load_labels, load_metadata\n"
        "from blurlib.dataset import load_dataset\n"
        "import blurlib.patches, blurlib.data.patches\n"
        "assert blurlib.patches is blurlib.data.patches\n"
        "assert 'tensorflow' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
