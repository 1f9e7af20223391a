"""REST methods of the local portal; importing this package registers them all."""

from portal.methods import appoption, batch, crm, events, im, placement, system, tasks
from portal.methods import im_chat, imbot

__all__ = ["appoption", "batch", "crm", "events", "im", "placement", "system", "tasks"]
__all__ += ["im_chat", "imbot"]
