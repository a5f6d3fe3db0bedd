"""The web page served beside the API by ``hwsearch serve``.

Pages are server-rendered Jinja2 shells with small scripts; every figure on them comes
from the JSON API (with the key the user types, kept in ``sessionStorage``). No build
step: the scripts and the SVG charts are plain files under ``static/``.
"""

from api.web.routes import router

__all__ = ["router"]
