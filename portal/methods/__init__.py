"""REST methods of the local portal; importing this package registers them all."""

from portal.methods import (
    appoption,
    batch,
    crm,
    events,
    feed,
    funnel,
    im,
    im_chat,
    imbot,
    placement,
    system,
    tasks,
)

__all__ = ["appoption", "batch", "crm", "events", "im", "placement", "system", "tasks"]
__all__ += ["feed", "funnel", "im_chat", "imbot"]
