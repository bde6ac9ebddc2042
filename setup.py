"""Build the Cython kernels in ext/ as private modules ``linecode._<name>``.

Every ``ext/*.pyx`` becomes one extension. Cython (pinned in pyproject's build-system) regenerates
the C when the ``.pyx`` changed; only without Cython is a shipped ``.c`` (an sdist) compiled as is.
"""

from pathlib import Path

from setuptools import Extension, setup

HERE = Path(__file__).parent
COMPILE_ARGS = ["-O3", "-fno-strict-aliasing"]


def extensions() -> list[Extension]:
    sources = sorted((HERE / "ext").glob("*.pyx"))
    try:
        from Cython.Build import cythonize
    except ImportError:
        if not all(p.with_suffix(".c").exists() for p in sources):
            needs = "building linecode from a checkout needs Cython 3 (pip install cython)"
            raise SystemExit(needs) from None
        cythonize = None
    exts = [
        Extension(
            f"linecode.{p.stem}",
            [str((p if cythonize else p.with_suffix(".c")).relative_to(HERE))],
            include_dirs=["ext"],
            extra_compile_args=COMPILE_ARGS,
        )
        for p in sources
    ]
    if cythonize is None:
        return exts
    return cythonize(exts, compiler_directives={"language_level": 3}, quiet=True)


setup(ext_modules=extensions())
