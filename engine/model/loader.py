"""Load a journey model from a file path or a module name, with clear errors.

Whatever goes wrong while importing a model (missing file, syntax error, an
exception at import time, no ``Model`` in the module) becomes one ``ModelError``
line naming the file and line, never a traceback.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import sys
import traceback

from engine.errors import ModelError
from engine.model.declare import Model

__all__ = ["load_model"]


def load_model(spec: str) -> Model:
    """Load the model in ``spec``: a ``.py`` file, or an importable module name."""
    if spec.endswith(".py") or os.sep in spec or os.path.exists(spec):
        module = _import_file(spec)
        origin = spec
    else:
        module = _import_module(spec)
        origin = getattr(module, "__file__", spec)
    return _find_model(module, origin)


def _import_file(path: str):
    if not os.path.isfile(path):
        raise ModelError(f"model file {path!r} not found; pass the path of a .py file "
                         "such as models/shop.py")
    absolute = os.path.abspath(path)
    name = "journeys_model_" + hashlib.sha1(absolute.encode()).hexdigest()[:8]
    loader_spec = importlib.util.spec_from_file_location(name, absolute)
    if loader_spec is None or loader_spec.loader is None:
        raise ModelError(f"{path}: cannot be imported as a Python module")
    module = importlib.util.module_from_spec(loader_spec)
    sys.modules[name] = module
    try:
        loader_spec.loader.exec_module(module)
    except SyntaxError as error:
        raise ModelError(f"{path}:{error.lineno}: syntax error: {error.msg}") from None
    except Exception as error:  # the model's own code failed at import time
        raise ModelError(_import_failure(path, absolute, error)) from None
    return module


def _import_module(name: str):
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as error:
        if error.name and name.startswith(error.name):
            raise ModelError(f"model {name!r} not found: not a file and not an importable module; "
                             "pass a path such as models/shop.py") from None
        raise ModelError(f"{name}: {type(error).__name__}: {error}") from None
    except SyntaxError as error:
        raise ModelError(f"{error.filename}:{error.lineno}: syntax error: {error.msg}") from None
    except Exception as error:
        raise ModelError(_import_failure(name, None, error)) from None


def _import_failure(shown: str, absolute: str | None, error: Exception) -> str:
    frames = traceback.extract_tb(error.__traceback__)
    line = next((f.lineno for f in reversed(frames) if absolute and f.filename == absolute), None)
    where = f"{shown}:{line}" if line else shown
    return f"{where}: {type(error).__name__}: {error} (while loading the model)"


def _find_model(module, origin: str) -> Model:
    candidate = getattr(module, "model", None)
    if isinstance(candidate, Model):
        return candidate
    models = [v for v in vars(module).values() if isinstance(v, Model)]
    if len(models) == 1:
        return models[0]
    if not models:
        raise ModelError(f"{origin}: no journey model found; define model = Model(...) at module level")
    raise ModelError(f"{origin}: {len(models)} models found; name the one to use `model`")
