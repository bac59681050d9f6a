"""Every table the one migration history creates: the log's (:mod:`anchoring.schema`)
and each feature's models, registered on :data:`evidence_api.core.models.Base`
when imported here (also what lets the ORM resolve relationships between
features). A composition root, like :mod:`evidence_api.runtime`.
"""

from __future__ import annotations

from sqlalchemy import MetaData

from anchoring.schema import metadata as log_metadata
from evidence_api.audit import models as _audit  # noqa: F401
from evidence_api.capture import models as _capture  # noqa: F401
from evidence_api.certificates import models as _certificates  # noqa: F401
from evidence_api.clues import models as _clues  # noqa: F401
from evidence_api.complaints import models as _complaints  # noqa: F401
from evidence_api.core.models import Base
from evidence_api.credit import models as _credit  # noqa: F401
from evidence_api.disclosure import models as _disclosure  # noqa: F401
from evidence_api.intake import models as _intake  # noqa: F401
from evidence_api.integrity import models as _integrity  # noqa: F401
from evidence_api.leniency import models as _leniency  # noqa: F401
from evidence_api.monitoring import models as _monitoring  # noqa: F401
from evidence_api.odr import models as _odr  # noqa: F401
from evidence_api.registry import models as _registry  # noqa: F401
from evidence_api.repairs import models as _repairs  # noqa: F401
from evidence_api.spotcheck import models as _spotcheck  # noqa: F401
from evidence_api.takedowns import models as _takedowns  # noqa: F401
from evidence_api.violators import models as _violators  # noqa: F401


def schema_metadata() -> MetaData:
    """Every table the migration history creates (the log's and the service's)."""
    combined = MetaData()
    for source in (log_metadata, Base.metadata):
        for table in source.tables.values():
            table.to_metadata(combined)
    return combined
