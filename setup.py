"""lvcd: long lineart video colorization (LVCD on diffusers) plus a weight-free paint-bucket backend."""
from pathlib import Path

from setuptools import find_packages, setup

here = Path(__file__).parent
version = {}
exec((here / "lvcd" / "version.py").read_text(), version)  # single source of truth, no import of the package

setup(
    name="lvcd",
    version=version["__version__"],
    description="Colorize long lineart animation from reference keyframes (LVCD, SIGGRAPH Asia 2024) on diffusers",
    long_description=(here / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["lvcd", "lvcd.*"]),
    include_package_data=True,
    # the released architecture's configs (lvcd convert's defaults, the preflight estimates) ship inside the package
    package_data={"lvcd": ["data/*", "data/**/*", "ui/static/*"],
                  "lvcd.model_configs": ["lvcd-svd/*.json", "lvcd-svd/*/*.json"]},
    install_requires=[
        # torch is a range on purpose: users bring their own CUDA build; CI installs the CPU wheel first.
        "torch>=2.1",
        "diffusers>=0.30",
        "huggingface_hub>=0.23",  # lvcd convert --download (also a dependency of diffusers / transformers)
        "transformers>=4.40",
        "safetensors>=0.4",
        "accelerate>=0.30",
        "numpy>=1.24",
        "Pillow>=10",
        "av>=12",
        "imageio-ffmpeg>=0.5",
        "scenedetect>=0.6.4",
        "opencv-python>=4.8",
        "scipy>=1.10",
        "tqdm>=4.66",
        "PyYAML>=6",
        "opentimelineio>=0.16",
        "psutil>=5.9",
        "einops>=0.7",  # named-axis reshapes in lvcd.models
    ],
    extras_require={
        "test": ["pytest>=7", "scikit-image>=0.22", "ruff==0.17.5"],  # ruff pinned: CI lints with it
        "cuda": ["xformers"],
        "ray": ["ray==2.60.0"],  # lvcd batch --executor ray (docs/ray.md); same version on every node
        "ui": ["fastapi==0.165.0", "uvicorn==0.39.0", "python-multipart==0.0.20"],  # `lvcd ui`, the browser page
        "ui-test": ["playwright==1.65.2"],  # tests/ui drive the system's chromium with it
    },
    entry_points={"console_scripts": ["lvcd=lvcd.cli:main"]},
)
