"""Import-on-first-use for the package namespace (PEP 562), kept out of ``semcluster``'s own.

``semcluster/__init__.py`` lists its public names and the module that defines each;
:func:`install` gives the package a ``__getattr__`` that imports the module when a name is first
used, a ``__dir__`` that shows only the public names, and a module class that keeps
``semcluster.fit`` the function when the submodule of the same name is imported.
"""
import importlib
import sys
import types


class _Package(types.ModuleType):
    """The package module.  ``semcluster.fit`` is the function, although a submodule has the same
    name: importing the submodule (``from semcluster.fitting import ...``) must not replace the
    function by the module on the package, which the import system would otherwise do."""

    def __setattr__(self, name, value):
        exports = self.__dict__.get("_EXPORTS", {})
        # fit, audit, bootstrap: functions named like their modules
        if isinstance(value, types.ModuleType) and exports.get(name) == name:
            return
        super().__setattr__(name, value)


def install(package_name: str, exports: dict, public: list) -> None:
    """Make the names of ``exports`` (name -> module) importable lazily from the package."""
    package = sys.modules[package_name]

    def __getattr__(name):
        if name in exports:
            module = importlib.import_module(f".{exports[name]}", package_name)
            value = getattr(module, name)
            setattr(package, name, value)
            return value
        raise AttributeError(f"module {package_name!r} has no attribute {name!r}")

    def __dir__():
        return sorted(public)

    package.__getattr__ = __getattr__
    package.__dir__ = __dir__
    package.__class__ = _Package
