"""A griffe extension for the docs build: the Sphinx roles of phylohf's docstrings
(``:class:`~phylohf.x.Y` ``, ``:func:``, ``:meth:``, ``:mod:``) become cross-references,
links where the target is documented, code where it is not."""
import re

import griffe

ROLE = re.compile(r":(?:class|func|meth|mod|attr):`(~?)([\w.]+)`")


def target(path: str, module: str) -> str:
    """The full dotted path of ``path`` as written in ``module``: relative (leading dots)
    to its package, or bare (a name of the module itself)."""
    if path.startswith("."):
        dots = len(path) - len(path.lstrip("."))
        return ".".join(module.split(".")[:-dots] + [path[dots:]])
    return path if path.split(".")[0] == module.split(".")[0] else f"{module}.{path}"


class Roles(griffe.Extension):
    def on_instance(self, *, obj: griffe.Object, **kwargs) -> None:
        if obj.docstring is None:
            return
        module = obj if obj.is_module else obj.module
        package = module.filepath.name == "__init__.py"     # relative names start inside a package
        name = module.path + (".__init__" if package else "")

        def link(m: re.Match) -> str:
            full = target(m[2], name)
            title = full.rsplit(".", 1)[-1] if m[1] else m[2].lstrip(".")
            return f'<autoref identifier="{full}" optional><code>{title}</code></autoref>'
        obj.docstring.value = ROLE.sub(link, obj.docstring.value)
