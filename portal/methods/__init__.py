"""REST methods of the local portal; importing this package registers them all."""

from portal.methods import appoption, batch, crm, events, im, placement, system, tasks

# isort: split
# Chat bots, the live feed, funnels and a task's life (issue 17), kept apart for easy merges.
from portal.methods import feed, funnel, im_chat, imbot, imbot_chat, tasks_flow

__all__ = ["appoption", "batch", "crm", "events", "im", "placement", "system", "tasks"]
__all__ += ["feed", "funnel", "im_chat", "imbot", "imbot_chat", "tasks_flow"]
